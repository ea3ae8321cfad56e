import t from 'tap';
import { ManualClock } from '../../gateway/clock.js';
import { FeederModel, type ModelEvent, UnknownIdError } from '../../simulators/feeder-model.js';
import { simSite } from '../fixtures/sim-site.js';

// Topology (test/fixtures/sim-site.ts):
//   bus =[A-CB]= A-S1 =[A-R1]= A-S2 =[A-SW1]= A-S3 =[TIE-AB, n.o.]= B-S2 =[B-SW1]= B-S1 =[B-CB]= bus
//                              A-S2 =[A-FU1]= A-S4

function newModel(): FeederModel {
  return new FeederModel(simSite(), { clock: new ManualClock(0) });
}

/** The switches whose fault flag is set, sorted. */
function flagged(model: FeederModel): string[] {
  return Object.entries(model.state().switches)
    .filter(([, s]) => s.faultFlag)
    .map(([id]) => id);
}

function openSwitches(model: FeederModel): string[] {
  return Object.entries(model.state().switches)
    .filter(([, s]) => s.position === 'open')
    .map(([id]) => id);
}

t.test('normal configuration: everything energized, only the tie open', async (t) => {
  const model = newModel();
  const state = model.state();
  t.same(state.energizedSections, ['A-S1', 'A-S2', 'A-S3', 'A-S4', 'B-S1', 'B-S2']);
  t.same(state.deenergizedSections, []);
  t.same(openSwitches(model), ['TIE-AB']);
  t.same(state.faults, []);
  t.same(Object.keys(state.switches), ['A-CB', 'A-FU1', 'A-R1', 'A-SW1', 'B-CB', 'B-SW1', 'TIE-AB']);
  t.same(state.meterLinks, {
    CA11: true, CA12: true, CA21: true, CA31: true, CA32: true, CA41: true, CB11: true, CB21: true, CB22: true,
  });
});

t.test('fault on A-S3 trips the recloser A-R1 and flags A-CB, A-R1, A-SW1', async (t) => {
  const model = newModel();
  model.injectFault('A-S3');
  const state = model.state();
  t.same(openSwitches(model), ['A-R1', 'TIE-AB']);
  t.same(flagged(model), ['A-CB', 'A-R1', 'A-SW1']);
  t.same(state.deenergizedSections, ['A-S2', 'A-S3', 'A-S4']);
  t.same(state.energizedSections, ['A-S1', 'B-S1', 'B-S2']);
  t.same(state.faults, ['A-S3']);
});

t.test('fault on A-S1 trips the breaker A-CB, flagged alone', async (t) => {
  const model = newModel();
  model.injectFault('A-S1');
  t.same(openSwitches(model), ['A-CB', 'TIE-AB']);
  t.same(flagged(model), ['A-CB']);
  t.same(model.state().deenergizedSections, ['A-S1', 'A-S2', 'A-S3', 'A-S4']);
});

t.test('fault on the fused lateral A-S4 trips A-R1 (fuses do not blow by themselves)', async (t) => {
  const model = newModel();
  model.injectFault('A-S4');
  t.same(openSwitches(model), ['A-R1', 'TIE-AB']);
  t.same(flagged(model), ['A-CB', 'A-FU1', 'A-R1']);
  t.same(model.state().deenergizedSections, ['A-S2', 'A-S3', 'A-S4']);
});

t.test('fault on B-S2 trips B-CB: there is no recloser on feeder B', async (t) => {
  const model = newModel();
  model.injectFault('B-S2');
  t.same(openSwitches(model), ['B-CB', 'TIE-AB']);
  t.same(flagged(model), ['B-CB', 'B-SW1']);
  t.same(model.state().deenergizedSections, ['B-S1', 'B-S2']);
});

t.test('closing onto a fault re-trips, with the same flags', async (t) => {
  const model = newModel();
  model.injectFault('A-S3');
  model.setSwitch('A-R1', 'closed');
  t.same(openSwitches(model), ['A-R1', 'TIE-AB']);
  t.same(flagged(model), ['A-CB', 'A-R1', 'A-SW1']);
  t.same(model.state().deenergizedSections, ['A-S2', 'A-S3', 'A-S4']);
});

t.test('isolation by hand, then closing the tie onto the fault trips B-CB', async (t) => {
  const model = newModel();
  model.injectFault('A-S3');
  model.setSwitch('A-SW1', 'open');
  model.setSwitch('A-R1', 'closed');
  t.same(openSwitches(model), ['A-SW1', 'TIE-AB']);
  t.same(model.state().deenergizedSections, ['A-S3']);

  model.setSwitch('TIE-AB', 'closed');
  // Fed from B now: B-CB, B-SW1 and the tie see the fault current; B-CB is the only tripping device on that path.
  t.same(openSwitches(model), ['A-SW1', 'B-CB']);
  t.same(flagged(model), ['A-CB', 'A-R1', 'A-SW1', 'B-CB', 'B-SW1', 'TIE-AB']);
  t.same(model.state().deenergizedSections, ['A-S3', 'B-S1', 'B-S2']);
  t.same(model.state().energizedSections, ['A-S1', 'A-S2', 'A-S4']);
});

