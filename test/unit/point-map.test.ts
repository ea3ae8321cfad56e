import t from 'tap';
import type { DeviceConfig, PointConfig } from '../../gateway/config/site-config.js';
import { decodePosition, PointMap } from '../../gateway/runtime/point-map.js';
import type { Reading } from '../../drivers/reading.js';

const point = (p: Partial<PointConfig> & { name: string; address: number }): PointConfig => ({
  function: 'holding',
  type: 'uint16',
  wordOrder: 'ABCD',
  scale: 1,
  offset: 0,
  priority: 'fast',
  ...p,
});

const devices: DeviceConfig[] = [
  {
    id: 'ftu-1',
    protocol: 'modbus-tcp',
    host: '127.0.0.1',
    port: 502,
    unitId: 1,
    pollIntervalMs: 1000,
    slowPollIntervalMs: 10_000,
    maxGap: 8,
    maxRegisters: 125,
    timeoutMs: 500,
    binds: { switch: 'SW1' },
    points: [
      point({ name: 'position', address: 0, observe: 'switch.position', encoding: 'doublePoint' }),
      point({ name: 'faultFlag', address: 1, observe: 'switch.faultFlag' }),
      point({ name: 'ia', address: 2, type: 'float32' }),
    ],
  },
  {
    id: 'meter-1',
    protocol: 'modbus-tcp',
    host: '127.0.0.1',
    port: 502,
    unitId: 2,
    pollIntervalMs: 1000,
    slowPollIntervalMs: 10_000,
    maxGap: 8,
    maxRegisters: 125,
    timeoutMs: 500,
    binds: { customer: 'C1' },
    points: [point({ name: 'ua', address: 0x2006, type: 'float32', observe: 'meter.voltage' }), point({ name: 'p', address: 0x2012, type: 'float32' })],
  },
];

const good = (deviceId: string, name: string, value: number, ts = 1000): Reading => ({ deviceId, point: name, value, quality: 'good', sourceTs: ts, gatewayTs: ts });
const bad = (deviceId: string, name: string, ts = 1000): Reading => ({
  deviceId,
  point: name,
  value: null,
  quality: 'bad',
  sourceTs: ts,
  gatewayTs: ts,
  error: { code: 'TIMEOUT', message: 'no answer in 500 ms', retryable: true },
});

t.test('switch points become fault-flag then position observations; telemetry-only points none', (t) => {
  const map = new PointMap(devices);
  t.same(map.map([good('ftu-1', 'position', 1), good('ftu-1', 'faultFlag', 1), good('ftu-1', 'ia', 12.5)]), [
    { kind: 'switch.faultFlag', switchId: 'SW1', fault: true, ts: 1000 },
    { kind: 'switch.position', switchId: 'SW1', position: 'open', ts: 1000 },
  ]);
  t.end();
});

t.test('a meter that answers is reachable and reports its voltage', (t) => {
  const map = new PointMap(devices);
  t.same(map.map([good('meter-1', 'ua', 221.5, 2000), good('meter-1', 'p', 800, 2000)]), [
    { kind: 'meter.reachable', customerId: 'C1', reachable: true, ts: 2000 },
    { kind: 'meter.voltage', customerId: 'C1', volts: 221.5, ts: 2000 },
  ]);
  t.end();
});

t.test('a meter that does not answer is unreachable and reports no voltage (not 0 V)', (t) => {
  const map = new PointMap(devices);
  t.same(map.map([bad('meter-1', 'ua', 3000), bad('meter-1', 'p', 3000)]), [{ kind: 'meter.reachable', customerId: 'C1', reachable: false, ts: 3000 }]);
  t.end();
});

t.test('a bad switch reading gives no position', (t) => {
  const map = new PointMap(devices);
  t.same(map.map([bad('ftu-1', 'position'), bad('ftu-1', 'faultFlag')]), []);
  t.end();
});

