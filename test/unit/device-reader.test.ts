/**
 * The device reader against a fake requester that records every request: the requests of each poll are
 * asserted exactly, and the expected values are written out by hand.
 */
import t from 'tap';
import { ManualClock } from '../../gateway/clock.js';
import type { ModbusPointConfig, ModbusTcpDeviceConfig } from '../../drivers/device-config.js';
import type { ReadError, Reading } from '../../drivers/reading.js';
import { ModbusDeviceReader } from '../../drivers/modbus/device-reader.js';
import { connectionLostError, modbusExceptionError, timeoutError } from '../../drivers/modbus/errors.js';
import { ModbusRequestError, type ModbusRequester } from '../../drivers/modbus/requester.js';

type Fn = 'holding' | 'input' | 'coil' | 'discrete';
const FC: Record<Fn, number> = { coil: 1, discrete: 2, holding: 3, input: 4 };

/**
 * Serves fixed tables. An address never set does not exist: a request touching it is exception 2, as a
 * real device answers. `script` fails the next requests with the given errors, in order.
 */
class FakeRequester implements ModbusRequester {
  readonly requests: string[] = [];
  readonly tables: Record<Fn, Map<number, number>> = { holding: new Map(), input: new Map(), coil: new Map(), discrete: new Map() };
  readonly script: Array<ReadError | Error> = [];
  /** Time each request takes on the clock. */
  constructor(private readonly clock: ManualClock, private readonly latencyMs = 10) {}

  set(fn: Fn, address: number, values: readonly number[]): void {
    values.forEach((v, i) => this.tables[fn].set(address + i, v));
  }

  async readRegisters(unitId: number, fn: 'holding' | 'input', address: number, quantity: number, timeoutMs: number): Promise<Uint16Array> {
    return Uint16Array.from(this.serve(unitId, fn, address, quantity, timeoutMs));
  }

  async readBits(unitId: number, fn: 'coil' | 'discrete', address: number, quantity: number, timeoutMs: number): Promise<Uint8Array> {
    return Uint8Array.from(this.serve(unitId, fn, address, quantity, timeoutMs));
  }

  async writeRegister(): Promise<void> {
    throw new Error('not used');
  }

  private serve(unitId: number, fn: Fn, address: number, quantity: number, timeoutMs: number): number[] {
    this.requests.push(`u${unitId} fc${FC[fn]} ${address}+${quantity} t${timeoutMs}`);
    this.clock.advance(this.latencyMs);
    const scripted = this.script.shift();
    if (scripted instanceof Error) throw scripted;
    if (scripted !== undefined) throw new ModbusRequestError(scripted);
    const out: number[] = [];
    for (let i = 0; i < quantity; i++) {
      const v = this.tables[fn].get(address + i);
      if (v === undefined) throw new ModbusRequestError(modbusExceptionError(2));
      out.push(v);
    }
    return out;
  }
}

function pt(name: string, fields: Partial<ModbusPointConfig> & Pick<ModbusPointConfig, 'address' | 'type'>): ModbusPointConfig {
  return { name, function: 'holding', wordOrder: 'ABCD', scale: 1, offset: 0, priority: 'fast', ...fields };
}

function device(points: ModbusPointConfig[], extra: Partial<ModbusTcpDeviceConfig> = {}): ModbusTcpDeviceConfig {
  return {
    id: 'm1',
    protocol: 'modbus-tcp',
    host: '127.0.0.1',
    port: 502,
    unitId: 7,
    pollIntervalMs: 1000,
    slowPollIntervalMs: 10_000,
    timeoutMs: 500,
    maxGap: 8,
    maxRegisters: 125,
    binds: { customer: 'c1' },
    points,
    ...extra,
  };
}

/** [point, quality, value, error code] of each reading, for compact assertions. */
const brief = (readings: Reading[]): Array<[string, string, number | string | null, string | undefined]> =>
  readings.map((r) => [r.point, r.quality, r.text ?? r.value, r.error?.code]);

function setup(points: ModbusPointConfig[], extra: Partial<ModbusTcpDeviceConfig> = {}) {
  const clock = new ManualClock(1_000_000);
  const requester = new FakeRequester(clock);
  const warnings: string[] = [];
  const reader = new ModbusDeviceReader(device(points, extra), { clock, logger: { warn: (msg) => warnings.push(msg) } });
  return { clock, requester, reader, warnings };
}

