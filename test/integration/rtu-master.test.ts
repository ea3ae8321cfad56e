/**
 * The RTU master against the simulator over a real socat pty pair (and over TCP to the simulator's serial
 * device server): values decode, and every fault mode of the control API gives its stable error code.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ManualClock } from '../../gateway/clock.js';
import { ModbusRequestError } from '../../drivers/modbus/requester.js';
import { RtuMaster } from '../../drivers/modbus/rtu/rtu-master.js';
import { SerialTransport } from '../../drivers/modbus/rtu/serial-transport.js';
import { TcpTransport } from '../../drivers/modbus/rtu/tcp-transport.js';
import { Simulator, type SimulatorEndpoints } from '../../simulators/simulator.js';
import { busOf, rtuSite, SERIAL_BUS_ID, serialBusPath, TCP_BUS_ID } from '../fixtures/rtu-site.js';

const LINE = { baudRate: 9600, parity: 'none', dataBits: 8, stopBits: 1 } as const;

interface Rig {
  sim: Simulator;
  endpoints: SimulatorEndpoints;
  dir: string;
  serial: RtuMaster;
  tcp: RtuMaster;
  setFault(deviceId: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
}

async function rig(t: Test): Promise<Rig> {
  const root = await mkdtemp(join(tmpdir(), 'fw-rtu-'));
  // A folder that does not exist yet: the simulator creates it for the pty link.
  const dir = join(root, 'dev', 'serial');
  const site = rtuSite({ dir });
  const sim = new Simulator(site, { clock: new ManualClock(0), controlPort: 0, portOverride: () => 0 });
  const endpoints = await sim.start();
  const gw = endpoints.rtuBuses.find((b) => b.busId === TCP_BUS_ID);
  if (gw?.type !== 'rtu-over-tcp') throw new Error('no rtu-over-tcp bus');
  const serial = new RtuMaster(new SerialTransport({ ...LINE, path: serialBusPath(dir) }), { line: busOf(site, SERIAL_BUS_ID) });
  const tcp = new RtuMaster(new TcpTransport({ host: '127.0.0.1', port: gw.boundPort }), { line: busOf(site, TCP_BUS_ID) });
  t.teardown(async () => {
    await serial.close();
    await tcp.close();
    await sim.stop();
    await rm(root, { recursive: true, force: true });
  });
  const setFault = async (deviceId: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${endpoints.controlUrl}/devices/${encodeURIComponent(deviceId)}/fault`, {
      method: 'POST',
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  return { sim, endpoints, dir, serial, tcp, setFault };
}

function float32(registers: Uint16Array, offset: number): number {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(registers[offset] as number, 0);
  b.writeUInt16BE(registers[offset + 1] as number, 2);
  return b.readFloatBE(0);
}

async function failureOf(promise: Promise<unknown>): Promise<{ code: string; exceptionCode?: number; message: string }> {
  try {
    await promise;
    return { code: 'ok', message: '' };
  } catch (err) {
    if (!(err instanceof ModbusRequestError)) return { code: `unexpected ${String(err)}`, message: '' };
    const { code, exceptionCode, message } = err.readError;
    return exceptionCode === undefined ? { code, message } : { code, exceptionCode, message };
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

t.test('the simulator serves a serial bus on a pty pair whose gateway end is the configured path', async (t) => {
  const { endpoints, dir } = await rig(t);
  const serial = endpoints.rtuBuses.find((b) => b.busId === SERIAL_BUS_ID);
  t.same(serial, { busId: SERIAL_BUS_ID, type: 'serial', path: serialBusPath(dir), simPath: `${serialBusPath(dir)}.sim` });
});

t.test('values decode over the pty and over RTU-over-TCP', async (t) => {
  const { serial, tcp, sim } = await rig(t);
  for (const [what, master] of [
    ['pty', serial],
    ['tcp', tcp],
  ] as const) {
    const registers = await master.readRegisters(1, 'holding', 0x2006, 14, 500);
    const ua = float32(registers, 0) * 0.1;
    const ia = float32(registers, 6) * 0.001;
    const p = float32(registers, 12) * 0.1;
    const customer = what === 'pty' ? 'CR01' : 'CR11';
    const expected = sim.model.meterValues(customer);
    t.equal(ua.toFixed(1), expected.voltage.toFixed(1), `${what}: Ua ${ua.toFixed(1)} V`);
    t.ok(Math.abs(ia - expected.current) < 0.002, `${what}: Ia ${ia.toFixed(3)} A`);
    t.ok(Math.abs(p - expected.power) < 0.2, `${what}: P ${p.toFixed(1)} W`);
    const f = await master.readRegisters(1, 'holding', 0x2044, 2, 500);
    t.equal(float32(f, 0) * 0.01, 50, `${what}: 50 Hz`);
  }
  // Every unit on the serial bus answers for its own customer.
  const u10 = await serial.readRegisters(10, 'holding', 0x2006, 2, 500);
  t.equal((float32(u10, 0) * 0.1).toFixed(1), sim.model.meterValues('CR10').voltage.toFixed(1));
});

t.test('line timing: a transaction takes its wire time at 9600 baud', async (t) => {
  const { serial } = await rig(t);
  await serial.readRegisters(1, 'holding', 0x2006, 14, 500); // open the port
  const started = performance.now();
  const n = 10;
  for (let i = 0; i < n; i++) await serial.readRegisters(1, 'holding', 0x2006, 14, 500);
  const perTransaction = (performance.now() - started) / n;
  // 8 + 33 bytes at 10 bits / 9600 baud = 42.7 ms, plus t3.5 twice (7.3 ms) = 50 ms at the very least.
  t.ok(perTransaction >= 50, `${perTransaction.toFixed(1)} ms per 14-register read`);
  t.ok(perTransaction < 80, 'and not much more');
});

t.test('each fault mode gives its stable error code, never a value', async (t) => {
  const { serial, tcp, setFault } = await rig(t);
  const read = (master: RtuMaster, unit = 2, timeoutMs = 300): Promise<Uint16Array> => master.readRegisters(unit, 'holding', 0x2006, 2, timeoutMs);
  const cases: Array<[string, Record<string, unknown>, { code: string; exceptionCode?: number }]> = [
    ['noAnswer', { mode: 'noAnswer' }, { code: 'TIMEOUT' }],
    ['exception', { mode: 'exception', exceptionCode: 6 }, { code: 'MODBUS_EXCEPTION', exceptionCode: 6 }],
    ['exception (default code 4)', { mode: 'exception' }, { code: 'MODBUS_EXCEPTION', exceptionCode: 4 }],
    ['badCrc', { mode: 'badCrc' }, { code: 'CRC_ERROR' }],
    ['wrongUnitId', { mode: 'wrongUnitId' }, { code: 'WRONG_UNIT_ID' }],
    ['truncated', { mode: 'truncated' }, { code: 'TRUNCATED_FRAME' }],
    ['slow beyond the timeout', { mode: 'slow', delayMs: 500 }, { code: 'TIMEOUT' }],
  ];
  for (const [what, body, expected] of cases) {
    for (const [via, master, deviceId] of [
      ['pty', serial, 'rtu-meter-02'],
      ['tcp', tcp, 'gw-meter-02'],
    ] as const) {
      t.equal((await setFault(deviceId, body)).status, 200, `${via}: ${what} set`);
      const failure = await failureOf(read(master));
      t.match(failure, expected, `${via}: ${what} -> ${expected.code} (${failure.message})`);
      // The neighbour on the same line is not affected.
      t.equal((await read(master, 1)).length, 2, `${via}: unit 1 still answers after ${what}`);
      await setFault(deviceId, { mode: 'none' });
      if (body['mode'] === 'slow') await sleep(600); // let the late answer pass before the device is asked again
      t.equal((await read(master)).length, 2, `${via}: back to normal after ${what}`);
    }
  }
});

t.test('slow within the timeout: the value, late', async (t) => {
  const { serial, setFault } = await rig(t);
  await setFault('rtu-meter-03', { mode: 'slow', delayMs: 150 });
  const started = performance.now();
  const registers = await serial.readRegisters(3, 'holding', 0x2006, 2, 1000);
  t.ok(performance.now() - started >= 150, 'answered after the delay');
  t.ok(float32(registers, 0) > 2000, 'with the value');
});

t.test('disconnect drops the serial device server connection; the master reconnects', async (t) => {
  const { tcp, serial, setFault } = await rig(t);
  const refused = await setFault('rtu-meter-04', { mode: 'disconnect' });
  t.equal(refused.status, 400, 'no connection to drop on a serial bus');
  t.match(refused.body, { error: /disconnect needs a TCP connection/, field: 'mode' });
  t.equal((await setFault('gw-meter-01', { mode: 'disconnect' })).status, 200);
  t.match(await failureOf(tcp.readRegisters(1, 'holding', 0x2006, 2, 500)), { code: 'CONNECTION_LOST' });
  await setFault('gw-meter-01', { mode: 'none' });
  t.equal((await tcp.readRegisters(1, 'holding', 0x2006, 2, 500)).length, 2, 'reconnected on the next request');
  t.equal(tcp.stats.opens, 2);
  t.equal((await serial.readRegisters(4, 'holding', 0x2006, 2, 500)).length, 2);
});

t.test('silent units: cut meter link, unknown unit id; exceptions from the register map', async (t) => {
  const { serial, endpoints } = await rig(t);
  await fetch(`${endpoints.controlUrl}/meters/CR05/link`, { method: 'POST', body: JSON.stringify({ up: false }) });
  t.match(await failureOf(serial.readRegisters(5, 'holding', 0x2006, 2, 200)), { code: 'TIMEOUT' }, 'link cut');
  t.match(await failureOf(serial.readRegisters(42, 'holding', 0x2006, 2, 200)), { code: 'TIMEOUT' }, 'nobody at unit 42');
  t.match(await failureOf(serial.readRegisters(1, 'holding', 0, 2, 200)), { code: 'MODBUS_EXCEPTION', exceptionCode: 2 }, 'outside the map');
  t.match(await failureOf(serial.readRegisters(1, 'input', 0x2006, 2, 200)), { code: 'MODBUS_EXCEPTION', exceptionCode: 2 }, 'no input registers');
});

t.test('a write on the RTU-over-TCP bus operates the switch; a broadcast reaches every unit', async (t) => {
  const { tcp, sim } = await rig(t);
  t.equal(sim.model.state().switches['A-SW1']?.position, 'closed');
  await tcp.writeRegister(3, 0, 1, 500); // doublePoint 1 = open
  t.equal(sim.model.state().switches['A-SW1']?.position, 'open');
  await tcp.writeRegister(0, 0, 2, 500); // broadcast: closed
  await sleep(50);
  t.equal(sim.model.state().switches['A-SW1']?.position, 'closed', 'broadcast write applied, no answer awaited');
  t.match(await failureOf(tcp.writeRegister(3, 0, 7, 500)), { code: 'MODBUS_EXCEPTION', exceptionCode: 3 }, 'not a position code');
});

t.test('the pty can be closed and reopened by the gateway', async (t) => {
  const { dir } = await rig(t);
  for (let i = 0; i < 3; i++) {
    const master = new RtuMaster(new SerialTransport({ ...LINE, path: serialBusPath(dir) }), { line: LINE });
    t.equal((await master.readRegisters(6, 'holding', 0x2006, 2, 500)).length, 2, `open #${i + 1}`);
    await master.close();
  }
});
