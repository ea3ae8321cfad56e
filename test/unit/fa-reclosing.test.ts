/**
 * Protection and reclosing on the FA fixture (test/fixtures/fa-site.ts), mode none: A-CB recloses after
 * 2 s and 15 s, then locks out. Expected states are written out by hand for each step time.
 */
import t from 'tap';
import { faSite } from '../fixtures/fa-site.js';
import { harness } from '../helpers/fa-harness.js';

const ALL_LIVE = ['A-S1', 'A-S2', 'A-S3', 'A-S4', 'B-S1', 'B-S2'];

t.test('temporary fault: the trip clears it, the first reclose succeeds', async (t) => {
  const h = harness(faSite({ mode: 'none', deadTimesMs: [2000, 15000] }));
  h.model.injectFault('A-S2', { permanent: false });
  t.same(h.view(), { live: ['B-S1', 'B-S2'], open: ['A-CB', 'TIE-AB'], locked: [], flagged: ['A-CB', 'A-SW1'] }, '0 s: A-CB tripped, flags latched');
  t.same(h.model.state().faults, [], '0 s: the temporary fault went out with the trip');
  t.same(h.fa.pendingTimers(), [{ key: 'reclose:A-CB', dueMs: 2000 }]);
  t.same(h.at(1999), { live: ['B-S1', 'B-S2'], open: ['A-CB', 'TIE-AB'], locked: [], flagged: ['A-CB', 'A-SW1'] }, '1.999 s: dead time');
  t.same(h.at(2000), { live: ALL_LIVE, open: ['TIE-AB'], locked: [], flagged: [] }, '2 s: reclosed, fault cleared on reclose, flags reset');
  t.same(h.at(60_000), { live: ALL_LIVE, open: ['TIE-AB'], locked: [], flagged: [] }, '60 s: still in service');
  t.same(h.ops, ['0 A-CB open protection', '2000 A-CB closed protection']);
  t.same(h.fa.pendingTimers(), []);
});

t.test('permanent fault: trip, reclose, trip, reclose, trip, lockout', async (t) => {
  const h = harness(faSite({ mode: 'none', deadTimesMs: [2000, 15000] }));
  h.model.injectFault('A-S2');
  const tripped = { live: ['B-S1', 'B-S2'], open: ['A-CB', 'TIE-AB'], locked: [], flagged: ['A-CB', 'A-SW1'] };
  t.same(h.view(), tripped, '0 s: trip 1');
  t.same(h.at(2000), tripped, '2 s: reclosed onto the fault, trip 2');
  t.same(h.fa.pendingTimers(), [{ key: 'reclose:A-CB', dueMs: 17_000 }]);
  t.same(h.at(16_999), tripped, '16.999 s: second dead time');
  t.same(h.at(17_000), { ...tripped, locked: ['A-CB'] }, '17 s: reclosed, trip 3, LOCKOUT');
  t.same(h.at(120_000), { ...tripped, locked: ['A-CB'] }, 'stays locked out');
  t.same(h.ops, [
    '0 A-CB open protection',
    '2000 A-CB closed protection',
    '2000 A-CB open protection',
    '17000 A-CB closed protection',
    '17000 A-CB open protection',
    '17000 A-CB locked',
  ]);
  t.same(h.model.state().faults, ['A-S2']);
  // The operator clears the fault and closes the breaker: the lockout is released.
  h.model.clearFault('A-S2');
  h.model.setSwitch('A-CB', 'closed');
  t.same(h.view(), { live: ALL_LIVE, open: ['TIE-AB'], locked: [], flagged: [] }, 'restored by the operator');
});

t.test('a device without protection settings trips and locks out at once', async (t) => {
  const h = harness(faSite({ mode: 'none' }));
  h.model.injectFault('B-S2');
  const expected = { live: ['A-S1', 'A-S2', 'A-S3', 'A-S4'], open: ['B-CB', 'TIE-AB'], locked: ['B-CB'], flagged: ['B-CB', 'B-SW1'] };
  t.same(h.view(), expected, '0 s: B-CB open and locked out');
  t.same(h.fa.pendingTimers(), []);
  t.same(h.at(60_000), expected);
});

t.test('a new fault long after a successful reclose starts a new sequence', async (t) => {
  const h = harness(faSite({ mode: 'none', deadTimesMs: [2000] }));
  h.model.injectFault('A-S3', { permanent: false });
  h.at(2000);
  t.same(h.view().open, ['TIE-AB'], 'reclosed');
  h.at(100_000);
  h.model.injectFault('A-S3', { permanent: false });
  t.same(h.fa.pendingTimers(), [{ key: 'reclose:A-CB', dueMs: 102_000 }], 'shot 1 again, not a lockout');
  t.same(h.at(102_000).open, ['TIE-AB']);
  t.equal(h.fa.protection.shotsUsed('A-CB'), 1);
});
