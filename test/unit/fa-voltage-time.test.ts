/**
 * Voltage-time FA on the FA fixture (test/fixtures/fa-site.ts): A-CB recloses after 5 s and 15 s;
 * X 7 s, Y 5 s, XL 45 s, loss-of-voltage open 3 s. Every expected state below is worked out by hand:
 *
 * Fault on A-S2 (permanent) at 0 s:
 *    0 s  A-CB trips; A-S1..A-S4 dark; flags A-CB, A-SW1; the tie sees one-sided voltage: XL runs to 45 s
 *    3 s  A-SW1, A-SW2, A-SW3 open on loss of voltage
 *    5 s  A-CB recloses (shot 1): A-S1 live; A-SW1 counts X
 *   12 s  A-SW1 closes onto A-S2: A-CB trips (continues the sequence: shot 2 due at 27 s); A-SW1 saw the
 *         voltage vanish within Y: locks; A-SW2 saw a pulse on A-S2: locks (residual voltage)
 *   15 s  A-SW1 opens on loss of voltage (locked)
 *   27 s  A-CB recloses: A-S1 live (upstream restored)
 *   45 s  TIE-AB closes (capacity: B 24 A + A-S3, A-S4 24 A <= 400 A): A-S4 live from B; A-SW3 counts X
 *   52 s  A-SW3 closes: A-S3 live (restored by transfer)
 */
import t from 'tap';
import { faSite } from '../fixtures/fa-site.js';
import { harness } from '../helpers/fa-harness.js';

t.test('success: isolate A-S2, restore A-S1 upstream and A-S3, A-S4 through the tie', async (t) => {
  const h = harness(faSite({ mode: 'voltageTime' }));
  h.model.injectFault('A-S2');
  t.same(h.view(), { live: ['B-S1', 'B-S2'], open: ['A-CB', 'TIE-AB'], locked: [], flagged: ['A-CB', 'A-SW1'] }, '0 s: A-CB tripped');
  t.same(h.fa.pendingTimers(), [
    { key: 'vt.lov:A-SW1', dueMs: 3000 },
    { key: 'vt.lov:A-SW2', dueMs: 3000 },
    { key: 'vt.lov:A-SW3', dueMs: 3000 },
    { key: 'reclose:A-CB', dueMs: 5000 },
    { key: 'vt.xl:TIE-AB', dueMs: 45_000 },
  ]);
  t.same(h.at(3000), { live: ['B-S1', 'B-S2'], open: ['A-CB', 'A-SW1', 'A-SW2', 'A-SW3', 'TIE-AB'], locked: [], flagged: ['A-CB', 'A-SW1'] }, '3 s: loss-of-voltage open');
  t.same(h.at(5000), { live: ['A-S1', 'B-S1', 'B-S2'], open: ['A-SW1', 'A-SW2', 'A-SW3', 'TIE-AB'], locked: [], flagged: ['A-CB', 'A-SW1'] }, '5 s: A-CB reclosed');
  t.same(h.at(11_999).open, ['A-SW1', 'A-SW2', 'A-SW3', 'TIE-AB'], '11.999 s: A-SW1 still counting X');
  t.same(h.at(12_000), { live: ['B-S1', 'B-S2'], open: ['A-CB', 'A-SW2', 'A-SW3', 'TIE-AB'], locked: ['A-SW1', 'A-SW2'], flagged: ['A-CB', 'A-SW1'] }, '12 s: closed onto the fault, A-CB tripped, A-SW1 and A-SW2 locked');
  t.same(h.at(15_000), { live: ['B-S1', 'B-S2'], open: ['A-CB', 'A-SW1', 'A-SW2', 'A-SW3', 'TIE-AB'], locked: ['A-SW1', 'A-SW2'], flagged: ['A-CB', 'A-SW1'] }, '15 s: A-SW1 opened');
  t.same(h.at(27_000), { live: ['A-S1', 'B-S1', 'B-S2'], open: ['A-SW1', 'A-SW2', 'A-SW3', 'TIE-AB'], locked: ['A-SW1', 'A-SW2'], flagged: ['A-CB', 'A-SW1'] }, '27 s: A-CB reclosed (shot 2), A-S1 back');
  t.same(h.at(45_000), { live: ['A-S1', 'A-S4', 'B-S1', 'B-S2'], open: ['A-SW1', 'A-SW2', 'A-SW3'], locked: ['A-SW1', 'A-SW2'], flagged: ['A-CB', 'A-SW1'] }, '45 s: tie closed, A-S4 back-fed');
  t.same(h.at(52_000), { live: ['A-S1', 'A-S3', 'A-S4', 'B-S1', 'B-S2'], open: ['A-SW1', 'A-SW2'], locked: ['A-SW1', 'A-SW2'], flagged: ['A-CB', 'A-SW1'] }, '52 s: A-SW3 closed, A-S3 back');
  t.same(h.at(120_000).live, ['A-S1', 'A-S3', 'A-S4', 'B-S1', 'B-S2'], 'end state: only A-S2 out');
  t.same(h.fa.pendingTimers(), []);
  t.same(h.ops, [
    '0 A-CB open protection',
    '3000 A-SW1 open automation',
    '3000 A-SW2 open automation',
    '3000 A-SW3 open automation',
    '5000 A-CB closed protection',
    '12000 A-SW1 closed automation',
    '12000 A-CB open protection',
    '12000 A-SW1 locked',
    '12000 A-SW2 locked',
    '15000 A-SW1 open automation',
    '27000 A-CB closed protection',
    '45000 TIE-AB closed automation',
    '52000 A-SW3 closed automation',
  ]);
  t.same(
    h.fa.voltageTime.notes.filter((n) => n.kind === 'lock').map((n) => (n.kind === 'lock' ? `${n.atMs} ${n.switch} ${n.reason}` : '')),
    ['12000 A-SW1 closedOntoFault', '12000 A-SW2 residualVoltage'],
  );
  t.equal(h.model.isLocked('A-CB'), false, 'the breaker never locked out');
});