t.test('clearing the fault resets the flags; reclosing restores everything', async (t) => {
  const model = newModel();
  model.injectFault('A-S3');
  model.clearFault('A-S3');
  t.same(flagged(model), []);
  t.same(model.state().faults, []);
  t.same(model.state().deenergizedSections, ['A-S2', 'A-S3', 'A-S4'], 'clearing does not reclose');
  model.setSwitch('A-R1', 'closed');
  t.same(openSwitches(model), ['TIE-AB']);
  t.same(model.state().deenergizedSections, []);
});

t.test('clearing one of two faults keeps the flags of the other', async (t) => {
  const model = newModel();
  model.injectFault('A-S3');
  model.injectFault('B-S2');
  t.same(flagged(model), ['A-CB', 'A-R1', 'A-SW1', 'B-CB', 'B-SW1']);
  model.clearFault('A-S3');
  t.same(flagged(model), ['B-CB', 'B-SW1']);
  t.same(model.state().faults, ['B-S2']);
});

t.test('clearing a section without a fault is a no-op', async (t) => {
  const model = newModel();
  const events: ModelEvent[] = [];
  model.onChange((e) => events.push(e));
  model.clearFault('A-S2');
  t.same(events, []);
});

t.test('tie back-feed: A-R1 open, TIE-AB closed feeds A-S3, and through A-SW1 also A-S2 and A-S4', async (t) => {
  const model = newModel();
  model.setSwitch('A-R1', 'open');
  t.same(model.state().deenergizedSections, ['A-S2', 'A-S3', 'A-S4']);
  model.setSwitch('TIE-AB', 'closed');
  t.same(model.state().deenergizedSections, []);
  model.setSwitch('A-SW1', 'open');
  t.same(model.state().energizedSections, ['A-S1', 'A-S3', 'B-S1', 'B-S2']);
  t.same(model.state().deenergizedSections, ['A-S2', 'A-S4']);
});

t.test('a fault in a closed loop is fed from both ends: both feeding paths trip', async (t) => {
  const model = newModel();
  model.setSwitch('TIE-AB', 'closed');
  model.injectFault('A-S3');
  t.same(openSwitches(model), ['A-R1', 'B-CB']);
  t.same(flagged(model), ['A-CB', 'A-R1', 'A-SW1', 'B-CB', 'B-SW1', 'TIE-AB']);
  t.same(model.state().energizedSections, ['A-S1']);
});

t.test('a fault on a dark section is only recorded; closing onto it trips later', async (t) => {
  const model = newModel();
  model.setSwitch('A-CB', 'open');
  model.injectFault('A-S2');
  t.same(openSwitches(model), ['A-CB', 'TIE-AB'], 'nothing trips');
  t.same(flagged(model), [], 'no fault current');
  t.same(model.state().faults, ['A-S2']);
  model.setSwitch('A-CB', 'closed');
  t.same(openSwitches(model), ['A-R1', 'TIE-AB']);
  t.same(flagged(model), ['A-CB', 'A-R1']);
  t.same(model.state().energizedSections, ['A-S1', 'B-S1', 'B-S2']);
});

t.test('blown fuse: opening A-FU1 darkens only A-S4', async (t) => {
  const model = newModel();
  model.setSwitch('A-FU1', 'open');
  t.same(model.state().deenergizedSections, ['A-S4']);
  model.setSwitch('A-FU1', 'closed');
  t.same(model.state().deenergizedSections, []);
});

t.test('events: a command, then the protection trip, delivered after the operation settled', async (t) => {
  const model = newModel();
  const seen: Array<{ event: ModelEvent; dark: string[] }> = [];
  model.onChange((event) => seen.push({ event, dark: model.state().deenergizedSections }));
  model.injectFault('A-S3');
  model.setSwitch('A-R1', 'closed');
  t.same(seen, [
    { event: { type: 'faultInjected', section: 'A-S3', permanent: true }, dark: ['A-S2', 'A-S3', 'A-S4'] },
    { event: { type: 'switchOperated', switch: 'A-R1', position: 'open', cause: 'protection' }, dark: ['A-S2', 'A-S3', 'A-S4'] },
    // No reclosing controller: the trip locks out at once; the operator's close releases the lockout.
    { event: { type: 'lockout', switch: 'A-R1', locked: true }, dark: ['A-S2', 'A-S3', 'A-S4'] },
    { event: { type: 'lockout', switch: 'A-R1', locked: false }, dark: ['A-S2', 'A-S3', 'A-S4'] },
    { event: { type: 'switchOperated', switch: 'A-R1', position: 'closed', cause: 'command' }, dark: ['A-S2', 'A-S3', 'A-S4'] },
    { event: { type: 'switchOperated', switch: 'A-R1', position: 'open', cause: 'protection' }, dark: ['A-S2', 'A-S3', 'A-S4'] },
    { event: { type: 'lockout', switch: 'A-R1', locked: true }, dark: ['A-S2', 'A-S3', 'A-S4'] },
    // Closing onto the fault: A-S2..A-S4 were live for an instant.
    { event: { type: 'voltagePulse', sections: ['A-S2', 'A-S3', 'A-S4'] }, dark: ['A-S2', 'A-S3', 'A-S4'] },
  ]);
});

