/**
 * What the OPC UA tests share: a site with OPC UA FTUs on the two-feeder test grid, a reading recorder,
 * a PKI folder per test and a logger that keeps what the driver said (to check the messages operators see).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OpcUaClientConfig, OpcUaDeviceConfig, OpcUaPointConfig, SiteConfig } from '../../gateway/config/site-config.js';
import type { Reading, ReadErrorCode } from '../../drivers/reading.js';
import type { OpcUaDriverLogger } from '../../drivers/opcua/opcua-driver.js';
import { simSite } from '../fixtures/sim-site.js';

export type Batch = Reading[];

export function point(name: string, fields: Partial<OpcUaPointConfig>): OpcUaPointConfig {
  return { name, scale: 1, offset: 0, samplingIntervalMs: 100, queueSize: 1, ...fields };
}

/** The usual FTU points of a device, by node id. */
export function ftuPoints(deviceId: string): OpcUaPointConfig[] {
  return [
    point('position', { nodeId: `ns=1;s=${deviceId}.Position`, observe: 'switch.position', encoding: 'doublePoint' }),
    point('faultFlag', { nodeId: `ns=1;s=${deviceId}.FaultFlag`, observe: 'switch.faultFlag' }),
    point('ia', { nodeId: `ns=1;s=${deviceId}.Ia`, unit: 'A' }),
    point('uab', { nodeId: `ns=1;s=${deviceId}.Uab`, unit: 'V', scale: 0.001 }),
  ];
}

export function opcuaDevice(
  id: string,
  switchId: string,
  port: number,
  fields: Partial<OpcUaDeviceConfig> = {},
): OpcUaDeviceConfig {
  return {
    id,
    protocol: 'opcua',
    endpointUrl: `opc.tcp://127.0.0.1:${port}`,
    securityMode: 'None',
    securityPolicy: 'None',
    timeoutMs: 2000,
    binds: { switch: switchId },
    points: ftuPoints(id),
    ...fields,
  };
}

/** The two-feeder test grid (test/fixtures/sim-site.ts) with OPC UA devices instead of Modbus ones. */
export function opcuaSite(devices: OpcUaDeviceConfig[]): SiteConfig {
  return { ...simSite(), devices };
}

export async function tempPki(): Promise<{ client: OpcUaClientConfig; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'feederwatch-opcua-pki-'));
  return {
    client: { pkiDir: dir, applicationName: 'feederwatch-test', automaticallyAcceptUnknownCertificate: false },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Collects the batches a driver delivers and lets a test await the one it is interested in. */
export class Recorder {
  readonly batches: Batch[] = [];
  private readonly waiters = new Set<(batch: Batch) => void>();

  readonly sink = (batch: Batch): void => {
    this.batches.push(batch);
    for (const waiter of [...this.waiters]) waiter(batch);
  };

  /** The first batch from now on that matches. */
  next(matches: (batch: Batch) => boolean, timeoutMs: number, what: string): Promise<Batch> {
    return new Promise<Batch>((resolve, reject) => {
      const waiter = (batch: Batch): void => {
        if (!matches(batch)) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(batch);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last batches: ${JSON.stringify(this.batches.slice(-3))}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** The first reading from now on (or already recorded, with `includePast`) that matches. */
  reading(matches: (r: Reading) => boolean, timeoutMs: number, what: string, includePast = false): Promise<Reading> {
    if (includePast) {
      for (const batch of this.batches) {
        const found = batch.find(matches);
        if (found !== undefined) return Promise.resolve(found);
      }
    }
    return this.next((b) => b.some(matches), timeoutMs, what).then((b) => b.find(matches) as Reading);
  }

  /** The latest reading of a point. */
  latest(deviceId: string, pointName: string): Reading | undefined {
    for (let i = this.batches.length - 1; i >= 0; i--) {
      const batch = this.batches[i] as Batch;
      for (let k = batch.length - 1; k >= 0; k--) {
        const r = batch[k] as Reading;
        if (r.deviceId === deviceId && r.point === pointName) return r;
      }
    }
    return undefined;
  }

  /** Resolves once every listed point's latest reading matches. */
  async until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (done()) return;
    await this.next(() => done(), timeoutMs, what);
  }
}

export const is =
  (deviceId: string, pointName: string, value?: number) =>
  (r: Reading): boolean =>
    r.deviceId === deviceId && r.point === pointName && r.quality === 'good' && (value === undefined || r.value === value);

export const isBad =
  (code: ReadErrorCode, deviceId?: string, pointName?: string) =>
  (r: Reading): boolean =>
    r.quality === 'bad' && r.error?.code === code && (deviceId === undefined || r.deviceId === deviceId) && (pointName === undefined || r.point === pointName);

/** A logger keeping every line, for assertions on what an operator would read. */
export class MemoryLogger implements OpcUaDriverLogger {
  readonly lines: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> = [];
  constructor(private readonly echo = process.env.OPCUA_TEST_LOG === '1') {}
  debug(msg: string, fields?: Record<string, unknown>): void {
    this.add('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.add('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.add('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.add('error', msg, fields);
  }
  private add(level: string, msg: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level, msg, ...(fields !== undefined ? { fields } : {}) });
    if (this.echo) process.stderr.write(`${new Date().toISOString()} ${level} ${msg} ${fields !== undefined ? JSON.stringify(fields) : ''}\n`);
  }
}
