/**
 * Modbus TCP polling cost: our ModbusTcpDriver against a bare modbus-serial loop making the same reads,
 * on 50 simulated devices (a CHINT DTSU666 map each), and the requests per poll cycle that block planning
 * saves on the DTSU666 point list.
 *
 *   npm run bench:modbus                      (BENCH_SECONDS=10 per measurement by default)
 *
 * The 50 devices are served by test/helpers/modbus-test-server.ts (one listening port each) in a CHILD
 * process, so that process.cpuUsage() of this process counts the polling side only. Both pollers poll
 * every device at the same fixed rate (fast points every interval, energy once a second) with the same
 * stagger; "CPU ms / 1,000 requests" is this process's user + system CPU over the measured window.
 * Not run by the test command.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import modbusSerial from 'modbus-serial';
import { systemClock } from '../gateway/clock.js';
import type { ModbusPointConfig, ModbusTcpDeviceConfig } from '../drivers/device-config.js';
import { planBlocks, planDevice } from '../drivers/modbus/block-plan.js';
import { ModbusTcpDriver } from '../drivers/modbus/tcp-driver.js';
import { staggerOffsetMs } from '../drivers/modbus/stagger.js';
import { ModbusTestServer } from '../test/helpers/modbus-test-server.js';

const ModbusRTU = modbusSerial.default;
const DEVICES = 50;
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const WARMUP_MS = 2000;
const SLOW_INTERVAL_MS = 1000;
const REPEAT = Number(process.env['BENCH_REPEAT'] ?? 3);

/** DTSU666 (meter-maps.md section 1): float32 ABCD holding registers, fast V/I/P/f, slow energy. */
function dtsu666Points(): ModbusPointConfig[] {
  const f32 = (name: string, address: number, scale: number, priority: 'fast' | 'slow' = 'fast'): ModbusPointConfig => ({
    name,
    function: 'holding',
    address,
    type: 'float32',
    wordOrder: 'ABCD',
    scale,
    offset: 0,
    priority,
  });
  return [
    f32('ua', 0x2006, 0.1),
    f32('ub', 0x2008, 0.1),
    f32('uc', 0x200a, 0.1),
    f32('ia', 0x200c, 0.001),
    f32('ib', 0x200e, 0.001),
    f32('ic', 0x2010, 0.001),
    f32('p', 0x2012, 0.1),
    f32('freq', 0x2044, 0.01),
    f32('importKwh', 0x401e, 1, 'slow'),
    f32('exportKwh', 0x4028, 1, 'slow'),
  ];
}