t.test('partial: feeder B is short of capacity, the tie stays open', async (t) => {
  // B carries 24 A; taking A-S3 and A-S4 would make it 48 A > 30 A.
  const h = harness(faSite({ mode: 'voltageTime', capacityB: 30 }));
  h.model.injectFault('A-S2');
  t.same(h.at(27_000).live, ['A-S1', 'B-S1', 'B-S2'], '27 s: upstream restored');
  t.same(h.at(45_000), { live: ['A-S1', 'B-S1', 'B-S2'], open: ['A-SW1', 'A-SW2', 'A-SW3', 'TIE-AB'], locked: ['A-SW1', 'A-SW2'], flagged: ['A-CB', 'A-SW1'] }, '45 s: tie held open');
  t.same(h.at(120_000).live, ['A-S1', 'B-S1', 'B-S2'], 'A-S2, A-S3, A-S4 still out');
  const held = h.fa.voltageTime.notes.find((n) => n.kind === 'tieHeld');
  t.same(held?.kind === 'tieHeld' ? { at: held.atMs, ...held.check } : undefined, {
    at: 45_000, tie: 'TIE-AB', feeder: 'B', presentA: 24, transferA: 24, capacityA: 30, sections: ['A-S3', 'A-S4'], ok: false,
  });
});

t.test('failure: fault in the first section, nothing upstream to restore and B short of capacity', async (t) => {
  // 0 s trip; 3 s switches open; 5 s reclose onto A-S1: trip, A-SW1 locks (pulse on A-S1); 20 s reclose
  // onto A-S1 again: trip, LOCKOUT; 45 s the tie would carry 24 + 36 A > 30 A: held. Nothing comes back.
  const h = harness(faSite({ mode: 'voltageTime', capacityB: 30 }));
  h.model.injectFault('A-S1');
  t.same(h.at(5000), { live: ['B-S1', 'B-S2'], open: ['A-CB', 'A-SW1', 'A-SW2', 'A-SW3', 'TIE-AB'], locked: ['A-SW1'], flagged: ['A-CB'] }, '5 s: reclosed onto the fault, A-SW1 locked by the pulse');
  t.same(h.at(20_000), { live: ['B-S1', 'B-S2'], open: ['A-CB', 'A-SW1', 'A-SW2', 'A-SW3', 'TIE-AB'], locked: ['A-CB', 'A-SW1'], flagged: ['A-CB'] }, '20 s: second reclose failed, A-CB locked out');
  t.same(h.at(120_000).live, ['B-S1', 'B-S2'], 'all of feeder A still out');
});

t.test('fault in the last section: the tie locks on the residual pulse, no transfer onto the fault', async (t) => {
  // 0 s trip; 3 s open; 5 s reclose; 12 s A-SW1 closes (A-S2 live); 19 s A-SW2 closes (A-S3 live);
  // 26 s A-SW3 closes onto A-S4: trip (shot 2 at 41 s), A-SW3 locks, the tie sees the pulse and locks;
  // 29 s A-SW1, A-SW2 open, A-SW3 opens; 41 s reclose; 48 s A-SW1; 55 s A-SW2: A-S1..A-S3 back.
  const h = harness(faSite({ mode: 'voltageTime' }));
  h.model.injectFault('A-S4');
  t.same(h.at(26_000), { live: ['B-S1', 'B-S2'], open: ['A-CB', 'TIE-AB'], locked: ['A-SW3', 'TIE-AB'], flagged: ['A-CB', 'A-SW1', 'A-SW2', 'A-SW3'] }, '26 s: A-SW3 closed onto A-S4');
  t.same(h.at(41_000).live, ['A-S1', 'B-S1', 'B-S2'], '41 s: reclosed');
  t.same(h.at(55_000), { live: ['A-S1', 'A-S2', 'A-S3', 'B-S1', 'B-S2'], open: ['A-SW3', 'TIE-AB'], locked: ['A-SW3', 'TIE-AB'], flagged: ['A-CB', 'A-SW1', 'A-SW2', 'A-SW3'] }, '55 s: all but A-S4 back');
  t.same(h.at(200_000).live, ['A-S1', 'A-S2', 'A-S3', 'B-S1', 'B-S2']);
});

t.test('temporary fault: sections come back switch by switch, the tie stays open', async (t) => {
  // 0 s trip (fault out); 3 s open; 5 s reclose; 12 s A-SW1; 19 s A-SW2; 26 s A-SW3: all back, XL cancelled.
  const h = harness(faSite({ mode: 'voltageTime' }));
  h.model.injectFault('A-S3', { permanent: false });
  t.same(h.at(19_000).live, ['A-S1', 'A-S2', 'A-S3', 'B-S1', 'B-S2'], '19 s: A-S3 back, its flags reset');
  t.same(h.at(26_000), { live: ['A-S1', 'A-S2', 'A-S3', 'A-S4', 'B-S1', 'B-S2'], open: ['TIE-AB'], locked: [], flagged: [] }, '26 s: all back');
  t.same(h.fa.pendingTimers(), []);
});
