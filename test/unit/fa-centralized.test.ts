/**
 * Centralized FLISR on the FA fixture (test/fixtures/fa-site.ts): A-CB has one reclose shot after 2 s,
 * the master acts every 2 s after the lockout. Expected states worked out by hand:
 *
 * Fault on A-S2 at 0 s: 0 s trip; 2 s reclose onto the fault, trip, LOCKOUT; 4 s the master locates the
 * fault from the flags (A-CB, A-SW1 flagged: load side of A-SW1 = A-S2) and opens A-SW1; 6 s opens A-SW2;
 * 8 s recloses A-CB (A-S1 back); 10 s closes TIE-AB (B 24 A + A-S3, A-S4 24 A <= 400 A): A-S3, A-S4 back.
 */
import t from 'tap';
import { faSite } from '../fixtures/fa-site.js';
import { harness } from '../helpers/fa-harness.js';

const tripped = { live: ['B-S1', 'B-S2'], open: ['A-CB', 'TIE-AB'], locked: [] as string[], flagged: ['A-CB', 'A-SW1'] };

t.test('success: isolate A-S2, reclose A-CB, transfer A-S3 and A-S4 through the tie', async (t) => {
  const h = harness(faSite({ mode: 'centralized', deadTimesMs: [2000] }));
  h.model.injectFault('A-S2');
  t.same(h.view(), tripped, '0 s: trip');
  t.same(h.at(2000), { ...tripped, locked: ['A-CB'] }, '2 s: reclose failed, lockout');
  t.same(h.at(4000), { ...tripped, open: ['A-CB', 'A-SW1', 'TIE-AB'], locked: ['A-CB'] }, '4 s: A-SW1 opened');
  t.same(h.at(6000), { ...tripped, open: ['A-CB', 'A-SW1', 'A-SW2', 'TIE-AB'], locked: ['A-CB'] }, '6 s: A-SW2 opened');
  t.same(h.at(8000), { live: ['A-S1', 'B-S1', 'B-S2'], open: ['A-SW1', 'A-SW2', 'TIE-AB'], locked: [], flagged: ['A-CB', 'A-SW1'] }, '8 s: A-CB reclosed by the master');
  t.same(h.at(10_000), { live: ['A-S1', 'A-S3', 'A-S4', 'B-S1', 'B-S2'], open: ['A-SW1', 'A-SW2'], locked: [], flagged: ['A-CB', 'A-SW1'] }, '10 s: tie closed');
  t.same(h.at(60_000).live, ['A-S1', 'A-S3', 'A-S4', 'B-S1', 'B-S2']);
  t.same(h.ops, [
    '0 A-CB open protection',
    '2000 A-CB closed protection',
    '2000 A-CB open protection',
    '2000 A-CB locked',
    '4000 A-SW1 open automation',
    '6000 A-SW2 open automation',
    '8000 A-CB unlocked',
    '8000 A-CB closed automation',
    '10000 TIE-AB closed automation',
  ]);
  t.same(h.fa.centralized.notes[0], { kind: 'located', device: 'A-CB', section: 'A-S2', upstream: 'A-SW1', atMs: 4000 });
});

t.test('partial: feeder B is short of capacity, the tie stays open', async (t) => {
  const h = harness(faSite({ mode: 'centralized', deadTimesMs: [2000], capacityB: 30 }));
  h.model.injectFault('A-S2');
  t.same(h.at(10_000), { live: ['A-S1', 'B-S1', 'B-S2'], open: ['A-SW1', 'A-SW2', 'TIE-AB'], locked: [], flagged: ['A-CB', 'A-SW1'] }, '10 s: tie held');
  t.same(h.at(60_000).live, ['A-S1', 'B-S1', 'B-S2'], 'A-S2, A-S3, A-S4 out');
  t.equal(h.fa.centralized.notes[1]?.kind, 'tieHeld');
});

t.test('fault right behind the breaker: A-CB stays locked out, A-SW1 opens, the tie feeds the rest', async (t) => {
  // 0 s trip (flag A-CB only); 2 s lockout; 4 s located A-S1 (upstream A-CB): A-SW1 opened; 6 s tie
  // closed (B 24 A + A-S2..A-S4 36 A <= 400 A).
  const h = harness(faSite({ mode: 'centralized', deadTimesMs: [2000] }));
  h.model.injectFault('A-S1');
  t.same(h.at(4000), { live: ['B-S1', 'B-S2'], open: ['A-CB', 'A-SW1', 'TIE-AB'], locked: ['A-CB'], flagged: ['A-CB'] });
  t.same(h.at(6000), { live: ['A-S2', 'A-S3', 'A-S4', 'B-S1', 'B-S2'], open: ['A-CB', 'A-SW1'], locked: ['A-CB'], flagged: ['A-CB'] });
});

t.test('failure: fault right behind the breaker and B short of capacity: nothing restored', async (t) => {
  const h = harness(faSite({ mode: 'centralized', deadTimesMs: [2000], capacityB: 30 }));
  h.model.injectFault('A-S1');
  t.same(h.at(60_000), { live: ['B-S1', 'B-S2'], open: ['A-CB', 'A-SW1', 'TIE-AB'], locked: ['A-CB'], flagged: ['A-CB'] });
});

t.test('temporary fault: the reclose succeeds, the master does nothing', async (t) => {
  const h = harness(faSite({ mode: 'centralized', deadTimesMs: [2000] }));
  h.model.injectFault('A-S2', { permanent: false });
  t.same(h.at(60_000), { live: ['A-S1', 'A-S2', 'A-S3', 'A-S4', 'B-S1', 'B-S2'], open: ['TIE-AB'], locked: [], flagged: [] });
  t.same(h.ops, ['0 A-CB open protection', '2000 A-CB closed protection']);
});
