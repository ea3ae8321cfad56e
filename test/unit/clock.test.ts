import t from 'tap';
import { ManualClock } from '../../gateway/clock.js';

t.test('manual clock moves only when told', (t) => {
  const clock = new ManualClock(1000);
  t.equal(clock.now(), 1000);
  clock.advance(250);
  t.equal(clock.now(), 1250);
  clock.set(5);
  t.equal(clock.now(), 5);
  t.end();
});
