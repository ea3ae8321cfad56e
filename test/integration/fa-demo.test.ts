/**
 * The demo site (config/sites/demo.yaml, F1 with voltage-time FA) playing the demo scenario
 * (config/scenarios/demo-fault.yaml) on a fake clock: the permanent fault on F1-S3 at 15 s is handled by
 * the feeder automation well within 3 simulated minutes. Expected states and registers written out by hand:
 *
 *   15 s  F1-R1 trips: F1-S2, F1-S3, F1-S4 dark         27 s  F1-LS1 closes onto F1-S3: F1-R1 trips again;
 *   18 s  F1-LS1 opens on loss of voltage                      F1-LS1 and TIE-12 lock
 *   20 s  F1-R1 recloses: F1-S2, F1-S4 back              30 s  F1-LS1 opens (locked)
 *                                                        42 s  F1-R1 recloses: only F1-S3 out
 */
import t from 'tap';
import modbusSerial from 'modbus-serial';
import { ManualClock } from '../../gateway/clock.js';
import { loadSiteConfig } from '../../gateway/config/load-site.js';
import { loadScenario } from '../../simulators/scenario.js';
import { Simulator } from '../../simulators/simulator.js';
import { FakeScheduler } from '../helpers/fake-scheduler.js';

const ModbusRTU = modbusSerial.default;

/** The generic FTU layout: position, flags A B C N, lockout, voltage bits (bit 0 source, bit 1 load). */
async function readFtu(port: number, unit: number): Promise<number[]> {
  const client = new ModbusRTU();
  await client.connectTCP('127.0.0.1', { port });
  client.setID(unit);
  client.setTimeout(500);
  try {
    return (await client.readHoldingRegisters(0, 7)).data;
  } finally {
    await new Promise<void>((resolve) => client.close(() => resolve()));
  }
}

const ALL = ['F1-S1', 'F1-S2', 'F1-S3', 'F1-S4', 'F2-S1', 'F2-S2'];

t.test('demo: permanent fault on F1-S3 handled by voltage-time FA within 3 minutes', async (t) => {
  const site = await loadSiteConfig('config/sites/demo.yaml', {});
  const scenario = await loadScenario('config/scenarios/demo-fault.yaml', site);
  t.same(scenario.steps[0]?.action, { kind: 'fault', section: 'F1-S3', permanent: true });
  const clock = new ManualClock(0);
  const scheduler = new FakeScheduler(clock);
  const sim = new Simulator(site, { clock, scheduler, scenario, controlPort: 0, portOverride: () => 0 });
  const endpoints = await sim.start();
  t.teardown(() => sim.stop());
  const ftuPort = endpoints.modbusEndpoints.find((e) => e.port === 15020)?.boundPort ?? 0;
  const ops: string[] = [];
  sim.model.onChange((e) => {
    if (e.type === 'switchOperated') ops.push(`${clock.now() / 1000} s ${e.switch} ${e.position} ${e.cause}`);
    if (e.type === 'lockout') ops.push(`${clock.now() / 1000} s ${e.switch} ${e.locked ? 'locked' : 'unlocked'}`);
  });
  const live = (): string[] => sim.model.state().energizedSections;
  const outCustomers = (): string[] =>
    site.feeders.flatMap((f) => f.transformers.flatMap((tr) => tr.customers)).filter((c) => sim.model.meterValues(c).voltage === 0).sort();

  t.same(live(), ALL, 'all live before the fault');
  scheduler.advanceTo(15_000);
  t.same(live(), ['F1-S1', 'F2-S1', 'F2-S2'], '15 s: F1-R1 tripped');
  scheduler.advanceTo(16_000);
  // F1-R1 in its dead time: open, flagged A B C, not locked out, source live, load dead.
  t.same(await readFtu(ftuPort, 2), [1, 1, 1, 1, 0, 0, 1], '16 s: F1-R1 registers in the dead time');
  scheduler.advanceTo(18_000);
  t.equal(sim.model.switchStatus('F1-LS1').position, 'open', '18 s: F1-LS1 opened on loss of voltage');
  scheduler.advanceTo(20_000);
  t.same(live(), ['F1-S1', 'F1-S2', 'F1-S4', 'F2-S1', 'F2-S2'], '20 s: reclosed, F1-S2 and F1-S4 back');
  scheduler.advanceTo(27_000);
  t.same(live(), ['F1-S1', 'F2-S1', 'F2-S2'], '27 s: F1-LS1 closed onto the fault, F1-R1 tripped again');
  scheduler.advanceTo(42_000);
  t.same(live(), ['F1-S1', 'F1-S2', 'F1-S4', 'F2-S1', 'F2-S2'], '42 s: F1-R1 reclosed for good');
  t.same(outCustomers(), ['C10301', 'C10302', 'C10303'], '42 s: only the customers of F1-S3 are out');
  t.same(await readFtu(ftuPort, 3), [1, 1, 1, 1, 0, 1, 1], 'F1-LS1: open, flagged, locked, source live, load dead');
  t.same(await readFtu(ftuPort, 4), [1, 0, 0, 0, 0, 1, 2], 'TIE-12: open, locked, F1-S3 side dead, F2-S2 side live');
  t.same(await readFtu(ftuPort, 2), [2, 1, 1, 1, 0, 0, 3], 'F1-R1: closed, still flagged, not locked out, both sides live');
  t.same(ops, [
    '15 s F1-R1 open protection',
    '18 s F1-LS1 open automation',
    '20 s F1-R1 closed protection',
    '27 s F1-LS1 closed automation',
    '27 s F1-R1 open protection',
    '27 s F1-LS1 locked',
    '27 s TIE-12 locked',
    '30 s F1-LS1 open automation',
    '42 s F1-R1 closed protection',
  ]);
  scheduler.advanceTo(99_000);
  t.same(live(), ['F1-S1', 'F1-S2', 'F1-S4', 'F2-S1', 'F2-S2'], 'the end state holds until the repair');
  t.same(sim.automation?.pendingTimers().filter((x) => !x.key.startsWith('scenario')), [], 'no automation timer left');

  scheduler.advanceTo(110_000);
  t.same(live(), ALL, '110 s: repaired, all live');
  t.same(sim.model.state().switches['TIE-12'], { position: 'open', faultFlag: false, lockout: false }, 'TIE-12 released');
  t.same(sim.model.state().switches['F1-LS1'], { position: 'closed', faultFlag: false, lockout: false }, 'F1-LS1 released');

  // The loop: the fault is back at 165 s and the same sequence runs (a new reclose sequence: the last
  // reclose, at 42 s, is beyond the 60 s reclaim time): trip 165, LS1 open 168, reclose 170, LS1 onto the
  // fault 177, reclose 192.
  scheduler.advanceTo(180_000);
  t.same(sim.model.state().faults, ['F1-S3'], 'the next cycle faulted F1-S3 again at 165 s');
  t.same(live(), ['F1-S1', 'F2-S1', 'F2-S2'], '180 s: between the second trip (177 s) and the reclose (192 s)');
  scheduler.advanceTo(192_000);
  t.same(live(), ['F1-S1', 'F1-S2', 'F1-S4', 'F2-S1', 'F2-S2'], '192 s: the same end state again');
});
