/**
 * The bus driver's scheduling and failure rules against a scripted line (no pty, no line timing): due-time
 * order through one queue, writes ahead of polls, backoff of a silent device only, a clean stop.
 * The timing acceptance test on a simulated 9600-baud bus is test/integration/rtu-bus.test.ts.
 */
import t from 'tap';
import { ManualClock } from '../../gateway/clock.js';
import type { ModbusRtuDeviceConfig, SerialBusConfig } from '../../gateway/config/site-config.js';
import type { Reading } from '../../drivers/reading.js';
import { ModbusRtuBusDriver } from '../../drivers/modbus/rtu/bus-driver.js';
import { withCrc } from '../../drivers/modbus/rtu/crc.js';
import type { ByteTransport, TransportEvents } from '../../drivers/modbus/rtu/transport.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const BUS: SerialBusConfig = { id: 'bus', type: 'serial', path: '/dev/null-bus', baudRate: 115_200, parity: 'none', dataBits: 8, stopBits: 1 };

function meter(unitId: number, pollIntervalMs: number): ModbusRtuDeviceConfig {
  return {
    id: `m${unitId}`,
    protocol: 'modbus-rtu',
    bus: 'bus',
    unitId,
    pollIntervalMs,
    slowPollIntervalMs: 60_000,
    timeoutMs: 50,
    maxGap: 8,
    maxRegisters: 125,
    binds: { customer: `C${unitId}` },
    points: [{ name: 'u', function: 'holding', address: 0, type: 'uint16', wordOrder: 'ABCD', scale: 1, offset: 0, priority: 'fast' }],
  };
}

/** Units answer FC 3 with register value = 100 x unit id, FC 6 by echoing; `silent` units say nothing. */
class FakeBus implements ByteTransport {
  readonly description = 'fake';
  isOpen = false;
  failOpen = false;
  readonly silent = new Set<number>();
  readonly log: string[] = [];
  private events: TransportEvents | null = null;

  async open(events: TransportEvents): Promise<void> {
    if (this.failOpen) throw new Error('no such port');
    this.events = events;
    this.isOpen = true;
  }

  async write(frame: Buffer): Promise<void> {
    const unit = frame[0] as number;
    const fn = frame[1] as number;
    this.log.push(`${fn === 6 ? 'write' : 'read'} ${unit}`);
    if (this.silent.has(unit)) return;
    const answer = fn === 6 ? withCrc(frame.subarray(0, 6)) : withCrc(Buffer.from([unit, 3, 2, 0, 100 * unit]));
    setTimeout(() => this.events?.data(answer), 1);
  }

  async close(): Promise<void> {
    this.isOpen = false;
  }
}

function start(devices: ModbusRtuDeviceConfig[], line: FakeBus, clock = new ManualClock(0)): { driver: ModbusRtuBusDriver; batches: Reading[][] } {
  const driver = new ModbusRtuBusDriver(BUS, devices, { clock, transport: line, deviceBackoff: { initialMs: 200, maxMs: 400, jitter: 0 } });
  const batches: Reading[][] = [];
  void driver.start((readings) => batches.push(readings));
  return { driver, batches };
}

t.test('construction checks the devices against the bus', async (t) => {
  const line = new FakeBus();
  t.throws(() => new ModbusRtuBusDriver(BUS, [{ ...meter(1, 100), bus: 'other' }], { clock: new ManualClock(), transport: line }), /on bus other, not bus/);
  t.throws(() => new ModbusRtuBusDriver(BUS, [meter(1, 100), { ...meter(1, 100), id: 'twin' }], { clock: new ManualClock(), transport: line }), /both use unit id 1/);
  t.throws(() => new ModbusRtuBusDriver(BUS, [meter(0, 100)], { clock: new ManualClock(), transport: line }), /0 is broadcast/);
  const driver = new ModbusRtuBusDriver(BUS, [meter(1, 100), meter(2, 100)], { clock: new ManualClock(), transport: line });
  t.equal(driver.id, 'bus');
  t.same(driver.deviceIds, ['m1', 'm2']);
  await t.rejects(driver.write('m1', 0, 1), /not running/, 'writes need a started driver');
});