t.test('readings of unknown devices or points are ignored', (t) => {
  const map = new PointMap(devices);
  t.same(map.map([good('nobody', 'position', 2), good('ftu-1', 'nothing', 2)]), []);
  t.end();
});

t.test('position encodings', (t) => {
  t.equal(decodePosition(1, 'singleBit'), 'closed');
  t.equal(decodePosition(0, 'singleBit'), 'open');
  t.equal(decodePosition(7, 'singleBit'), 'invalid');
  t.equal(decodePosition(1, 'doublePoint'), 'open');
  t.equal(decodePosition(2, 'doublePoint'), 'closed');
  t.equal(decodePosition(0, 'doublePoint'), 'intermediate');
  t.equal(decodePosition(3, 'doublePoint'), 'invalid');
  t.end();
});

t.test('per-phase fault flags are ORed per poll; lockout, voltage presence and TTU voltage are observed', (t) => {
  const ftu: DeviceConfig = {
    ...(devices[0] as DeviceConfig & { protocol: 'modbus-tcp' }),
    id: 'ftu-2',
    binds: { switch: 'SW2' },
    points: [
      point({ name: 'position', address: 0, observe: 'switch.position', encoding: 'doublePoint' }),
      point({ name: 'faultA', address: 1, observe: 'switch.faultFlag', phase: 'A' }),
      point({ name: 'faultB', address: 2, observe: 'switch.faultFlag', phase: 'B' }),
      point({ name: 'faultC', address: 3, observe: 'switch.faultFlag', phase: 'C' }),
      point({ name: 'faultN', address: 4, observe: 'switch.faultFlag', phase: 'N' }),
      point({ name: 'lockout', address: 5, observe: 'switch.lockout' }),
      point({ name: 'sourceLive', address: 6, type: 'bit', bitIndex: 0, observe: 'switch.voltagePresent', side: 'source' }),
      point({ name: 'loadLive', address: 6, type: 'bit', bitIndex: 1, observe: 'switch.voltagePresent', side: 'load' }),
    ],
  };
  const ttu: DeviceConfig = {
    ...(devices[1] as DeviceConfig & { protocol: 'modbus-tcp' }),
    id: 'ttu-1',
    binds: { transformer: 'T1' },
    points: [point({ name: 'ua', address: 0, type: 'float32', observe: 'transformer.voltage' })],
  };
  const map = new PointMap([ftu, ttu]);
  const batch = [
    good('ftu-2', 'position', 1, 5000),
    good('ftu-2', 'faultA', 1, 5000),
    good('ftu-2', 'faultB', 0, 5000),
    good('ftu-2', 'faultC', 1, 5000),
    good('ftu-2', 'faultN', 0, 5000),
    good('ftu-2', 'lockout', 1, 5000),
    good('ftu-2', 'sourceLive', 1, 5000),
    good('ftu-2', 'loadLive', 0, 5000),
  ];
  t.same(map.map(batch), [
    { kind: 'switch.faultFlag', switchId: 'SW2', fault: true, phases: ['A', 'C'], ts: 5000 },
    { kind: 'switch.lockout', switchId: 'SW2', lockedOut: true, ts: 5000 },
    { kind: 'switch.voltagePresent', switchId: 'SW2', side: 'source', present: true, ts: 5000 },
    { kind: 'switch.voltagePresent', switchId: 'SW2', side: 'load', present: false, ts: 5000 },
    { kind: 'switch.position', switchId: 'SW2', position: 'open', ts: 5000 },
  ]);
  const quiet = batch.map((r) => (r.point.startsWith('fault') ? { ...r, value: 0 } : r));
  t.match(map.map(quiet)[0], { kind: 'switch.faultFlag', switchId: 'SW2', fault: false }, 'all flags down: one "no fault" observation, the last phase does not win');
  t.same(map.map([good('ttu-1', 'ua', 219.5, 6000)]), [{ kind: 'transformer.voltage', transformerId: 'T1', volts: 219.5, ts: 6000 }]);
  t.end();
});