t.test('a full poll reads every type in planned blocks and keeps the configured order', async (t) => {
  const { requester, reader } = setup([
    pt('ua', { address: 0x2006, type: 'float32', scale: 0.1, unit: 'V' }),
    pt('energy', { address: 0x4000, type: 'uint64', wordOrder: 'CDAB', unit: 'Wh', priority: 'slow' }),
    pt('power', { address: 0x2008, type: 'int32', wordOrder: 'CDAB', scale: 0.1 }),
    pt('model', { address: 0x2010, type: 'string', length: 4 }),
    pt('breakerClosed', { function: 'coil', address: 3, type: 'bit' }),
    pt('alarm', { address: 0x200a, type: 'bit', bitIndex: 15 }),
    pt('temp', { function: 'input', address: 10, type: 'int16', offset: 100 }),
    pt('f64', { address: 0x200b, type: 'float64' }),
  ]);
  requester.set('holding', 0x2006, [0x450f, 0xd000]); // 2301.0 f32 -> 230.1 V
  requester.set('holding', 0x2008, [0xfb2e, 0xffff]); // int32 CDAB -1234 -> -123.4
  requester.set('holding', 0x200a, [0x8000]); // bit 15 set
  requester.set('holding', 0x200b, [0x3ff8, 0, 0, 0]); // float64 1.5
  requester.set('holding', 0x200f, [0]); // unused register inside the block
  requester.set('holding', 0x2010, [0x4454, 0x5355, 0x3636, 0x3600]); // "DTSU666"
  requester.set('holding', 0x4000, [0x1a14, 0xbe99, 0x001c, 0x0000]); // uint64 CDAB 123456789012
  requester.set('coil', 0, [0, 0, 0, 1]);
  requester.set('input', 10, [0xfffb]); // -5 + 100

  t.equal(reader.dueKind(0), 'all', 'the first poll reads everything');
  const readings = await reader.poll(requester, 'all');
  t.same(brief(readings), [
    ['ua', 'good', 230.10000000000002, undefined],
    ['energy', 'good', 123456789012, undefined],
    ['power', 'good', -123.4, undefined],
    ['model', 'good', 'DTSU666', undefined],
    ['breakerClosed', 'good', 1, undefined],
    ['alarm', 'good', 1, undefined],
    ['temp', 'good', 95, undefined],
    ['f64', 'good', 1.5, undefined],
  ]);
  t.equal(readings[3]?.value, null, 'a text point has no number');
  t.same(requester.requests, [
    'u7 fc3 8198+14 t500', // 0x2006..0x2013
    'u7 fc3 16384+4 t500',
    'u7 fc4 10+1 t500',
    'u7 fc1 3+1 t500',
  ]);
  t.same(
    readings.map((r) => r.deviceId),
    Array(8).fill('m1'),
  );
});

t.test('fast polls read the fast points; slow points every slowPollIntervalMs', async (t) => {
  const { clock, requester, reader } = setup([
    pt('ua', { address: 0, type: 'uint16' }),
    pt('kwh', { address: 100, type: 'uint32', priority: 'slow' }),
    pt('ub', { address: 1, type: 'uint16' }),
  ]);
  requester.set('holding', 0, [1, 2]);
  requester.set('holding', 100, [0, 3]);

  t.same(reader.plan.fast.map((b) => [b.address, b.count]), [[0, 2]]);
  t.same(
    reader.plan.all.map((b) => [b.address, b.count]),
    [
      [0, 2],
      [100, 2],
    ],
  );

  const start = clock.now();
  t.same(brief(await reader.poll(requester, reader.dueKind(clock.now()))), [
    ['ua', 'good', 1, undefined],
    ['kwh', 'good', 3, undefined],
    ['ub', 'good', 2, undefined],
  ]);
  t.equal(reader.dueKind(start + 1000), 'fast');
  t.same(brief(await reader.poll(requester, 'fast')), [
    ['ua', 'good', 1, undefined],
    ['ub', 'good', 2, undefined],
  ]);
  t.equal(reader.dueKind(start + 9000), 'fast');
  t.equal(reader.dueKind(start + 9499), 'fast');
  t.equal(reader.dueKind(start + 9500), 'all', 'half a fast interval early is due (timer jitter)');
  t.equal(reader.dueKind(start + 10_000), 'all');
  t.equal(reader.dueKind(start + 10_000), 'all', 'asking does not change it');
  clock.set(start + 10_000);
  await reader.poll(requester, 'all');
  t.equal(reader.dueKind(start + 11_000), 'fast');
  t.same(requester.requests, ['u7 fc3 0+2 t500', 'u7 fc3 100+2 t500', 'u7 fc3 0+2 t500', 'u7 fc3 0+2 t500', 'u7 fc3 100+2 t500']);
});

