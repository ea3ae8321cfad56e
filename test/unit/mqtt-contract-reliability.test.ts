/**
 * The MQTT contract of `<root>/reliability`: real reports built by buildReliabilityReport over the scripted test
 * year (test/fixtures/reliability-year.ts) validate against config/schemas/mqtt/reliability.schema.json, in every
 * shape the type allows (targets or null, previous-year figures, null CAIDI/CAIFI, an empty period, an empty
 * site, both standards and a custom threshold); and a report with any field left out, any unknown field, or any
 * value of the wrong type is rejected with an error naming the field.
 */
import t, { type Test } from 'tap';
import { AREA_CLASSES } from '../../gateway/config/site-config.js';
import { MQTT_TOPICS, contractMessage } from '../../gateway/publish/contract.js';
import { Topics } from '../../gateway/publish/topics.js';
import { siteUnits } from '../../gateway/reliability/indices.js';
import { DLT_836_MOMENTARY_MS, IEEE_1366_MOMENTARY_MS } from '../../gateway/reliability/interruption-log.js';
import { buildReliabilityReport, type ReliabilityReport } from '../../gateway/reliability/report.js';
import { loadTargets } from '../../gateway/reliability/targets.js';
import { reliabilitySite, SITE_ID, testYear } from '../fixtures/reliability-year.js';
import { validatePayload } from '../helpers/contract-validator.js';

const TOPIC = `feederwatch/v1/${SITE_ID}/reliability`;
const units = siteUnits(reliabilitySite);
const END_2023 = Date.parse('2023-12-31T23:00:00.000Z');

type Json = Record<string, unknown>;

function report(over: Partial<Parameters<typeof buildReliabilityReport>[0]> = {}): ReliabilityReport {
  return buildReliabilityReport({
    siteId: SITE_ID,
    outages: testYear,
    units,
    nowMs: END_2023,
    momentaryThresholdMs: DLT_836_MOMENTARY_MS,
    targets: { file: loadTargets(), selection: { year: 2023 } },
    ...over,
  });
}

/** The report as a consumer receives it: the JSON the publisher sends. */
function wire(r: ReliabilityReport): Json {
  return JSON.parse(contractMessage(new Topics(SITE_ID), 'reliability', r).body) as Json;
}

function errorsOf(payload: unknown): string[] {
  return validatePayload(TOPIC, JSON.stringify(payload));
}

/** Every JSON pointer (instancePath) of the payload with its value, objects and arrays included. */
function nodes(value: unknown, path = ''): Array<{ path: string; value: unknown }> {
  const out = [{ path, value }];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...nodes(v, `${path}/${i}`)));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) out.push(...nodes(v, `${path}/${k}`));
  return out;
}

/** A deep copy with the value at `path` changed by `edit` (which gets the parent and the key). */
function edited(payload: Json, path: string, edit: (parent: Record<string, unknown>, key: string) => void): Json {
  const copy = structuredClone(payload);
  const keys = path.split('/').slice(1);
  const last = keys.pop()!;
  let parent: Record<string, unknown> = copy;
  for (const k of keys) parent = parent[k] as Record<string, unknown>;
  edit(parent, last);
  return copy;
}

