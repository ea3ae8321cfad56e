/**
 * An independent peer reads our simulator: `mbpoll` (libmodbus, Debian package) over Modbus TCP and over
 * Modbus RTU on the simulator's socat pty. Expected values are computed from the simulator's model and the
 * points' scale (raw = value / scale), not by our own client code.
 *
 * mbpoll notes: `-0` makes references 0-based (the wire address), `-B` reads 32-bit floats high word
 * first (ABCD; mbpoll's default is low word first), `-1` polls once. It prints `[ref]: <value>` per value
 * with six significant digits.
 */
import { execFile } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { ManualClock } from '../../gateway/clock.js';
import { Simulator, type SimulatorEndpoints } from '../../simulators/simulator.js';
import { rtuSite, serialBusPath } from '../fixtures/rtu-site.js';
import { FTU_PORT, METER_PORT } from '../fixtures/sim-site.js';

const run = promisify(execFile);
const MBPOLL = '/usr/bin/mbpoll';

interface MbpollResult {
  /** reference -> printed number, per polled slave in order. */
  slaves: Array<Map<number, number>>;
  output: string;
}

async function mbpoll(args: string[]): Promise<MbpollResult> {
  let output: string;
  try {
    const { stdout, stderr } = await run(MBPOLL, args, { timeout: 20_000 });
    output = stdout + stderr;
  } catch (err) {
    // mbpoll exits non-zero when a read fails; its output still says why.
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    output = `${stdout ?? ''}${stderr ?? ''}`;
  }
  const slaves: Array<Map<number, number>> = [];
  for (const line of output.split('\n')) {
    if (/^-- Polling slave \d+/.test(line)) slaves.push(new Map());
    const match = /^\[(\d+)\]:\s+(\S+)\s*$/.exec(line);
    if (match !== null) slaves[slaves.length - 1]?.set(Number(match[1]), Number(match[2]));
  }
  return { slaves, output };
}

/** mbpoll prints %g: six significant digits; the value went through a float32 (24-bit mantissa) on the way. */
function close(actual: number | undefined, expected: number): boolean {
  if (actual === undefined) return false;
  if (expected === 0) return actual === 0;
  const lastDigit = 10 ** (Math.floor(Math.log10(Math.abs(expected))) - 5);
  return Math.abs(actual - expected) <= 0.5 * lastDigit + Math.abs(expected) * 2 ** -23;
}

