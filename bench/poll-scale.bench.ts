/**
 * Polling 2,000 meters through a few Modbus TCP gateways / data concentrators: shared connections (one per
 * endpoint, one scheduler, per-unit-id backoff: the default) against one connection per device (the
 * previous behaviour, `connection: dedicated`).
 *
 *   npm run bench:poll-scale          (BENCH_SECONDS=10 per measurement by default)
 *
 * The site is built here (`buildSite`): 10 feeders, 1,000 transformers, 100,000 customers, 2,000 of them
 * with a CHINT DTSU666 meter (config/devices/chint-dtsu666.yaml), 200 meters (unit ids 1..200) behind each of
 * 10 endpoints. The simulator (simulators/simulator.ts, the `feederwatch simulate` engine) serves it in a
 * CHILD process; each measurement runs the gateway's drivers, built by gateway/runtime/driver-factory.ts
 * from the site, in a fresh child process of its own, so that process.cpuUsage() and RSS count one side only.
 *
 * Figures per measurement:
 * - poll cycle: the time for every meter to deliver one more all-good batch (p50 / p99 over the cycles of
 *   the window). At a 50 ms poll interval every meter is always due, so the cycle is the system's capacity;
 *   at 1 s it is the configured cadence plus whatever the polling adds;
 * - requests/s, gateway CPU ms per cycle (user + system of the gateway process over the window, divided by
 *   the sweeps in it: good meter polls / meters),
 *   gateway % of a core, RSS at the end; simulator CPU ms per cycle (its own process).
 * Not run by the test command.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../gateway/clock.js';
import type { ModbusTcpDeviceConfig, SiteConfig } from '../gateway/config/site-config.js';
import { parseSiteConfig } from '../gateway/config/load-site.js';
import { silentLogger } from '../gateway/log.js';
import { createDrivers } from '../gateway/runtime/driver-factory.js';
import { ModbusTcpEndpointDriver, endpointKey } from '../drivers/modbus/tcp-endpoint-driver.js';
import type { Driver } from '../drivers/reading.js';
import type { ModbusEndpoint } from '../simulators/simulator.js';
import { Simulator } from '../simulators/simulator.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const WARMUP_MS = Number(process.env['BENCH_WARMUP_MS'] ?? 4000);
const METERS = Number(process.env['BENCH_METERS'] ?? 2000);
const ENDPOINTS = Number(process.env['BENCH_ENDPOINTS'] ?? 10);
const CUSTOMERS = 100_000;
const FEEDERS = 10;
const TRANSFORMERS = 1000;
const BASE_PORT = 25020;

// ---------------------------------------------------------------------------------------------------------
// The site.

/** A site document (JSON, which is YAML): FEEDERS feeders of 10 sections, TRANSFORMERS transformers, CUSTOMERS customers, METERS meters. */
function buildSite(): string {
  const perFeeder = TRANSFORMERS / FEEDERS;
  const customersPerTransformer = CUSTOMERS / TRANSFORMERS;
  const metersPerEndpoint = METERS / ENDPOINTS;
  if (metersPerEndpoint > 247 || !Number.isInteger(metersPerEndpoint)) throw new Error('meters per endpoint must be an integer <= 247');
  const feeders = [];
  const metered: string[] = [];
  for (let f = 0; f < FEEDERS; f++) {
    const id = `F${f + 1}`;
    const sections = Array.from({ length: 10 }, (_, s) => ({ id: `${id}-S${s + 1}` }));
    const switches = [
      { id: `${id}-CB`, kind: 'breaker', to: `${id}-S1`, normal: 'closed' },
      ...sections.slice(1).map((section, s) => ({ id: `${id}-SW${s + 1}`, kind: 'sectionalizer', from: `${id}-S${s + 1}`, to: section.id, normal: 'closed' })),
    ];
    const transformers = Array.from({ length: perFeeder }, (_, k) => {
      const customers = Array.from({ length: customersPerTransformer }, (_, c) => `C${f + 1}-${k + 1}-${c + 1}`);
      return { id: `${id}-T${k + 1}`, section: `${id}-S${(k % 10) + 1}`, areaClass: 'urban', customers };
    });
    feeders.push({ id, breaker: `${id}-CB`, switches, sections, transformers });
  }
  // Meters on the first customers of each transformer, in turn, until METERS.
  for (let c = 0; metered.length < METERS; c++) {
    for (const feeder of feeders) for (const tr of feeder.transformers) if (metered.length < METERS) metered.push(tr.customers[c] as string);
  }
  const devices = metered.map((customer, i) => ({
    id: `meter-${customer.toLowerCase()}`,
    protocol: 'modbus-tcp',
    host: '127.0.0.1',
    port: BASE_PORT + Math.floor(i / metersPerEndpoint),
    unitId: (i % metersPerEndpoint) + 1,
    template: 'chint-dtsu666',
    pollIntervalMs: 1000,
    timeoutMs: 1000,
    binds: { customer },
  }));
  return JSON.stringify({ siteId: 'poll-scale', feeders, devices });
}