t.test('every device polled at its own interval, one batch per poll, in due-time order', async (t) => {
  const line = new FakeBus();
  const { driver, batches } = start([meter(1, 100), meter(2, 100), meter(3, 250)], line);
  await sleep(520);
  await driver.stop();
  const count = (id: string): number => batches.filter((b) => b[0]?.deviceId === id).length;
  t.ok(count('m1') >= 5 && count('m1') <= 6, `m1 polled ${count('m1')} times in 520 ms at 100 ms`);
  t.ok(count('m2') >= 5 && count('m2') <= 6, `m2 polled ${count('m2')} times`);
  t.ok(count('m3') >= 2 && count('m3') <= 3, `m3 polled ${count('m3')} times at 250 ms`);
  t.same(batches[0]?.map((r) => [r.deviceId, r.value, r.quality]), [['m1', 100, 'good']]);
  t.same(line.log.slice(0, 3), ['read 1', 'read 3', 'read 2'], 'first polls spread over the interval: m1 at 0, m3 at 0 of its own, m2 at 50 ms');
  const n = batches.length;
  await sleep(150);
  t.equal(batches.length, n, 'nothing after stop()');
});

t.test('writes jump the queue, never interrupting a transaction', async (t) => {
  const line = new FakeBus();
  const { driver } = start([meter(1, 20), meter(2, 20)], line);
  await sleep(50);
  await driver.write('m2', 7, 42);
  await driver.stop();
  const at = line.log.indexOf('write 2');
  t.ok(at > 0, 'the write went out');
  t.equal(driver.stats.writes, 1);
  await t.rejects(driver.write('m2', 7, 42), /not running/);
});

t.test('a silent device is backed off; its polls are answered bad without the line; it comes back', async (t) => {
  const line = new FakeBus();
  line.silent.add(2);
  const { driver, batches } = start([meter(1, 50), meter(2, 50)], line);
  await sleep(700);
  const asked = line.log.filter((l) => l === 'read 2').length;
  // Polls at 0 (timeout 50 ms), then backoff 200 ms, 400 ms: 3 requests at most in 700 ms instead of ~13.
  t.ok(asked >= 2 && asked <= 3, `the silent device was asked ${asked} times`);
  const m2 = batches.filter((b) => b[0]?.deviceId === 'm2');
  t.ok(m2.length >= 8, `but reported every interval (${m2.length} batches)`);
  t.ok(m2.every((b) => b[0]?.quality === 'bad' && b[0]?.value === null && b[0]?.error?.code === 'TIMEOUT'));
  t.ok((driver.stats.devices['m2']?.backedOffPolls ?? 0) >= 5);
  const m1 = batches.filter((b) => b[0]?.deviceId === 'm1');
  t.ok(m1.length >= 12, `the neighbour kept its 50 ms cycle (${m1.length} polls in 700 ms)`);
  line.silent.clear();
  await sleep(600);
  await driver.stop();
  t.equal(batches.filter((b) => b[0]?.deviceId === 'm2').at(-1)?.[0]?.value, 200, 'answers again after the backoff');
  t.equal(driver.stats.devices['m2']?.backoffMs, 0);
});

t.test('a line that cannot be opened fails every poll fast, without backing devices off', async (t) => {
  const line = new FakeBus();
  line.failOpen = true;
  const { driver, batches } = start([meter(1, 50)], line);
  await sleep(230);
  await driver.stop();
  t.ok(batches.length >= 4, `still a batch per interval (${batches.length})`);
  t.ok(batches.every((b) => b[0]?.error?.code === 'CONNECTION_REFUSED'));
  t.equal(driver.stats.devices['m1']?.silentPolls, 0, 'not counted against the device');
});