t.test('readings carry the time the block was answered', async (t) => {
  const { clock, requester, reader } = setup([pt('a', { address: 0, type: 'uint16' }), pt('b', { address: 50, type: 'uint16' })]);
  requester.set('holding', 0, [1]);
  requester.set('holding', 50, [2]);
  const start = clock.now();
  const [a, b] = await reader.poll(requester, 'all');
  t.same([a?.sourceTs, a?.gatewayTs, b?.sourceTs, b?.gatewayTs], [start + 10, start + 10, start + 20, start + 20]);
});

t.test('sentinels give NO_DATA, non-finite values DECODE_ERROR, never a number', async (t) => {
  const { requester, reader } = setup([
    pt('u16', { address: 0, type: 'uint16', sentinels: [0xffff] }),
    pt('i32', { address: 1, type: 'int32', wordOrder: 'CDAB', sentinels: [0x7fffffff] }),
    pt('nan', { address: 3, type: 'float32' }),
    pt('inf', { address: 5, type: 'float64', scale: 10 }),
    pt('i64max', { address: 9, type: 'int64', sentinels: [0x7fffffffffffffff] }),
    pt('i64almost', { address: 13, type: 'int64', sentinels: [0x7fffffffffffffff] }),
    pt('ok', { address: 17, type: 'uint16', sentinels: [0xffff], scale: 0.5, offset: 1 }),
  ]);
  requester.set('holding', 0, [0xffff]);
  requester.set('holding', 1, [0xffff, 0x7fff]);
  requester.set('holding', 3, [0x7fc0, 0x0000]);
  requester.set('holding', 5, [0x7ff0, 0, 0, 0]);
  requester.set('holding', 9, [0x7fff, 0xffff, 0xffff, 0xffff]);
  requester.set('holding', 13, [0x7fff, 0xffff, 0xffff, 0xfffe]);
  requester.set('holding', 17, [40]);
  const readings = await reader.poll(requester, 'all');
  t.same(brief(readings), [
    ['u16', 'bad', null, 'NO_DATA'],
    ['i32', 'bad', null, 'NO_DATA'],
    ['nan', 'bad', null, 'DECODE_ERROR'],
    ['inf', 'bad', null, 'DECODE_ERROR'],
    ['i64max', 'bad', null, 'NO_DATA'],
    ['i64almost', 'good', 9223372036854775807, undefined],
    ['ok', 'good', 21, undefined],
  ]);
  t.match(readings[0]?.error?.message, /u16: .*sentinel/);
  t.match(readings[2]?.error?.message, /nan: float32 at 3 is not a finite number \(NaN\)/);
  t.same(requester.requests, ['u7 fc3 0+18 t500']);
});

t.test('after a timeout the rest of the poll is marked without a request', async (t) => {
  const { requester, reader } = setup([
    pt('a', { address: 0, type: 'uint16' }),
    pt('b', { address: 100, type: 'uint16' }),
    pt('c', { function: 'input', address: 0, type: 'uint16' }),
  ]);
  requester.set('holding', 0, [1]);
  requester.set('holding', 100, [2]);
  requester.set('input', 0, [3]);
  requester.script.push(timeoutError(500));
  const readings = await reader.poll(requester, 'all');
  t.same(brief(readings), [
    ['a', 'bad', null, 'TIMEOUT'],
    ['b', 'bad', null, 'TIMEOUT'],
    ['c', 'bad', null, 'TIMEOUT'],
  ]);
  t.same(requester.requests, ['u7 fc3 0+1 t500'], 'one timeout per poll');
  t.ok(Object.isFrozen(readings[0]?.error), 'errors are shared frozen');
  t.equal(readings[0]?.error, readings[2]?.error);

  // A connection lost in the second block: the first is good, the rest is marked.
  requester.requests.length = 0;
  const lost = reader.poll(
    {
      readRegisters: (...args) => (args[2] === 100 ? Promise.reject(new ModbusRequestError(connectionLostError('reset'))) : requester.readRegisters(...args)),
      readBits: (...args) => requester.readBits(...args),
      writeRegister: () => Promise.resolve(),
    },
    'all',
  );
  t.same(brief(await lost), [
    ['a', 'good', 1, undefined],
    ['b', 'bad', null, 'CONNECTION_LOST'],
    ['c', 'bad', null, 'CONNECTION_LOST'],
  ]);
  t.same(requester.requests, ['u7 fc3 0+1 t500']);
});

