/**
 * Distributed FA on the FA fixture (test/fixtures/fa-site.ts): A-CB recloses once after 2 s; the FTUs
 * isolate at 0.3 s and transfer at 0.5 s after the trip. Expected states worked out by hand:
 *
 * Fault on A-S2 at 0 s: 0 s trip (flags A-CB, A-SW1); 0.3 s A-SW1 and A-SW2 open; 0.5 s TIE-AB closes
 * (B 24 A + 24 A <= 400 A): A-S3, A-S4 back; 2 s A-CB recloses onto a healthy A-S1: success, no lockout.
 */
import t from 'tap';
import { faSite } from '../fixtures/fa-site.js';
import { harness } from '../helpers/fa-harness.js';

t.test('success: isolated in 0.3 s, transferred at 0.5 s, the breaker recloses and never locks out', async (t) => {
  const h = harness(faSite({ mode: 'distributed', deadTimesMs: [2000] }));
  h.model.injectFault('A-S2');
  t.same(h.view(), { live: ['B-S1', 'B-S2'], open: ['A-CB', 'TIE-AB'], locked: [], flagged: ['A-CB', 'A-SW1'] }, '0 s: trip');
  t.same(h.at(300), { live: ['B-S1', 'B-S2'], open: ['A-CB', 'A-SW1', 'A-SW2', 'TIE-AB'], locked: [], flagged: ['A-CB', 'A-SW1'] }, '0.3 s: isolated');
  t.same(h.at(500), { live: ['A-S3', 'A-S4', 'B-S1', 'B-S2'], open: ['A-CB', 'A-SW1', 'A-SW2'], locked: [], flagged: ['A-CB', 'A-SW1'] }, '0.5 s: tie closed');
  t.same(h.at(2000), { live: ['A-S1', 'A-S3', 'A-S4', 'B-S1', 'B-S2'], open: ['A-SW1', 'A-SW2'], locked: [], flagged: ['A-CB', 'A-SW1'] }, '2 s: reclose succeeded');
  t.same(h.at(60_000).locked, []);
  t.same(h.ops, [
    '0 A-CB open protection',
    '300 A-SW1 open automation',
    '300 A-SW2 open automation',
    '500 TIE-AB closed automation',
    '2000 A-CB closed protection',
  ]);
});

t.test('partial: feeder B is short of capacity, the tie stays open', async (t) => {
  const h = harness(faSite({ mode: 'distributed', deadTimesMs: [2000], capacityB: 30 }));
  h.model.injectFault('A-S2');
  t.same(h.at(2000), { live: ['A-S1', 'B-S1', 'B-S2'], open: ['A-SW1', 'A-SW2', 'TIE-AB'], locked: [], flagged: ['A-CB', 'A-SW1'] });
  t.same(h.at(60_000).live, ['A-S1', 'B-S1', 'B-S2']);
});

t.test('failure: fault right behind the breaker (it isolates: reclosing blocked) and B short of capacity', async (t) => {
  const h = harness(faSite({ mode: 'distributed', deadTimesMs: [2000], capacityB: 30 }));
  h.model.injectFault('A-S1');
  t.same(h.view(), { live: ['B-S1', 'B-S2'], open: ['A-CB', 'TIE-AB'], locked: ['A-CB'], flagged: ['A-CB'] }, '0 s: trip, reclosing blocked, locked out');
  t.same(h.at(60_000), { live: ['B-S1', 'B-S2'], open: ['A-CB', 'A-SW1', 'TIE-AB'], locked: ['A-CB'], flagged: ['A-CB'] }, 'nothing restored');
});

t.test('fault right behind the breaker with capacity: A-S2..A-S4 fed through the tie at 0.5 s', async (t) => {
  const h = harness(faSite({ mode: 'distributed', deadTimesMs: [2000] }));
  h.model.injectFault('A-S1');
  t.same(h.at(500), { live: ['A-S2', 'A-S3', 'A-S4', 'B-S1', 'B-S2'], open: ['A-CB', 'A-SW1'], locked: ['A-CB'], flagged: ['A-CB'] });
});