async function startSim(t: Test): Promise<{ sim: Simulator; endpoints: SimulatorEndpoints; ptyPath: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'fw-mbpoll-'));
  const site = rtuSite({ dir });
  // A fixed clock: the values mbpoll reads and the model's values are for the same instant.
  const sim = new Simulator(site, { clock: new ManualClock(Date.UTC(2026, 0, 15, 10)), controlPort: 0, portOverride: () => 0 });
  const endpoints = await sim.start();
  t.teardown(async () => {
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return { sim, endpoints, ptyPath: serialBusPath(dir) };
}

t.before(async () => {
  await access(MBPOLL).catch(() => {
    throw new Error(`${MBPOLL} is missing: sudo apt-get install -y mbpoll`);
  });
});

t.test('mbpoll over Modbus TCP reads a meter and an FTU, and writes a switch position', async (t) => {
  const { sim, endpoints } = await startSim(t);
  const meterPort = String(endpoints.modbusEndpoints.find((e) => e.port === METER_PORT)?.boundPort);
  const ftuPort = String(endpoints.modbusEndpoints.find((e) => e.port === FTU_PORT)?.boundPort);

  // Meter CA11 at unit 11: Ua at 0x2006 (8198) in 0.1 V, Ia at 0x200C (8204) in mA, P at 0x2012 (8210) in 0.1 W.
  const meter = await mbpoll(['-m', 'tcp', '-a', '11', '-0', '-r', '8198', '-c', '7', '-t', '4:float', '-B', '-1', '-p', meterPort, '127.0.0.1']);
  const values = sim.model.meterValues('CA11');
  const read = meter.slaves[0];
  t.ok(close(read?.get(8198), values.voltage / 0.1), `Ua raw ${read?.get(8198)} = ${values.voltage} V / 0.1`);
  t.ok(close(read?.get(8204), values.current / 0.001), `Ia raw ${read?.get(8204)} = ${values.current} A / 0.001`);
  t.ok(close(read?.get(8210), values.power / 0.1), `P raw ${read?.get(8210)} = ${values.power} W / 0.1`);
  t.equal(read?.get(8200), 0, 'a register no point defines reads 0');

  // FTU of A-SW1 at unit 3: doublePoint position (2 = closed) and fault flag at holding 0 and 1.
  const ftu = await mbpoll(['-m', 'tcp', '-a', '3', '-0', '-r', '0', '-c', '2', '-t', '4', '-1', '-p', ftuPort, '127.0.0.1']);
  t.same([...(ftu.slaves[0] ?? new Map())], [
    [0, 2],
    [1, 0],
  ], 'closed, no fault flag');

  // Writing 1 (open) to the position register operates the switch.
  await mbpoll(['-m', 'tcp', '-a', '3', '-0', '-r', '0', '-t', '4', '-1', '-p', ftuPort, '127.0.0.1', '1']);
  t.equal(sim.model.state().switches['A-SW1']?.position, 'open', 'mbpoll opened A-SW1');

  const outside = await mbpoll(['-m', 'tcp', '-a', '11', '-0', '-r', '0', '-c', '1', '-t', '4', '-1', '-p', meterPort, '127.0.0.1']);
  t.match(outside.output, /Illegal data address/, 'exception 2 outside the register map');
});

t.test('mbpoll over Modbus RTU on the pty reads ten meters on one 9600-baud bus', async (t) => {
  const { sim, ptyPath } = await startSim(t);
  const rtu = ['-m', 'rtu', '-b', '9600', '-P', 'none', '-d', '8', '-s', '1'];
  const result = await mbpoll([...rtu, '-a', '1:10', '-0', '-r', '8198', '-c', '7', '-t', '4:float', '-B', '-1', ptyPath]);
  t.equal(result.slaves.length, 10, 'ten slaves polled');
  result.slaves.forEach((read, i) => {
    const customer = `CR${String(i + 1).padStart(2, '0')}`;
    const values = sim.model.meterValues(customer);
    t.ok(close(read.get(8198), values.voltage / 0.1), `unit ${i + 1}: Ua raw ${read.get(8198)} (${customer} ${values.voltage.toFixed(2)} V)`);
    t.ok(close(read.get(8204), values.current / 0.001), `unit ${i + 1}: Ia raw ${read.get(8204)}`);
    t.ok(close(read.get(8210), values.power / 0.1), `unit ${i + 1}: P raw ${read.get(8210)}`);
  });
  const frequency = await mbpoll([...rtu, '-a', '4', '-0', '-r', '8260', '-c', '1', '-t', '4:float', '-B', '-1', ptyPath]);
  t.equal(frequency.slaves[0]?.get(8260), 5000, 'frequency raw 5000 = 50 Hz / 0.01');
});

t.test('mbpoll sees the RTU fault modes as a real master would', async (t) => {
  const { sim, ptyPath } = await startSim(t);
  const args = ['-m', 'rtu', '-b', '9600', '-P', 'none', '-a', '2', '-0', '-r', '8198', '-c', '1', '-t', '4:float', '-B', '-1', '-o', '0.5', ptyPath];
  const expectations: Array<[Parameters<typeof sim.faults.set>[1], RegExp]> = [
    [{ mode: 'noAnswer' }, /timed out/i],
    [{ mode: 'exception', exceptionCode: 6 }, /busy/i],
    [{ mode: 'badCrc' }, /CRC/i],
  ];
  for (const [fault, expected] of expectations) {
    sim.faults.set('rtu-meter-02', fault);
    const result = await mbpoll(args);
    t.match(result.output, expected, `${fault.mode}: mbpoll says ${/failed: (.*)/.exec(result.output)?.[1] ?? result.output.trim().split('\n').at(-1)}`);
    t.equal(result.slaves[0]?.size ?? 0, 0, `${fault.mode}: no value printed`);
  }
  sim.faults.set('rtu-meter-02', { mode: 'none' });
  t.equal((await mbpoll(args)).slaves[0]?.size, 1, 'a value again once the fault is cleared');
});
