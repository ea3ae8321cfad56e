import t from 'tap';
import { ManualClock } from '../../gateway/clock.js';
import { FeederModel } from '../../simulators/feeder-model.js';
import {
  parseDuration,
  parseScenario,
  ScenarioError,
  ScenarioRunner,
  type Scheduler,
} from '../../simulators/scenario.js';
import { simSite } from '../fixtures/sim-site.js';
import { FakeScheduler } from '../helpers/fake-scheduler.js';

function errorOf(text: string): ScenarioError {
  try {
    parseScenario(text, simSite(), 'test.yaml');
  } catch (err) {
    if (err instanceof ScenarioError) return err;
    throw err;
  }
  throw new Error('expected a ScenarioError');
}

t.test('durations', async (t) => {
  t.equal(parseDuration('500ms'), 500);
  t.equal(parseDuration('15s'), 15_000);
  t.equal(parseDuration('2m'), 120_000);
  t.equal(parseDuration('1.5s'), 1_500);
  t.equal(parseDuration('1h'), 3_600_000);
  t.equal(parseDuration(0), 0);
  t.equal(parseDuration('15'), undefined, 'a unit is required');
  t.equal(parseDuration(15), undefined, 'a bare number is ambiguous');
  t.equal(parseDuration('-1s'), undefined);
  t.equal(parseDuration('1d'), undefined);
});

t.test('a valid scenario parses into typed steps', async (t) => {
  const scenario = parseScenario(
    `name: fault and restore
loop: true
steps:
  - { at: 0, meterLink: CA11, up: false }
  - { at: 15s, fault: A-S3 }
  - { at: 45s, clearFault: A-S3 }
  - { at: 50s, switch: A-R1, position: closed }
  - { at: 1m, meterLink: CA11, up: true }
`,
    simSite(),
  );
  t.same(scenario, {
    name: 'fault and restore',
    loop: true,
    steps: [
      { atMs: 0, action: { kind: 'meterLink', customer: 'CA11', up: false } },
      { atMs: 15_000, action: { kind: 'fault', section: 'A-S3', permanent: true } },
      { atMs: 45_000, action: { kind: 'clearFault', section: 'A-S3' } },
      { atMs: 50_000, action: { kind: 'switch', switch: 'A-R1', position: 'closed' } },
      { atMs: 60_000, action: { kind: 'meterLink', customer: 'CA11', up: true } },
    ],
  });
});

t.test('loop defaults to false', async (t) => {
  t.equal(parseScenario('name: x\nsteps: [{ at: 1s, fault: A-S1 }]\n', simSite()).loop, false);
});

t.test('errors name the step index and key', async (t) => {
  t.equal(
    errorOf('name: x\nsteps:\n  - { at: 1s, fault: A-S1 }\n  - { at: 2s, fault: A-S9 }\n').message,
    'test.yaml: steps[1].fault: unknown section "A-S9"',
  );
  t.equal(
    errorOf('name: x\nsteps:\n  - { at: 1s, switch: A-XX, position: open }\n').message,
    'test.yaml: steps[0].switch: unknown switch "A-XX"',
  );
  t.equal(
    errorOf('name: x\nsteps:\n  - { at: 1s, meterLink: C404, up: false }\n').message,
    'test.yaml: steps[0].meterLink: unknown customer "C404"',
  );
  t.equal(
    errorOf('name: x\nsteps:\n  - { at: 1s, switch: A-R1, position: ajar }\n').message,
    'test.yaml: steps[0].position: must be open or closed, got "ajar"',
  );
  t.equal(
    errorOf('name: x\nsteps:\n  - { at: 1s, meterLink: CA11 }\n').message,
    'test.yaml: steps[0].up: must be true or false, got nothing',
  );
  t.equal(
    errorOf('name: x\nsteps:\n  - { at: soon, fault: A-S1 }\n').message,
    'test.yaml: steps[0].at: must be a duration like 500ms, 15s or 2m, got "soon"',
  );
  t.equal(
    errorOf('name: x\nsteps:\n  - { at: 1s, fault: A-S1, position: open }\n').message,
    'test.yaml: steps[0].position: not allowed in a fault step (allowed: at, fault, permanent)',
  );
  t.equal(
    errorOf('name: x\nsteps:\n  - { at: 1s, fault: A-S1, clearFault: A-S1 }\n').message,
    'test.yaml: steps[0].clearFault: needs exactly one action of fault, clearFault, switch, meterLink, deviceFault, found fault, clearFault',
  );
  t.equal(
    errorOf('name: x\nsteps:\n  - { at: 1s }\n').message,
    'test.yaml: steps[0]: needs exactly one action of fault, clearFault, switch, meterLink, deviceFault, found none',
  );
  t.equal(
    errorOf('name: x\nsteps:\n  - { at: 20s, fault: A-S1 }\n  - { at: 10s, clearFault: A-S1 }\n').message,
    'test.yaml: steps[1].at: 10s is before the previous step; steps must be in time order',
  );
  t.equal(errorOf('name: x\nsteps:\n  - just a string\n').message, 'test.yaml: steps[0]: must be a mapping like { at: 15s, fault: F1-S3 }');
});