// ---------------------------------------------------------------------------------------------------------
// Simulator child: `--simulate <site file>`; prints its endpoints, then answers `cpu` lines on stdin.

async function simulate(file: string): Promise<void> {
  const site = parseSiteConfig(await readFile(file, 'utf8'), { env: {} });
  const sim = new Simulator(site, { clock: systemClock, portOverride: () => 0, controlPort: 0 });
  const { modbusEndpoints } = await sim.start();
  process.stdout.write(`${JSON.stringify(modbusEndpoints)}\n`);
  let input = '';
  process.stdin.on('data', (chunk: Buffer) => {
    input += chunk.toString();
    let nl: number;
    while ((nl = input.indexOf('\n')) >= 0) {
      input = input.slice(nl + 1);
      const cpu = process.cpuUsage();
      process.stdout.write(`${JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000, rssMb: process.memoryUsage().rss / 2 ** 20 })}\n`);
    }
  });
  process.stdin.on('end', () => void sim.stop().then(() => process.exit(0)));
}

class SimProcess {
  private readonly lines: string[] = [];
  private waiter: ((line: string) => void) | null = null;
  private constructor(readonly child: ChildProcessWithoutNullStreams) {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (this.waiter !== null) {
          const w = this.waiter;
          this.waiter = null;
          w(line);
        } else this.lines.push(line);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  }
  static start(file: string): SimProcess {
    return new SimProcess(spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--simulate', file], { stdio: ['pipe', 'pipe', 'pipe'] }));
  }
  nextLine(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve) => (this.waiter = resolve));
  }
  async cpu(): Promise<{ cpuMs: number; rssMb: number }> {
    this.child.stdin.write('cpu\n');
    return JSON.parse(await this.nextLine()) as { cpuMs: number; rssMb: number };
  }
  stop(): void {
    this.child.stdin.end();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Gateway side: `--measure <mode> <interval> <site file> <endpoints json>` in a fresh process.

type Mode = 'shared' | 'shared-4-in-flight' | 'dedicated';

interface Measurement {
  mode: Mode;
  intervalMs: number;
  cycles: number;
  /** Meter polls in the window / meters: the CPU figures are per sweep of every meter. */
  sweeps: number;
  cycleP50Ms: number;
  cycleP99Ms: number;
  requestsPerSecond: number;
  cpuMsPerCycle: number;
  corePercent: number;
  rssMb: number;
  connections: number;
  badReadings: number;
  simCpuMsPerCycle?: number;
}

function requestsOf(driver: Driver): number {
  const d = driver as Partial<{ getStats(): { requests: number }; stats: { endpoint: { requests: number } } }>;
  return d.getStats?.().requests ?? d.stats?.endpoint.requests ?? 0;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

async function measure(mode: Mode, intervalMs: number, file: string, endpoints: ModbusEndpoint[]): Promise<Measurement> {
  const loaded = parseSiteConfig(await readFile(file, 'utf8'), { env: {} });
  const bound = new Map(endpoints.map((e) => [`${e.host}:${e.port}`, e.boundPort]));
  const devices = loaded.devices.map((d) =>
    d.protocol === 'modbus-tcp'
      ? { ...d, port: bound.get(`${d.host}:${d.port}`) ?? d.port, pollIntervalMs: intervalMs, ...(mode === 'dedicated' ? { connection: 'dedicated' as const } : {}) }
      : d,
  );
  const site: SiteConfig = { ...loaded, devices };
  let drivers: Driver[];
  if (mode === 'shared-4-in-flight') {
    const groups = new Map<string, ModbusTcpDeviceConfig[]>();
    for (const d of devices) if (d.protocol === 'modbus-tcp') groups.set(endpointKey(d), [...(groups.get(endpointKey(d)) ?? []), d]);
    drivers = [...groups.values()].map((group) => new ModbusTcpEndpointDriver(group, { clock: systemClock, maxInFlight: 4 }));
  } else {
    drivers = await createDrivers(site, { clock: systemClock, logger: silentLogger });
  }

  // Cycle tracking: a cycle ends once every meter delivered an all-good batch since the cycle began.
  const ids = devices.map((d) => d.id);
  const index = new Map(ids.map((id, i) => [id, i]));
  let seen = new Uint8Array(ids.length);
  let missing = ids.length;
  let cycleStart = performance.now();
  let recording = false;
  const cycles: number[] = [];
  let badReadings = 0;
  let goodBatches = 0;
  const sink = (batch: import('../drivers/reading.js').Reading[]): void => {
    let ok = true;
    for (const r of batch) if (r.quality !== 'good') ok = false;
    if (!ok) {
      if (recording) badReadings += batch.length;
      return;
    }
    goodBatches++;
    const i = index.get(batch[0]?.deviceId ?? '') ?? -1;
    if (i < 0 || seen[i] === 1) return;
    seen[i] = 1;
    if (--missing === 0) {
      const now = performance.now();
      if (recording) cycles.push(now - cycleStart);
      cycleStart = now;
      seen = new Uint8Array(ids.length);
      missing = ids.length;
    }
  };
  for (const driver of drivers) await driver.start(sink);
  await sleep(WARMUP_MS);
  // Start the window at a cycle boundary.
  const firstCycles = cycles.length;
  recording = true;
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (cycles.length > firstCycles || performance.now() - cycleStart > 30_000) {
        clearInterval(check);
        resolve();
      }
    }, 1);
  });
  cycles.length = 0;
  badReadings = 0;
  goodBatches = 0;
  process.stdout.write(`${JSON.stringify({ event: 'window' })}\n`);
  const cpu0 = process.cpuUsage();
  const r0 = drivers.reduce((sum, d) => sum + requestsOf(d), 0);
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const cpu = process.cpuUsage(cpu0);
  const elapsed = performance.now() - t0;
  const requests = drivers.reduce((sum, d) => sum + requestsOf(d), 0) - r0;
  // Sweeps: meter polls in the window / meters (whole cycles, counted without the window's edges).
  const sweeps = goodBatches / ids.length;
  process.stdout.write(`${JSON.stringify({ event: 'end' })}\n`);
  const rssMb = process.memoryUsage().rss / 2 ** 20;
  const sorted = [...cycles].sort((a, b) => a - b);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const result: Measurement = {
    mode,
    intervalMs,
    cycles: cycles.length,
    cycleP50Ms: percentile(sorted, 50),
    cycleP99Ms: percentile(sorted, 99),
    requestsPerSecond: (requests / elapsed) * 1000,
    sweeps,
    cpuMsPerCycle: cpuMs / sweeps,
    corePercent: (cpuMs / elapsed) * 100,
    rssMb,
    connections: drivers.length,
    badReadings,
  };
  await Promise.all(drivers.map((d) => d.stop()));
  return result;
}

