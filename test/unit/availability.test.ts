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
