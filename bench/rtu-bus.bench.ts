/**
 * Modbus RTU bus utilisation at 9600 baud against the theoretical frame budget, for ten DTSU666-like meters
 * on one bus (test/fixtures/rtu-site.ts: each poll reads Ua..P as one 14-register block and the frequency
 * as a 2-register block; the energy every 10 s as a third).
 *
 *   npx tsx bench/rtu-bus.bench.ts            (BENCH_SECONDS=10 per measurement by default)
 *
 * The simulator serves the bus on a socat pty pair and reproduces the wire: each answer leaves after the
 * request's and its own transmission time at the configured baud rate, t3.5 and a 1 ms turnaround. So the
 * figures are those of a real line with fast slaves, plus this machine's scheduling overhead.
 *
 * Figures, per line format:
 * - theoretical: what the line can carry for this request mix if nothing but the frames and the mandatory
 *   t3.5 gaps (one after the request, one after the answer) took time;
 * - saturated: every meter always due (poll interval 1 ms), polled back to back through the one queue;
 *   "data" = bytes on the wire x character time / elapsed, "frames + gaps" adds the two t3.5 per transaction;
 * - 1 s interval: the configured interval of a real site, how much of the line it uses.
 * Not run by the test command.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { systemClock } from '../gateway/clock.js';
import type { SerialBusConfig } from '../drivers/device-config.js';
import { ModbusRtuBusDriver } from '../drivers/modbus/rtu/bus-driver.js';
import { characterTimeMs, interFrameGapMs, transactionTimeMs, type LineSettings } from '../drivers/modbus/rtu/line-timing.js';
import { Simulator } from '../simulators/simulator.js';
import { busOf, devicesOn, rtuSite, SERIAL_BUS_ID } from '../test/fixtures/rtu-site.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 10);
const WARMUP_MS = 2000;
const METERS = 10;
/** The fixture's fast poll: FC 3 of 14 registers (8 + 33 bytes) and of 2 registers (8 + 9 bytes). */
const FAST_POLL: ReadonlyArray<readonly [number, number]> = [
  [8, 5 + 2 * 14],
  [8, 5 + 2 * 2],
];
const SLOW_BLOCK: readonly [number, number] = [8, 5 + 2 * 2];

interface Figures {
  label: string;
  seconds: number;
  requests: number;
  polls: number;
  bytes: number;
  dataPct: number;
  framesAndGapsPct: number;
  /** Mean time between two polls of one meter. */
  cycleMs: number;
  timeouts: number;
}

async function measure(label: string, line: Pick<LineSettings, 'parity' | 'stopBits'>, pollIntervalMs: number): Promise<Figures> {
  const dir = await mkdtemp(join(tmpdir(), 'fw-rtu-bench-'));
  const site = rtuSite({ dir, pollIntervalMs, slowPollIntervalMs: 10_000, timeoutMs: 500 });
  const bus = busOf(site, SERIAL_BUS_ID) as SerialBusConfig;
  bus.parity = line.parity;
  bus.stopBits = line.stopBits;
  site.buses = [bus];
  site.devices = site.devices.filter((d) => d.protocol !== 'modbus-rtu' || d.bus === SERIAL_BUS_ID);
  const sim = new Simulator(site, { clock: systemClock, controlPort: 0, portOverride: () => 0 });
  await sim.start();
  const driver = new ModbusRtuBusDriver(bus, devicesOn(site, SERIAL_BUS_ID), { clock: systemClock });
  let polls = 0;
  let counting = false;
  await driver.start(() => {
    if (counting) polls++;
  });
  try {
    await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
    const before = { ...driver.stats.line };
    const started = performance.now();
    counting = true;
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
    counting = false;
    const elapsed = performance.now() - started;
    const after = driver.stats.line;
    const requests = after.requests - before.requests;
    const bytes = after.bytesSent - before.bytesSent + after.bytesReceived - before.bytesReceived;
    const charMs = characterTimeMs(bus);
    const dataMs = bytes * charMs;
    const gapsMs = requests * 2 * interFrameGapMs(bus);
    return {
      label,
      seconds: elapsed / 1000,
      requests,
      polls,
      bytes,
      dataPct: (100 * dataMs) / elapsed,
      framesAndGapsPct: (100 * (dataMs + gapsMs)) / elapsed,
      cycleMs: (elapsed / polls) * METERS,
      timeouts: (after.failures.TIMEOUT ?? 0) - (before.failures.TIMEOUT ?? 0),
    };
  } finally {
    await driver.stop();
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The fast poll's frames and gaps. The energy block (every 10 s) is left out: about 1 % at saturation. */
function theoretical(line: LineSettings): { pollMs: number; cycleMs: number; pollsPerSecond: number } {
  const pollMs = FAST_POLL.reduce((sum, [req, resp]) => sum + transactionTimeMs(req, resp, line), 0);
  return { pollMs, cycleMs: pollMs * METERS, pollsPerSecond: 1000 / pollMs };
}

function row(cells: Array<string | number>): string {
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(30) : String(c).padStart(15))).join('');
}

async function main(): Promise<void> {
  console.log(`RTU bus utilisation, ${METERS} DTSU666-like meters on one 9600-baud bus (${SECONDS} s per measurement)\n`);
  const formats: Array<[string, Pick<LineSettings, 'parity' | 'stopBits'>]> = [
    ['8N1 (10 bits/char)', { parity: 'none', stopBits: 1 }],
    ['8E1 (11 bits/char)', { parity: 'even', stopBits: 1 }],
  ];
  for (const [name, format] of formats) {
    const line: LineSettings = { baudRate: 9600, dataBits: 8, ...format };
    const budget = theoretical(line);
    const slowExtra = transactionTimeMs(SLOW_BLOCK[0], SLOW_BLOCK[1], line);
    console.log(`${name}: char ${characterTimeMs(line).toFixed(3)} ms, t3.5 ${interFrameGapMs(line).toFixed(3)} ms`);
    console.log(
      `  theoretical frame budget: ${budget.pollMs.toFixed(1)} ms per fast poll (2 requests, frames + gaps), ` +
        `${budget.cycleMs.toFixed(0)} ms per cycle of ${METERS}, ${budget.pollsPerSecond.toFixed(2)} polls/s; the energy block adds ${slowExtra.toFixed(1)} ms`,
    );
    console.log(row(['', 'requests/s', 'polls/s', 'cycle ms', 'data %', 'frames+gaps %', 'timeouts']));
    for (const [label, interval] of [
      ['saturated (interval 1 ms)', 1],
      ['1 s poll interval', 1000],
    ] as const) {
      const f = await measure(label, format, interval);
      console.log(
        row([
          `  ${label}`,
          (f.requests / f.seconds).toFixed(2),
          (f.polls / f.seconds).toFixed(2),
          f.cycleMs.toFixed(0),
          f.dataPct.toFixed(1),
          f.framesAndGapsPct.toFixed(1),
          f.timeouts,
        ]),
      );
    }
    console.log('');
  }
  console.log('frames+gaps %: the line time the traffic needs by the theoretical budget (bytes + two t3.5 per transaction) over');
  console.log('elapsed time; saturated, it is the share of the line the master achieves. The rest: the simulated 1 ms');
  console.log('turnaround per answer, timer rounding to whole ms, pty and event-loop latency.');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