async function measureInChild(mode: Mode, intervalMs: number, file: string, endpoints: ModbusEndpoint[], sim: SimProcess): Promise<Measurement> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--measure', mode, String(intervalMs), file, JSON.stringify(endpoints)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const marks: { start?: Promise<{ cpuMs: number }>; end?: Promise<{ cpuMs: number }> } = {};
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (marks.start === undefined && out.includes('"event":"window"')) marks.start = sim.cpu();
    if (marks.end === undefined && out.includes('"event":"end"')) marks.end = sim.cpu();
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`measurement ${mode} ${intervalMs} ms exited with ${code}`);
  const result = JSON.parse(out.trim().split('\n').pop() as string) as Measurement;
  if (marks.start !== undefined && marks.end !== undefined) result.simCpuMsPerCycle = ((await marks.end).cpuMs - (await marks.start).cpuMs) / result.sweeps;
  return result;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const fmt = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'fw-poll-scale-'));
  const file = join(dir, 'site.json');
  await writeFile(file, buildSite());
  const sim = SimProcess.start(file);
  try {
    const started = performance.now();
    const endpoints = JSON.parse(await sim.nextLine()) as ModbusEndpoint[];
    console.log(
      `${METERS} DTSU666 meters, ${ENDPOINTS} endpoints x ${METERS / ENDPOINTS} unit ids, ${CUSTOMERS.toLocaleString('en')} customers; simulator in a child process (started in ${fmt((performance.now() - started) / 1000, 1)} s)`,
    );
    const idle0 = await sim.cpu();
    await sleep(3000);
    const idle1 = await sim.cpu();
    console.log(`simulator idle: ${fmt(((idle1.cpuMs - idle0.cpuMs) / 3000) * 100, 2)} % of a core, RSS ${fmt(idle1.rssMb, 0)} MB`);
    console.log(`${SECONDS} s per measurement after ${WARMUP_MS / 1000} s warm-up, each in a fresh gateway process, node ${process.version}\n`);
    console.log('mode                       interval  conns  cycles  cycle p50  cycle p99   requests/s  gw CPU ms/cycle  gw core %  gw RSS MB  sim CPU ms/cycle  bad');
    const results: Measurement[] = [];
    const intervals = (process.env['BENCH_INTERVALS'] ?? '50,1000').split(',').map(Number);
    const modes = (process.env['BENCH_MODES'] ?? 'shared,shared-4-in-flight,dedicated').split(',') as Mode[];
    for (const interval of intervals) {
      for (const mode of modes) {
        const m = await measureInChild(mode, interval, file, endpoints, sim);
        results.push(m);
        console.log(
          `  ${m.mode.padEnd(24)} ${String(interval).padStart(5)} ms ${String(m.connections).padStart(6)} ${String(m.cycles).padStart(7)} ${fmt(m.cycleP50Ms, 0).padStart(7)} ms ${fmt(m.cycleP99Ms, 0).padStart(7)} ms ${fmt(m.requestsPerSecond, 0).padStart(12)} ${fmt(m.cpuMsPerCycle, 1).padStart(16)} ${fmt(m.corePercent, 1).padStart(10)} ${fmt(m.rssMb, 0).padStart(10)} ${fmt(m.simCpuMsPerCycle ?? Number.NaN, 1).padStart(17)} ${String(m.badReadings).padStart(4)}`,
        );
      }
    }
    console.log('\nratios (shared / dedicated)');
    for (const interval of intervals) {
      const shared = results.find((r) => r.mode === 'shared' && r.intervalMs === interval);
      const dedicated = results.find((r) => r.mode === 'dedicated' && r.intervalMs === interval);
      if (shared === undefined || dedicated === undefined) continue;
      console.log(
        `  ${interval} ms: cycle p50 ${fmt(shared.cycleP50Ms / dedicated.cycleP50Ms, 2)}x, p99 ${fmt(shared.cycleP99Ms / dedicated.cycleP99Ms, 2)}x, requests/s ${fmt(shared.requestsPerSecond / dedicated.requestsPerSecond, 2)}x, gateway CPU per cycle ${fmt(shared.cpuMsPerCycle / dedicated.cpuMsPerCycle, 2)}x, RSS ${fmt(shared.rssMb / dedicated.rssMb, 2)}x, simulator CPU per cycle ${fmt((shared.simCpuMsPerCycle ?? 0) / (dedicated.simCpuMsPerCycle ?? 1), 2)}x, connections ${shared.connections} vs ${dedicated.connections}`,
      );
    }
  } finally {
    sim.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--simulate')) {
  await simulate(process.argv[process.argv.indexOf('--simulate') + 1] as string);
} else if (process.argv.includes('--measure')) {
  const [mode, interval, file, endpoints] = process.argv.slice(process.argv.indexOf('--measure') + 1);
  const result = await measure(mode as Mode, Number(interval), file as string, JSON.parse(endpoints as string) as ModbusEndpoint[]);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} else {
  await main();
}