function device(i: number, port: number, pollIntervalMs: number, maxRegisters = 125): ModbusTcpDeviceConfig {
  return {
    id: `meter-${String(i).padStart(2, '0')}`,
    protocol: 'modbus-tcp',
    host: '127.0.0.1',
    port,
    unitId: 1,
    pollIntervalMs,
    slowPollIntervalMs: SLOW_INTERVAL_MS,
    timeoutMs: 1000,
    maxGap: 8,
    maxRegisters,
    binds: { customer: `C-${i}` },
    points: dtsu666Points(),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Server side (child process): `--serve N` starts N servers and prints their ports.

async function serve(count: number): Promise<void> {
  const view = new DataView(new ArrayBuffer(4));
  const words = (value: number): number[] => {
    view.setFloat32(0, value);
    return [view.getUint16(0), view.getUint16(2)];
  };
  const servers: ModbusTestServer[] = [];
  for (let i = 0; i < count; i++) {
    const server = await ModbusTestServer.start({ recordRequests: false });
    server.setRegisters(1, 'holding', 0x2000, new Array<number>(0x46).fill(0));
    server.setRegisters(1, 'holding', 0x401e, new Array<number>(12).fill(0));
    const values: Array<[number, number]> = [
      [0x2006, 2301],
      [0x2008, 2298],
      [0x200a, 2305],
      [0x200c, 5120],
      [0x200e, 4870],
      [0x2010, 5005],
      [0x2012, 34567],
      [0x2044, 4998],
      [0x401e, 12345.5],
      [0x4028, 89.25],
    ];
    for (const [address, value] of values) server.setRegisters(1, 'holding', address, words(value));
    servers.push(server);
  }
  process.stdout.write(`${JSON.stringify(servers.map((s) => s.port))}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

async function startServers(count: number): Promise<{ ports: number[]; child: ChildProcessWithoutNullStreams }> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--serve', String(count)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  const ports = await new Promise<number[]>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0] as string) as number[]);
    });
    child.once('exit', (code) => reject(new Error(`server process exited with ${code}`)));
  });
  return { ports, child };
}

// ---------------------------------------------------------------------------------------------------------
// Pollers.

interface Poller {
  /** Requests completed so far. */
  requests(): number;
  /** Device polls completed so far. */
  polls(): number;
  stop(): Promise<void>;
}

async function startDrivers(ports: number[], pollIntervalMs: number, maxRegisters = 125): Promise<Poller> {
  let polls = 0;
  let badReadings = 0;
  const drivers = ports.map((port, i) => new ModbusTcpDriver(device(i, port, pollIntervalMs, maxRegisters), { clock: systemClock }));
  for (const driver of drivers) {
    await driver.start((batch) => {
      polls++;
      for (const r of batch) if (r.quality !== 'good') badReadings++;
    });
  }
  return {
    requests: () => drivers.reduce((sum, d) => sum + d.getStats().requests, 0),
    polls: () => polls,
    stop: async () => {
      await Promise.all(drivers.map((d) => d.stop()));
      if (badReadings > 0) console.warn(`  (${badReadings} bad readings)`);
    },
  };
}

/**
 * The reference: one modbus-serial client per device, the same reads at the same fixed rate with the same
 * stagger (a tick finding the previous poll running is skipped), values left undecoded.
 */
async function startBareLoop(ports: number[], pollIntervalMs: number): Promise<Poller> {
  let requests = 0;
  let polls = 0;
  const slowEvery = Math.round(SLOW_INTERVAL_MS / pollIntervalMs);
  const timers: NodeJS.Timeout[] = [];
  const clients: Array<InstanceType<typeof ModbusRTU>> = [];
  let stopped = false;
  for (const [i, port] of ports.entries()) {
    const client = new ModbusRTU();
    await client.connectTCP('127.0.0.1', { port });
    client.setID(1);
    client.setTimeout(1000);
    clients.push(client);
    let tick = 0;
    let busy = false;
    const pollOnce = async (): Promise<void> => {
      if (busy || stopped) return;
      busy = true;
      try {
        if (tick % slowEvery === 0) {
          await client.readHoldingRegisters(0x2006, 14);
          await client.readHoldingRegisters(0x2044, 2);
          await client.readHoldingRegisters(0x401e, 12);
          requests += 3;
        } else {
          await client.readHoldingRegisters(0x2006, 14);
          await client.readHoldingRegisters(0x2044, 2);
          requests += 2;
        }
        tick++;
        polls++;
      } catch {
        // counted as not done
      } finally {
        busy = false;
      }
    };
    const id = `meter-${String(i).padStart(2, '0')}`;
    timers.push(
      setTimeout(() => {
        void pollOnce();
        timers.push(setInterval(() => void pollOnce(), pollIntervalMs));
      }, staggerOffsetMs(id, pollIntervalMs)),
    );
  }
  return {
    requests: () => requests,
    polls: () => polls,
    stop: async () => {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.close(() => resolve()))));
    },
  };
}

interface Measurement {
  requestsPerSecond: number;
  userMsPer1000Requests: number;
  systemMsPer1000Requests: number;
  cpuMsPer1000Requests: number;
  cpuMsPer1000Polls: number;
  corePercent: number;
  /** Voluntary context switches per second: how often the process slept and woke up. */
  wakeupsPerSecond: number;
}

type PollerKind = 'bare' | 'driver' | 'driver-per-point';

/**
 * One measurement in a fresh process (`--measure`), so that JIT state and heap left by an earlier
 * measurement do not weigh on the next; prints the Measurement as one JSON line.
 */
async function measureInChild(kind: PollerKind, interval: number, ports: number[]): Promise<Measurement> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--measure', kind, String(interval), JSON.stringify(ports)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`measurement ${kind} ${interval} ms exited with ${code}`);
  return JSON.parse(out.trim().split('\n').pop() as string) as Measurement;
}

function startPoller(kind: PollerKind, interval: number, ports: number[]): Promise<Poller> {
  switch (kind) {
    case 'bare':
      return startBareLoop(ports, interval);
    case 'driver':
      return startDrivers(ports, interval);
    case 'driver-per-point':
      // maxRegisters 2: every float32 is read on its own, one request per point.
      return startDrivers(ports, interval, 2);
  }
}

/** The median run by CPU per request (each kind is run BENCH_REPEAT times, alternating with the others). */
function median(runs: Measurement[]): Measurement {
  const sorted = [...runs].sort((a, b) => a.cpuMsPer1000Requests - b.cpuMsPer1000Requests);
  return sorted[Math.floor(sorted.length / 2)] as Measurement;
}

async function measure(start: () => Promise<Poller>): Promise<Measurement> {
  const poller = await start();
  await sleep(WARMUP_MS);
  const cpu0 = process.cpuUsage();
  const switches0 = process.resourceUsage().voluntaryContextSwitches;
  const t0 = performance.now();
  const r0 = poller.requests();
  const p0 = poller.polls();
  await sleep(SECONDS * 1000);
  const cpu = process.cpuUsage(cpu0);
  const switches = process.resourceUsage().voluntaryContextSwitches - switches0;
  const elapsedMs = performance.now() - t0;
  const requests = poller.requests() - r0;
  const polls = poller.polls() - p0;
  await poller.stop();
  await sleep(300);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return {
    requestsPerSecond: (requests / elapsedMs) * 1000,
    userMsPer1000Requests: (cpu.user / 1000 / requests) * 1000,
    systemMsPer1000Requests: (cpu.system / 1000 / requests) * 1000,
    cpuMsPer1000Requests: (cpuMs / requests) * 1000,
    cpuMsPer1000Polls: (cpuMs / polls) * 1000,
    corePercent: (cpuMs / elapsedMs) * 100,
    wakeupsPerSecond: (switches / elapsedMs) * 1000,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const fmt = (n: number, digits = 1): string => n.toFixed(digits);

async function main(): Promise<void> {
  // Requests per cycle on the DTSU666 point list.
  const points = dtsu666Points();
  const fastPoints = points.filter((p) => p.priority === 'fast');
  const planned = planDevice({ points, maxGap: 8, maxRegisters: 125 });
  const adjacent = planDevice({ points, maxGap: 0, maxRegisters: 125 });
  console.log(`DTSU666 point list: ${points.length} points (${fastPoints.length} fast, ${points.length - fastPoints.length} slow)`);
  console.log('requests per poll cycle                 fast poll   full poll');
  console.log(`  one request per point (no planning)   ${String(fastPoints.length).padStart(9)}   ${String(points.length).padStart(9)}`);
  console.log(`  adjacent registers only (maxGap 0)    ${String(adjacent.fast.length).padStart(9)}   ${String(adjacent.all.length).padStart(9)}`);
  console.log(`  block planning (maxGap 8)             ${String(planned.fast.length).padStart(9)}   ${String(planned.all.length).padStart(9)}`);
  console.log(`  planned blocks: ${planned.all.map((b) => `0x${b.address.toString(16)}+${b.count}`).join(', ')}`);
  // Sanity: a plan with maxRegisters 2 reads each float32 alone, i.e. one request per point.
  if (planBlocks(points, { maxRegisters: 2 }).length !== points.length) throw new Error('per-point plan is not one request per point');

  const { ports, child } = await startServers(DEVICES);
  try {
    console.log(
      `\n${DEVICES} Modbus TCP devices (servers in a child process), ${SECONDS} s per measurement in a fresh process, median of ${REPEAT}, node ${process.version}`,
    );
    console.log('poller                                   interval   requests/s   CPU ms/1k req (user+sys)   CPU ms/1k polls   core %   wakeups/s');
    const row = (name: string, interval: number, m: Measurement): void =>
      console.log(
        `  ${name.padEnd(38)} ${String(interval).padStart(5)} ms ${fmt(m.requestsPerSecond, 0).padStart(12)} ${`${fmt(m.cpuMsPer1000Requests, 1)} (${fmt(m.userMsPer1000Requests, 1)}+${fmt(m.systemMsPer1000Requests, 1)})`.padStart(26)} ${fmt(m.cpuMsPer1000Polls, 1).padStart(17)} ${fmt(m.corePercent).padStart(8)} ${fmt(m.wakeupsPerSecond, 0).padStart(11)}`,
      );
    const results: Array<[number, Measurement, Measurement]> = [];
    const intervals = (process.env['BENCH_INTERVALS'] ?? '40,5').split(',').map(Number);
    for (const interval of intervals) {
      const bareRuns: Measurement[] = [];
      const ourRuns: Measurement[] = [];
      for (let i = 0; i < REPEAT; i++) {
        bareRuns.push(await measureInChild('bare', interval, ports));
        ourRuns.push(await measureInChild('driver', interval, ports));
      }
      const bare = median(bareRuns);
      const ours = median(ourRuns);
      row('bare modbus-serial loop', interval, bare);
      row('ModbusTcpDriver (planned)', interval, ours);
      results.push([interval, ours, bare]);
    }
    const perPointRuns: Measurement[] = [];
    for (let i = 0; i < REPEAT; i++) perPointRuns.push(await measureInChild('driver-per-point', 40, ports));
    const perPoint = median(perPointRuns);
    row('ModbusTcpDriver, one request per point', 40, perPoint);
    const results40 = results.find(([interval]) => interval === 40);

    console.log('\nratios (ModbusTcpDriver / bare loop)');
    for (const [interval, ours, bare] of results) {
      console.log(
        `  ${interval} ms: CPU per request ${fmt(ours.cpuMsPer1000Requests / bare.cpuMsPer1000Requests, 2)}x, requests/s ${fmt(ours.requestsPerSecond / bare.requestsPerSecond, 2)}x`,
      );
    }
    const planned40 = results40?.[1];
    if (planned40 !== undefined) {
      console.log(
        `  block planning at 40 ms: ${fmt(perPoint.requestsPerSecond / planned40.requestsPerSecond, 2)}x the requests and ${fmt(perPoint.cpuMsPer1000Polls / planned40.cpuMsPer1000Polls, 2)}x the CPU per poll without it`,
      );
    }
  } finally {
    child.stdin.end();
  }
}

if (process.argv.includes('--serve')) {
  await serve(Number(process.argv[process.argv.indexOf('--serve') + 1]));
} else if (process.argv.includes('--measure')) {
  const [kind, interval, ports] = process.argv.slice(process.argv.indexOf('--measure') + 1);
  const result = await measure(() => startPoller(kind as PollerKind, Number(interval), JSON.parse(ports as string) as number[]));
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  await main();
}