t.test('other failures fail their block only', async (t) => {
  const { requester, reader } = setup([pt('a', { address: 0, type: 'uint16' }), pt('b', { address: 100, type: 'uint16' })]);
  requester.set('holding', 0, [1]);
  requester.set('holding', 100, [2]);
  requester.script.push(modbusExceptionError(6), { code: 'CRC_ERROR', message: 'crc', retryable: true });
  t.same(brief(await reader.poll(requester, 'all')), [
    ['a', 'bad', null, 'MODBUS_EXCEPTION'],
    ['b', 'bad', null, 'CRC_ERROR'],
  ]);
  requester.script.push(new Error('requester bug'));
  const [a, b] = await reader.poll(requester, 'all');
  t.equal(a?.error?.code, 'BAD_RESPONSE');
  t.match(a?.error?.message, /requester bug/);
  t.equal(b?.quality, 'good');
  t.same(requester.requests, ['u7 fc3 0+1 t500', 'u7 fc3 100+1 t500', 'u7 fc3 0+1 t500', 'u7 fc3 100+1 t500'], 'no split for exception 6');

  // An answer shorter than asked is a BAD_RESPONSE, not a decode of missing registers.
  const short: ModbusRequester = {
    readRegisters: async () => new Uint16Array(0),
    readBits: async () => new Uint8Array(0),
    writeRegister: async () => undefined,
  };
  const [s] = await reader.poll(short, 'fast');
  t.equal(s?.error?.code, 'BAD_RESPONSE');
  t.match(s?.error?.message, /expected 1 holding values, got 0/);
});

t.test('exception 2 on a block: point by point in the same poll, and the split plan is remembered', async (t) => {
  const { requester, reader, warnings } = setup([
    pt('ua', { address: 0, type: 'float32', scale: 0.1 }),
    pt('ub', { address: 2, type: 'float32', scale: 0.1 }),
    // 4..5 do not exist on this device: the gap bridged by the plan makes the block fail.
    pt('ia', { address: 6, type: 'uint16' }),
    pt('missing', { address: 7, type: 'uint16' }),
    pt('kwh', { address: 9, type: 'uint16', priority: 'slow' }),
    pt('other', { address: 200, type: 'uint16' }),
  ]);
  requester.set('holding', 0, [0x450f, 0xd000, 0x450f, 0xd000]);
  requester.set('holding', 6, [5]);
  requester.set('holding', 9, [77]);
  requester.set('holding', 200, [9]);

  t.same(
    reader.plan.all.map((b) => [b.address, b.count]),
    [
      [0, 10],
      [200, 1],
    ],
  );
  const first = await reader.poll(requester, 'all');
  t.same(brief(first), [
    ['ua', 'good', 230.10000000000002, undefined],
    ['ub', 'good', 230.10000000000002, undefined],
    ['ia', 'good', 5, undefined],
    ['missing', 'bad', null, 'MODBUS_EXCEPTION'],
    ['kwh', 'good', 77, undefined],
    ['other', 'good', 9, undefined],
  ]);
  t.equal(first[3]?.error?.exceptionCode, 2);
  t.same(requester.requests, [
    'u7 fc3 0+10 t500', // the planned block: exception 2
    'u7 fc3 0+2 t500', // then each point alone
    'u7 fc3 2+2 t500',
    'u7 fc3 6+1 t500',
    'u7 fc3 7+1 t500', // exception 2 again: stays bad
    'u7 fc3 9+1 t500',
    'u7 fc3 200+1 t500',
  ]);
  t.equal(warnings.length, 1);

  // Remembered, for both plans: no failing block read again.
  t.same(
    reader.plan.all.map((b) => [b.address, b.count]),
    [
      [0, 2],
      [2, 2],
      [6, 1],
      [7, 1],
      [9, 1],
      [200, 1],
    ],
  );
  t.same(
    reader.plan.fast.map((b) => [b.address, b.count]),
    [
      [0, 2],
      [2, 2],
      [6, 1],
      [7, 1],
      [200, 1],
    ],
  );
  requester.requests.length = 0;
  const second = await reader.poll(requester, 'fast');
  t.same(brief(second), [
    ['ua', 'good', 230.10000000000002, undefined],
    ['ub', 'good', 230.10000000000002, undefined],
    ['ia', 'good', 5, undefined],
    ['missing', 'bad', null, 'MODBUS_EXCEPTION'],
    ['other', 'good', 9, undefined],
  ]);
  t.same(requester.requests, ['u7 fc3 0+2 t500', 'u7 fc3 2+2 t500', 'u7 fc3 6+1 t500', 'u7 fc3 7+1 t500', 'u7 fc3 200+1 t500']);
  t.equal(warnings.length, 1, 'told once');
});