function pathOf(path: string): string {
  return path === '' ? '(root)' : path;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function checkValid(t: Test, r: ReliabilityReport, name: string): void {
  t.same(errorsOf(wire(r)), [], name);
}

t.test('the topic kind: <root>/reliability, retained, QoS 1, its own schema', async (t) => {
  const r = report();
  t.equal(MQTT_TOPICS.reliability.schema, 'reliability.schema.json');
  const m = contractMessage(new Topics(SITE_ID), 'reliability', r);
  t.same({ topic: m.topic, retain: m.retain, qos: m.qos }, { topic: TOPIC, retain: true, qos: 1 });
  t.same(validatePayload(m.topic, m.body), [], 'the published message validates');
  t.equal(contractMessage(new Topics(SITE_ID, 'site/custom'), 'reliability', r).topic, 'site/custom/reliability', 'under mqtt.baseTopic');
  t.match(validatePayload(`feederwatch/v1/other-site/reliability`, m.body), [/not the topic's site/]);
});

t.test('real reports validate, in every shape the type allows', async (t) => {
  const r = report();
  t.not(r.targets, null, 'with targets');
  t.ok(AREA_CLASSES.every((c) => r.targets?.areaClasses.some((x) => x.areaClass === c)), 'a comparison per area class');
  checkValid(t, r, 'end of 2023, DL/T 836, targets of other cities');

  const reduced = report({ targets: { file: loadTargets(), selection: { cities: 'Hangzhou', year: 2023 }, previousYearSaidiH: { cityCentre: 2.3, urban: 3, town: 5.2, rural: 10 } } });
  t.ok(reduced.targets?.areaClasses.some((c) => c.previousH !== null && c.reductionTargetH !== null), 'previous-year figures and reduction targets');
  t.ok(reduced.targets?.areaClasses.some((c) => c.metBy === 'reduction'), 'a target met by the reduction');
  checkValid(t, reduced, 'Hangzhou 2023 with previous-year figures');

  const noTargets = report({ targets: undefined });
  t.equal(noTargets.targets, null);
  checkValid(t, noTargets, 'without targets: targets null');
  const noEntry = report({ targets: { file: loadTargets(), selection: { year: 2021 } } });
  t.equal(noEntry.targets, null);
  checkValid(t, noEntry, 'no entry applies: targets null');

  checkValid(t, report({ momentaryThresholdMs: IEEE_1366_MOMENTARY_MS }), 'IEEE 1366');
  const custom = report({ momentaryThresholdMs: 60_000 });
  t.equal(custom.standard, 'custom');
  checkValid(t, custom, 'a custom threshold');

  // 1 January 00:00 China time: the year to date is empty, periodHours 0, every index 0, ASAI 1, CAIDI null.
  const newYear = report({ nowMs: Date.parse('2023-12-31T16:00:00.000Z'), utcOffsetMinutes: 480 });
  t.equal(newYear.periods.yearToDate.periodHours, 0);
  t.equal(newYear.periods.yearToDate.bases.meter.site.caidiH, null);
  t.equal(newYear.periods.yearToDate.bases.meter.site.asai, 1);
  checkValid(t, newYear, 'an empty year to date');

  const empty = buildReliabilityReport({ siteId: SITE_ID, outages: [], units: { transformer: new Map(), meter: new Map() }, nowMs: END_2023, momentaryThresholdMs: DLT_836_MOMENTARY_MS });
  t.equal(empty.periods.rolling12Months.bases.transformer.site.units, 0);
  checkValid(t, empty, 'a site without units and without history');
});

t.test('a wrong field is rejected, naming it', async (t) => {
  const payload = wire(report());
  const cases: Array<[string, Json, RegExp]> = [
    ['saidiH as a string', edited(payload, '/periods/yearToDate/bases/transformer/site/saidiH', (p, k) => (p[k] = String(p[k]))), /^\S+ \/periods\/yearToDate\/bases\/transformer\/site\/saidiH must be number$/],
    ['a missing area class', edited(payload, '/periods/rolling12Months/bases/meter/areaClasses/rural', (p, k) => delete p[k]), /\/periods\/rolling12Months\/bases\/meter\/areaClasses must have required property 'rural'/],
    ['an unknown area class', edited(payload, '/periods/yearToDate/bases/meter/areaClasses/suburb', (p, k) => (p[k] = p.urban)), /areaClasses must NOT have additional properties "suburb"/],
    ['a third counting basis', edited(payload, '/periods/yearToDate/bases/feeder', (p, k) => (p[k] = p.meter)), /\/periods\/yearToDate\/bases must NOT have additional properties "feeder"/],
    ['a missing period', edited(payload, '/periods/rolling12Months', (p, k) => delete p[k]), /\/periods must have required property 'rolling12Months'/],
    ['an unknown standard', { ...payload, standard: 'IEC' }, /\/standard must be equal to one of the allowed values/],
    ['momentaryThresholdMs fractional', { ...payload, momentaryThresholdMs: 180_000.5 }, /\/momentaryThresholdMs must be integer/],
    ['generatedAt not an ISO time', { ...payload, generatedAt: '2023-12-31 23:00' }, /\/generatedAt must match pattern/],
    ['SAIFI negative', edited(payload, '/periods/yearToDate/bases/transformer/site/saifi', (p, k) => (p[k] = -1)), /\/site\/saifi must be >= 0/],
    ['ASAI above 1', edited(payload, '/periods/yearToDate/bases/transformer/site/asai', (p, k) => (p[k] = 1.5)), /\/site\/asai must be <= 1/],
    ['units fractional', edited(payload, '/periods/yearToDate/bases/meter/areaClasses/town/units', (p, k) => (p[k] = 2.5)), /\/areaClasses\/town\/units must be integer/],
    ['CAIDI missing instead of null', edited(payload, '/periods/yearToDate/bases/meter/site/caidiH', (p, k) => delete p[k]), /\/bases\/meter\/site must have required property 'caidiH'/],
    ['planned split without saidiH', edited(payload, '/periods/yearToDate/bases/meter/site/planned/saidiH', (p, k) => delete p[k]), /\/site\/planned must have required property 'saidiH'/],
    ['target areaClass unknown', edited(payload, '/targets/areaClasses/0/areaClass', (p, k) => (p[k] = 'suburb')), /\/targets\/areaClasses\/0\/areaClass must be equal to one of the allowed values/],
    ['target met as a string', edited(payload, '/targets/areaClasses/1/met', (p, k) => (p[k] = 'true')), /\/targets\/areaClasses\/1\/met must be boolean/],
    ['target metBy unknown', edited(payload, '/targets/areaClasses/1/metBy', (p, k) => (p[k] = 'luck')), /\/targets\/areaClasses\/1\/metBy must be equal to one of the allowed values/],
    ['a target comparison missing', edited(payload, '/targets/areaClasses', (p, k) => (p[k] = (p[k] as unknown[]).slice(1))), /\/targets\/areaClasses must NOT have fewer than 4 items/],
    ['targets missing instead of null', edited(payload, '/targets', (p, k) => delete p[k]), /\(root\) must have required property 'targets'/],
  ];
  for (const [name, bad, expected] of cases) t.match(errorsOf(bad), [expected], name);
});

t.test('every field: left out, of another type, or joined by an unknown field, is rejected naming it', async (t) => {
  const payload = wire(report({ targets: { file: loadTargets(), selection: { year: 2023 }, previousYearSaidiH: { cityCentre: 2.3 } } }));
  const all = nodes(payload);
  let checked = 0;
  for (const { path, value } of all) {
    if (path === '') continue;
    const parent = path.slice(0, path.lastIndexOf('/'));
    const key = path.slice(path.lastIndexOf('/') + 1);
    const inArray = Array.isArray(all.find((n) => n.path === parent)?.value);
    // Left out (array items aside): "<parent> must have required property '<key>'" (or, in the targets' list, too few items).
    if (!inArray) {
      const errors = errorsOf(edited(payload, path, (p, k) => delete p[k]));
      if (!errors.some((e) => e.includes(`${pathOf(parent)} must have required property '${key}'`))) t.fail(`leaving out ${path} not rejected by name: ${errors.join('; ')}`);
    }
    // Another type: an error at the field's own path.
    if (typeof value !== 'object' || value === null) {
      const other = typeof value === 'number' ? String(value) : typeof value === 'string' ? 42 : typeof value === 'boolean' ? String(value) : 'null';
      const errors = errorsOf(edited(payload, path, (p, k) => (p[k] = other)));
      if (!errors.some((e) => new RegExp(` ${escape(path)} must `).test(e))) t.fail(`${path} as ${JSON.stringify(other)} not rejected by name: ${errors.join('; ')}`);
    }
    // An unknown field in every object.
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const errors = errorsOf(edited(payload, `${path}/surprise`, (p, k) => (p[k] = 1)));
      if (!errors.some((e) => e.includes(`${path} must NOT have additional properties "surprise"`))) t.fail(`an unknown field in ${path} not rejected by name: ${errors.join('; ')}`);
    }
    checked++;
  }
  t.ok(checked > 400, `${checked} fields checked`);
  t.match(errorsOf({ ...payload, surprise: 1 }), [/\(root\) must NOT have additional properties "surprise"/]);
});
