/**
 * Our Modbus TCP driver against an independent implementation: a pymodbus 3.0 server (Debian package
 * python3-pymodbus, run by /usr/bin/python3) holding a CHINT DTSU666 map (test/helpers/pymodbus-server.py).
 * The device config is written here as a literal, from /work/shared/data/meter-maps.md section 1, and the
 * expected engineering values by hand from the raw values in the script.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { systemClock } from '../../gateway/clock.js';
import type { ModbusPointConfig, ModbusTcpDeviceConfig } from '../../drivers/device-config.js';
import type { Reading } from '../../drivers/reading.js';
import { ModbusTcpDriver } from '../../drivers/modbus/tcp-driver.js';

/** The Debian interpreter: `python3` on PATH may be another one without pymodbus. */
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../helpers/pymodbus-server.py', import.meta.url));

async function startPymodbus(): Promise<{ port: number; child: ChildProcessWithoutNullStreams }> {
  const child = spawn(PYTHON, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`pymodbus server did not start within 10 s: ${stderr}`)), 10_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n')[0];
      if (!stdout.includes('\n') || line === undefined) return;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`pymodbus server exited with ${code}: ${stderr}`));
    });
  });
  return { port, child };
}

async function stopPymodbus(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin.end(); // the script exits when its stdin closes
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** A DTSU666 float32 ABCD holding-register point. */
function f32(name: string, address: number, scale: number, unit: string, priority: 'fast' | 'slow' = 'fast'): ModbusPointConfig {
  return { name, function: 'holding', address, type: 'float32', wordOrder: 'ABCD', scale, offset: 0, unit, priority };
}

function dtsu666(port: number): ModbusTcpDeviceConfig {
  return {
    id: 'dtsu666-pymodbus',
    template: 'chint-dtsu666',
    protocol: 'modbus-tcp',
    host: '127.0.0.1',
    port,
    unitId: 1,
    pollIntervalMs: 200,
    slowPollIntervalMs: 1000,
    timeoutMs: 1000,
    maxGap: 8,
    maxRegisters: 125,
    binds: { customer: 'C-1' },
    points: [
      f32('ua', 0x2006, 0.1, 'V'),
      f32('ub', 0x2008, 0.1, 'V'),
      f32('uc', 0x200a, 0.1, 'V'),
      f32('ia', 0x200c, 0.001, 'A'),
      f32('ib', 0x200e, 0.001, 'A'),
      f32('ic', 0x2010, 0.001, 'A'),
      f32('p', 0x2012, 0.1, 'W'),
      f32('freq', 0x2044, 0.01, 'Hz'),
      f32('importKwh', 0x401e, 1, 'kWh', 'slow'),
      f32('exportKwh', 0x4028, 1, 'kWh', 'slow'),
      // Not DTSU666 registers: word orders checked against the independent server.
      { name: 'int32cdab', function: 'holding', address: 0x3000, type: 'int32', wordOrder: 'CDAB', scale: 1, offset: 0, priority: 'fast' },
      { name: 'uint64abcd', function: 'holding', address: 0x3004, type: 'uint64', wordOrder: 'ABCD', scale: 1, offset: 0, unit: 'Wh', priority: 'fast' },
    ],
  };
}

t.test('our driver decodes a DTSU666 served by pymodbus', async (t) => {
  const { port, child } = await startPymodbus();
  t.teardown(() => stopPymodbus(child));

  const driver = new ModbusTcpDriver(dtsu666(port), { clock: systemClock });
  const batches: Reading[][] = [];
  /** Requests sent when each batch was delivered (no other poll runs then: one poll in flight). */
  const requestsAt: number[] = [];
  let notify: (() => void) | null = null;
  await driver.start((batch) => {
    batches.push(batch);
    requestsAt.push(driver.getStats().requests);
    notify?.();
  });
  t.teardown(() => driver.stop());
  const until = (n: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${batches.length} batches`)), 10_000);
      notify = () => {
        if (batches.length < n) return;
        clearTimeout(timer);
        resolve();
      };
      notify();
    });
  await until(2);

  const [full, fast] = batches as [Reading[], Reading[]];
  const expected: Array<[string, number]> = [
    ['ua', 230.1],
    ['ub', 229.8],
    ['uc', 230.5],
    ['ia', 5.12],
    ['ib', 4.87],
    ['ic', 5.005],
    ['p', 3456.7],
    ['freq', 49.98],
    ['importKwh', 12345.5],
    ['exportKwh', 89.25],
    ['int32cdab', -123456],
    ['uint64abcd', 123456789012],
  ];
  t.same(
    full.map((r) => [r.point, r.quality, r.error?.code]),
    expected.map(([name]) => [name, 'good', undefined]),
    'every point good',
  );
  for (const [i, [name, value]] of expected.entries()) {
    const got = full[i]?.value ?? Number.NaN;
    t.ok(Math.abs(got - value) < 1e-9 * Math.max(1, Math.abs(value)), `${name}: ${got} = ${value}`);
  }
  t.same(
    fast.map((r) => r.point),
    ['ua', 'ub', 'uc', 'ia', 'ib', 'ic', 'p', 'freq', 'int32cdab', 'uint64abcd'],
    'the next poll reads the fast points only',
  );
  t.ok(fast.every((r) => r.quality === 'good'));

  // pymodbus refused the bridged block 0x3000..0x3007 (0x3002 and 0x3003 do not exist) with exception 2:
  // the two points are read on their own, and stay so.
  t.same(
    driver.plan.all.map((b) => [b.address.toString(16), b.count]),
    [
      ['2006', 14],
      ['2044', 2],
      ['3000', 2],
      ['3004', 4],
      ['401e', 12],
    ],
  );
  // First poll: 2006, 2044, 3000+8 refused, then 3000+2 and 3004+4 alone, 401e. Second poll: 4 requests.
  t.same(requestsAt.slice(0, 2), [6, 10]);
});