t.test('a throwing listener does not stop the others; unsubscribe works', async (t) => {
  const model = newModel();
  const seen: string[] = [];
  model.onChange(() => {
    throw new Error('boom');
  });
  const off = model.onChange((e) => seen.push(e.type));
  model.setMeterLink('CA11', false);
  off();
  model.setMeterLink('CA11', true);
  t.same(seen, ['meterLink']);
});

t.test('meter values: near nominal when supplied, zeros when dark, deterministic', async (t) => {
  const clock = new ManualClock(0);
  const model = new FeederModel(simSite(), { clock });
  for (const ms of [0, 7_000, 15_000, 31_000, 45_000]) {
    clock.set(ms);
    const v = model.meterValues('CA31');
    t.ok(v.voltage >= 217.8 && v.voltage <= 222.2, `voltage ${v.voltage} within 1 % of 220 V at ${ms} ms`);
    t.ok(v.current >= 1.3 && v.current <= 7.2, `household current ${v.current} A`);
    t.ok(Math.abs(v.power - v.voltage * v.current * 0.95) < 1e-9, 'power = V x I x 0.95');
  }
  const again = new FeederModel(simSite(), { clock });
  t.same(again.meterValues('CA31'), model.meterValues('CA31'), 'same clock, same values');
  model.injectFault('A-S3');
  t.same(model.meterValues('CA31'), { voltage: 0, current: 0, power: 0 });
  t.same(model.meterValues('CA41'), { voltage: 0, current: 0, power: 0 });
  t.ok(model.meterValues('CA11').voltage > 200, 'upstream of the recloser still supplied');
});

t.test('FTU values: position, flag, current only when closed and carrying load, uab from the source side', async (t) => {
  const model = newModel();
  const cb = model.switchValues('A-CB');
  t.equal(cb.uab, 10_000);
  // A-CB carries the four transformers of feeder A at about 12 A each (+/- 5 %).
  t.ok(cb.ia > 45 && cb.ia < 51, `A-CB current ${cb.ia}`);
  const tie = model.switchValues('TIE-AB');
  t.same({ position: tie.position, ia: tie.ia, uab: tie.uab }, { position: 'open', ia: 0, uab: 10_000 });

  model.injectFault('A-S3');
  const r1 = model.switchValues('A-R1');
  t.same({ position: r1.position, faultFlag: r1.faultFlag, ia: r1.ia, uab: r1.uab }, { position: 'open', faultFlag: true, ia: 0, uab: 10_000 });
  const sw1 = model.switchValues('A-SW1');
  t.same({ position: sw1.position, faultFlag: sw1.faultFlag, ia: sw1.ia, uab: sw1.uab }, { position: 'closed', faultFlag: true, ia: 0, uab: 0 });
  t.equal(model.switchValues('TIE-AB').uab, 0, 'the tie source side (A-S3) is dark');
  const cbAfter = model.switchValues('A-CB');
  t.ok(cbAfter.ia > 11 && cbAfter.ia < 13, `A-CB now carries only TA1: ${cbAfter.ia}`);
});

t.test('meter links', async (t) => {
  const model = newModel();
  model.setMeterLink('CB21', false);
  t.equal(model.isMeterLinkUp('CB21'), false);
  t.equal(model.state().meterLinks['CB21'], false);
  t.equal(model.state().meterLinks['CB22'], true);
  model.reset();
  t.equal(model.isMeterLinkUp('CB21'), true);
});

t.test('reset returns to the normal configuration', async (t) => {
  const model = newModel();
  model.injectFault('A-S3');
  model.setSwitch('TIE-AB', 'closed');
  model.reset();
  t.same(model.state().faults, []);
  t.same(flagged(model), []);
  t.same(openSwitches(model), ['TIE-AB']);
  t.same(model.state().deenergizedSections, []);
});

t.test('unknown ids are UnknownIdError naming kind and id', async (t) => {
  const model = newModel();
  t.throws(() => model.injectFault('X-S9'), new UnknownIdError('section', 'X-S9'));
  t.throws(() => model.clearFault('X-S9'), { message: 'unknown section "X-S9"' });
  t.throws(() => model.setSwitch('X-CB', 'open'), new UnknownIdError('switch', 'X-CB'));
  t.throws(() => model.setMeterLink('C999', false), new UnknownIdError('customer', 'C999'));
  t.throws(() => model.meterValues('C999'), new UnknownIdError('customer', 'C999'));
});