t.test('file-level errors', async (t) => {
  t.equal(errorOf('name: x\nsteps: []\n').message, 'test.yaml: steps: must be a non-empty list of steps');
  t.equal(
    errorOf('steps: [{ at: 1s, fault: A-S1 }]\nrepeat: 3\n').message,
    'test.yaml: repeat: unknown key (allowed: name, loop, steps); name: must be a non-empty string',
  );
  t.equal(errorOf('name: x\nloop: yes please\nsteps: [{ at: 1s, fault: A-S1 }]\n').message, 'test.yaml: loop: must be true or false');
  t.equal(
    errorOf('name: x\nloop: true\nsteps: [{ at: 0, fault: A-S1 }]\n').message,
    'test.yaml: loop: a looping scenario needs its last step after 0 (the cycle would take no time)',
  );
  t.match(errorOf('name: [unclosed\n').message, /^test\.yaml: not valid YAML: /);
  t.equal(errorOf('- a list\n').message, 'test.yaml: must be a mapping with name, loop and steps');
});

t.test('every problem is reported at once, with index and key', async (t) => {
  const err = errorOf('name: x\nsteps:\n  - { at: 1s, fault: NOPE }\n  - { at: 2s, switch: A-R1, position: shut }\n');
  t.same(err.issues, [
    { step: 0, key: 'fault', message: 'unknown section "NOPE"' },
    { step: 1, key: 'position', message: 'must be open or closed, got "shut"' },
  ]);
});

t.test('a 60 s scenario runs on a fake clock', async (t) => {
  const clock = new ManualClock(1_000_000);
  const scheduler = new FakeScheduler(clock);
  const model = new FeederModel(simSite(), { clock });
  const scenario = parseScenario(
    `name: recloser trip and restore
steps:
  - { at: 10s, fault: A-S3 }
  - { at: 30s, clearFault: A-S3 }
  - { at: 35s, switch: A-R1, position: closed }
  - { at: 40s, meterLink: CB21, up: false }
  - { at: 60s, meterLink: CB21, up: true }
`,
    simSite(),
  );
  const runner = new ScenarioRunner(scenario, model, { clock, scheduler });
  runner.start();
  t.equal(runner.running, true);

  scheduler.advanceTo(1_009_999);
  t.same(model.state().faults, [], 'nothing before 10 s');
  scheduler.advanceTo(1_010_000);
  t.same(model.state().faults, ['A-S3']);
  t.same(model.state().deenergizedSections, ['A-S2', 'A-S3', 'A-S4']);
  t.equal(model.state().switches['A-R1']?.position, 'open');

  scheduler.advanceTo(1_034_999);
  t.same(model.state().faults, [], 'cleared at 30 s');
  t.same(model.state().deenergizedSections, ['A-S2', 'A-S3', 'A-S4'], 'still dark until reclosed');
  scheduler.advanceTo(1_035_000);
  t.same(model.state().deenergizedSections, []);

  scheduler.advanceTo(1_045_000);
  t.equal(model.state().meterLinks['CB21'], false);
  scheduler.advanceTo(1_060_000);
  t.equal(model.state().meterLinks['CB21'], true);
  t.equal(runner.running, false, 'a non-looping scenario ends after its last step');
  t.equal(scheduler.pending, 0);
});

t.test('a looping scenario starts again after its last step', async (t) => {
  const clock = new ManualClock(0);
  const scheduler = new FakeScheduler(clock);
  const model = new FeederModel(simSite(), { clock });
  const scenario = parseScenario(
    `name: blink
loop: true
steps:
  - { at: 5s, switch: A-FU1, position: open }
  - { at: 20s, switch: A-FU1, position: closed }
`,
    simSite(),
  );
  const operations: Array<[number, string]> = [];
  model.onChange((e) => {
    if (e.type === 'switchOperated') operations.push([clock.now(), e.position]);
  });
  const runner = new ScenarioRunner(scenario, model, { clock, scheduler });
  runner.start();
  scheduler.advanceTo(60_000);
  t.same(operations, [
    [5_000, 'open'],
    [20_000, 'closed'],
    [25_000, 'open'],
    [40_000, 'closed'],
    [45_000, 'open'],
    [60_000, 'closed'],
  ]);
  runner.stop();
  t.equal(runner.running, false);
  t.equal(scheduler.pending, 0, 'stop cancels the pending step');
});

t.test('late timers do not drift: steps are due at absolute times', async (t) => {
  const clock = new ManualClock(0);
  const delays: number[] = [];
  const pending: Array<() => void> = [];
  const scheduler: Scheduler = {
    schedule(fn, delayMs) {
      delays.push(delayMs);
      pending.push(fn);
      return () => undefined;
    },
  };
  const model = new FeederModel(simSite(), { clock });
  const scenario = parseScenario('name: x\nsteps:\n  - { at: 10s, fault: A-S1 }\n  - { at: 20s, clearFault: A-S1 }\n', simSite());
  new ScenarioRunner(scenario, model, { clock, scheduler }).start();
  clock.set(12_000); // the first timer fires 2 s late
  pending.shift()?.();
  t.same(delays, [10_000, 8_000]);
});
