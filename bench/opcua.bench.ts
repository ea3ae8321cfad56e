/**
 * OPC UA change-to-reading latency: 1,000 monitored items at 100 ms sampling.
 *
 * The simulator's OPC UA server serves 250 FTUs; the driver monitors four Double variables of each
 * (Ia, Ib, Ic, Uab: 1,000 items, samplingInterval 100 ms, queue 1, one subscription publishing every
 * 100 ms). The bench writes values on the server (setValueFromSource, as the model does) and measures, per
 * change, the monotonic time from the write to the Reading reaching the driver's sink. Two loads:
 *   steady  50 random items changed every 50 ms (1,000 changes/s), for `--seconds` (default 20)
 *   burst   all 1,000 items changed at once, 20 times, about 1 s apart
 * Server and driver share one process and one event loop (as the tests do); on an edge box the server is
 * another machine, so these figures include the server's own sampling work.
 *
 * Run: npx tsx bench/opcua.bench.ts [--seconds 20]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { systemClock } from '../gateway/clock.js';
import type { FeederConfig, OpcUaDeviceConfig, SiteConfig } from '../gateway/config/site-config.js';
import { OpcUaDriver } from '../drivers/opcua/opcua-driver.js';
import { routeNodeOpcuaLogs } from '../drivers/opcua/node-opcua-logs.js';
import type { Reading } from '../drivers/reading.js';
import { FeederModel } from '../simulators/feeder-model.js';
import { type FtuVariableName, OpcUaFtuServer } from '../simulators/opcua-server.js';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '20' } } });
const STEADY_SECONDS = Number(args.seconds);
const FTUS = 250;
const VARIABLES: FtuVariableName[] = ['Ia', 'Ib', 'Ic', 'Uab'];
const SAMPLING_MS = 100;

const quiet = process.env.BENCH_LOG !== "1";
const log = (level: string) => (msg: string, fields?: Record<string, unknown>): void => {
  if (!quiet) process.stderr.write(`${level} ${msg} ${JSON.stringify(fields ?? {})}\n`);
};
const silent = { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
routeNodeOpcuaLogs(silent);

/** 250 one-section feeders, one FTU on each breaker. */
function benchSite(port: number): SiteConfig {
  const feeders: FeederConfig[] = [];
  const devices: OpcUaDeviceConfig[] = [];
  for (let i = 0; i < FTUS; i++) {
    const id = `F${i}`;
    feeders.push({
      id,
      breaker: `${id}-CB`,
      switches: [{ id: `${id}-CB`, kind: 'breaker', to: `${id}-S1`, normal: 'closed' }],
      sections: [{ id: `${id}-S1` }],
      transformers: [{ id: `${id}-T1`, section: `${id}-S1`, areaClass: 'urban', customers: [`${id}-C1`] }],
    });
    devices.push({
      id: `ftu-${i}`,
      protocol: 'opcua',
      endpointUrl: `opc.tcp://127.0.0.1:${port}`,
      securityMode: 'None',
      securityPolicy: 'None',
      timeoutMs: 5000,
      binds: { switch: `${id}-CB` },
      points: VARIABLES.map((v) => ({ name: v, nodeId: `ns=1;s=ftu-${i}.${v}`, scale: 1, offset: 0, samplingIntervalMs: SAMPLING_MS, queueSize: 1 })),
    });
  }
  return {
    siteId: 'bench',
    feeders,
    devices,
    buses: [],
  plannedOutages: [],
  notices: { leadTimeMs: 604_800_000, batchSize: 500 },
    thresholds: { meterVoltageLossV: 110, meterLossHoldMs: 0, momentaryStandard: 'DL/T 836', momentaryThresholdMs: 180_000, transformerOutShare: 0.6, selfHealingQuietMs: 30_000 },
    simulator: { controlHost: '127.0.0.1', controlPort: 0, meterNominalV: 220 },
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

function summary(name: string, latencies: number[], sent: number): string {
  const sorted = [...latencies].sort((a, b) => a - b);
  const f = (n: number): string => n.toFixed(1).padStart(7);
  return (
    `${name.padEnd(8)} changes ${String(sent).padStart(6)}  received ${String(latencies.length).padStart(6)}  ` +
    `p50 ${f(percentile(sorted, 50))} ms  p90 ${f(percentile(sorted, 90))} ms  p99 ${f(percentile(sorted, 99))} ms  max ${f(sorted[sorted.length - 1] ?? Number.NaN)} ms`
  );
}

async function main(): Promise<void> {
  const pkiDir = await mkdtemp(join(tmpdir(), 'feederwatch-bench-pki-'));
  const placeholder = benchSite(0);
  const model = new FeederModel(placeholder, { clock: systemClock });
  const server = new OpcUaFtuServer({ model, devices: placeholder.devices as OpcUaDeviceConfig[], clock: systemClock, port: 0, refreshIntervalMs: 0 });
  await server.start();
  const devices = benchSite(server.boundPort).devices as OpcUaDeviceConfig[];

  /** Pending changes: key `${deviceId}/${point}=${value}` -> write time. */
  const pending = new Map<string, number>();
  let collecting: number[] | null = null;
  let initial = 0;
  const sink = (batch: Reading[]): void => {
    const now = performance.now();
    for (const r of batch) {
      if (r.quality !== 'good') continue;
      const key = `${r.deviceId}/${r.point}=${String(r.value)}`;
      const t0 = pending.get(key);
      if (t0 === undefined) {
        initial++;
        continue;
      }
      pending.delete(key);
      collecting?.push(now - t0);
    }
  };
  const driver = new OpcUaDriver(devices, { pkiDir, applicationName: 'feederwatch-bench', automaticallyAcceptUnknownCertificate: false }, { clock: systemClock, logger: silent });
  const stage = (what: string): void => void process.stderr.write(`[${(performance.now() / 1000).toFixed(1)} s] ${what}\n`);
  stage('server up; connecting');
  const connectStart = performance.now();
  await driver.start(sink);
  let waited = 0;
  while (initial < devices.length * VARIABLES.length) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    if (++waited % 100 === 0) stage(`still waiting for first values: ${initial} of ${devices.length * VARIABLES.length}`);
  }
  const connectMs = performance.now() - connectStart;

  let counter = 10_000;
  const change = (deviceIndex: number, variable: FtuVariableName): void => {
    const value = ++counter;
    pending.set(`ftu-${deviceIndex}/${variable}=${value}`, performance.now());
    server.setPointValue(`ftu-${deviceIndex}`, variable, value);
  };
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  stage('subscribed; warming up');
  // Warm-up (JIT, first notifications), not measured.
  for (let i = 0; i < 20; i++) {
    for (let k = 0; k < 50; k++) change(Math.floor(Math.random() * FTUS), VARIABLES[k % 4] as FtuVariableName);
    await sleep(50);
  }
  await sleep(500);
  pending.clear();

  stage(`steady load for ${STEADY_SECONDS} s`);
  const steady: number[] = [];
  collecting = steady;
  let steadySent = 0;
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  const end = performance.now() + STEADY_SECONDS * 1000;
  while (performance.now() < end) {
    for (let k = 0; k < 50; k++) {
      change(Math.floor(Math.random() * FTUS), VARIABLES[Math.floor(Math.random() * 4)] as FtuVariableName);
      steadySent++;
    }
    await sleep(45 + Math.random() * 10);
  }
  await sleep(1000);
  const cpu = process.cpuUsage(cpuBefore);
  const wall = performance.now() - wallBefore;
  // A value overwritten before it was sampled is never published (queue 1): not a loss, a superseded value.
  const superseded = pending.size;
  pending.clear();

  stage('bursts');
  const burst: number[] = [];
  collecting = burst;
  let burstSent = 0;
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < FTUS; i++) for (const v of VARIABLES) change(i, v);
    burstSent += FTUS * VARIABLES.length;
    // Jittered, so the bursts do not all fall at the same phase of the server's 100 ms sampling timers.
    await sleep(1000 + Math.random() * SAMPLING_MS);
  }
  const burstMissing = pending.size;

  stage('stopping');
  await driver.stop();
  await server.dispose();
  await rm(pkiDir, { recursive: true, force: true });

  process.stdout.write(
    `OPC UA change-to-reading latency, ${devices.length * VARIABLES.length} monitored items, sampling ${SAMPLING_MS} ms, ` +
      `node ${process.version}, node-opcua in-process server\n`,
  );
  process.stdout.write(`connect + subscribe + first values of all items: ${connectMs.toFixed(0)} ms\n`);
  process.stdout.write(`${summary('steady', steady, steadySent)}  (${superseded} superseded before sampling)\n`);
  process.stdout.write(
    `         CPU (server + driver, one process): ${(((cpu.user + cpu.system) / 1000 / wall) * 100).toFixed(1)} % of a core at ${(steadySent / (wall / 1000)).toFixed(0)} changes/s\n`,
  );
  process.stdout.write(`${summary('burst', burst, burstSent)}  (${burstMissing} not received)\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