t.test('exception 3 on a fast block also splits the full plan; a timeout while splitting ends the poll', async (t) => {
  const { requester, reader } = setup([
    pt('a', { address: 0, type: 'uint16' }),
    pt('b', { address: 4, type: 'uint16' }),
    pt('slow', { address: 6, type: 'uint16', priority: 'slow' }),
    pt('c', { address: 300, type: 'uint16' }),
  ]);
  requester.set('holding', 0, [1, 0, 0, 0, 2, 0, 3]);
  requester.set('holding', 300, [4]);
  await reader.poll(requester, 'all');
  requester.requests.length = 0;

  requester.script.push(modbusExceptionError(3), timeoutError(500));
  t.same(brief(await reader.poll(requester, 'fast')), [
    ['a', 'bad', null, 'TIMEOUT'],
    ['b', 'bad', null, 'TIMEOUT'],
    ['c', 'bad', null, 'TIMEOUT'],
  ]);
  t.same(requester.requests, ['u7 fc3 0+5 t500', 'u7 fc3 0+1 t500'], 'the block, then the first point alone times out');
  t.same(
    reader.plan.all.map((b) => [b.address, b.count]),
    [
      [0, 1],
      [4, 1],
      [6, 1],
      [300, 1],
    ],
    'a and b isolated in the full plan too',
  );
});

t.test('fail() reports a poll that cannot take place, without requests', async (t) => {
  const { clock, requester, reader } = setup([pt('a', { address: 0, type: 'uint16' }), pt('kwh', { address: 9, type: 'uint16', priority: 'slow' })]);
  const down = Object.freeze({ code: 'CONNECTION_REFUSED', message: 'cannot connect', retryable: true } as const);
  const start = clock.now();
  t.same(brief(reader.fail(reader.dueKind(start), down)), [
    ['a', 'bad', null, 'CONNECTION_REFUSED'],
    ['kwh', 'bad', null, 'CONNECTION_REFUSED'],
  ]);
  t.equal(reader.dueKind(start + 1000), 'fast', 'a failed full poll counts as the slow read');
  t.same(brief(reader.fail('fast', down)), [['a', 'bad', null, 'CONNECTION_REFUSED']]);
  t.same(requester.requests, []);
});

t.test('configurations that cannot be read are rejected at construction', async (t) => {
  const clock = new ManualClock();
  const make = (points: ModbusPointConfig[], extra: Partial<ModbusTcpDeviceConfig> = {}) => () =>
    new ModbusDeviceReader(device(points, extra), { clock });
  t.throws(make([pt('c', { function: 'coil', address: 0, type: 'uint16' })]), /a coil is read as type bit/);
  t.throws(make([pt('b', { address: 0, type: 'bit', bitIndex: 16 })]), /bitIndex must be 0..15/);
  t.throws(make([pt('s', { address: 0, type: 'string' })]), RangeError);
  t.throws(make([pt('x', { address: 0, type: 'int64', sentinels: [-1.5] })]), RangeError);
  t.throws(make([], { unitId: 256 }), /unitId/);
  t.throws(make([], { timeoutMs: 0 }), /timeoutMs/);
  t.same(await new ModbusDeviceReader(device([]), { clock }).poll(new FakeRequester(clock), 'all'), [], 'no points, no requests');
});
