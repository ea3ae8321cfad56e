import t from 'tap';
import { EventSequence } from '../../gateway/engine/sequence.js';
import { AvailabilityTracker } from '../../gateway/runtime/availability.js';
import type { Reading } from '../../drivers/reading.js';

const ok = (ts: number): Reading[] => [{ deviceId: 'm1', point: 'ua', value: 230, quality: 'good', sourceTs: ts, gatewayTs: ts }];
const fail = (ts: number): Reading[] => [
  { deviceId: 'm1', point: 'ua', value: null, quality: 'bad', sourceTs: ts, gatewayTs: ts, error: { code: 'TIMEOUT', message: 'no answer', retryable: true } },
];

t.test('online on the first good poll, offline after three failed polls, online again', (t) => {
  const tracker = new AvailabilityTracker(['m1'], new EventSequence('site'));
  const first = tracker.observe('m1', ok(1000));
  t.match(first, { type: 'device.availability', deviceId: 'm1', state: 'online', previousState: 'unknown', seq: 1, id: 'site:1', ts: '1970-01-01T00:00:01.000Z' });
  t.equal(tracker.observe('m1', ok(2000)), null, 'no event while nothing changes');
  t.equal(tracker.observe('m1', fail(3000)), null, 'one lost poll is not offline');
  t.equal(tracker.observe('m1', fail(4000)), null);
  const offline = tracker.observe('m1', fail(5000));
  t.match(offline, { state: 'offline', previousState: 'online', seq: 2, consecutiveErrors: 3, lastGoodAt: '1970-01-01T00:00:02.000Z', error: 'TIMEOUT: no answer' });
  t.equal(tracker.observe('m1', fail(6000)), null, 'offline once');
  t.match(tracker.observe('m1', ok(7000)), { state: 'online', previousState: 'offline', seq: 3, consecutiveErrors: 0 });
  t.equal(tracker.observe('unknown', ok(7000)), null);
  t.end();
});

t.test('degraded while part of a poll fails; a sentinel (NO_DATA) is not a failure', (t) => {
  const tracker = new AvailabilityTracker(['ftu'], new EventSequence('site'));
  const r = (point: string, ok: boolean, ts: number, code: 'MODBUS_EXCEPTION' | 'NO_DATA' = 'MODBUS_EXCEPTION'): Reading =>
    ok
      ? { deviceId: 'ftu', point, value: 1, quality: 'good', sourceTs: ts, gatewayTs: ts }
      : { deviceId: 'ftu', point, value: null, quality: 'bad', sourceTs: ts, gatewayTs: ts, error: { code, message: code === 'NO_DATA' ? 'sentinel 0xFFFF' : 'Modbus exception 2 (Illegal Data Address)', retryable: false } };
  t.match(tracker.observe('ftu', [r('position', true, 1000), r('energy', false, 1000, 'NO_DATA')]), { state: 'online', previousState: 'unknown' });
  t.match(tracker.observe('ftu', [r('position', true, 2000), r('ia', false, 2000)]), {
    state: 'degraded',
    previousState: 'online',
    consecutiveErrors: 0,
    lastGoodAt: '1970-01-01T00:00:02.000Z',
    error: 'MODBUS_EXCEPTION: Modbus exception 2 (Illegal Data Address)',
  });
  t.equal(tracker.observe('ftu', [r('position', true, 3000), r('ia', false, 3000)]), null, 'still degraded: no event');
  t.match(tracker.observe('ftu', [r('position', true, 4000), r('ia', true, 4000)]), { state: 'online', previousState: 'degraded', error: null });
  t.end();
});
