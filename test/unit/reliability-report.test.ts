/**
 * Targets, the published report, the stored history and `feederwatch report` over the scripted test year
 * (test/fixtures/reliability-year.ts; the hand computations are in reliability-indices.test.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { DomainEvent, Outage } from '../../gateway/engine/events.js';
import { InterruptionHistory } from '../../gateway/reliability/history.js';
import { siteUnits } from '../../gateway/reliability/indices.js';
import { DLT_836_MOMENTARY_MS, IEEE_1366_MOMENTARY_MS } from '../../gateway/reliability/interruption-log.js';
import { buildReliabilityReport, reliabilityPoints } from '../../gateway/reliability/report.js';
import { compareWithTargets, loadTargets, parseTargets, ReliabilityTargetsError, targetFor } from '../../gateway/reliability/targets.js';
import { runCli } from '../helpers/cli.js';
import { reliabilitySite, reliabilitySiteYaml, SITE_ID, testYear } from '../fixtures/reliability-year.js';

const units = siteUnits(reliabilitySite);

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'fw-rel-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function near(t: Test, actual: number | null | undefined, expected: number, what: string, decimals = 4): void {
  t.ok(typeof actual === 'number' && Math.abs(actual - expected) < 0.5 * 10 ** -decimals, `${what}: ${actual} ~ ${expected}`);
}

// Transformer basis, DL/T 836, 2023 (hand-computed in reliability-indices.test.ts).
const SAIDI_2023 = { cityCentre: 2.0667, urban: 2.8, town: 4.8, rural: 9.55 };
const SAIDI_2023_EXACT = { cityCentre: 124 / 60, urban: 2.8, town: 4.8, rural: 9.55 };

t.test('targets: the shipped file is the shared one, per city group and year', async (t) => {
  const targets = loadTargets();
  t.equal(targets.targets.length, 4);
  t.same(targetFor(targets, { year: 2023 })?.hours, { cityCentre: 1.6, urban: 5, town: 8.4, rural: 13 }, 'default: other');
  t.same(targetFor(targets, { cities: 'Hangzhou', year: 2022 })?.hours, { cityCentre: 1, urban: 2, town: 5, rural: 11 });
  t.equal(targetFor(targets, { cities: 'Ningbo', year: 2025 })?.year, 2023, 'a later year uses the latest entry');
  t.equal(targetFor(targets, { year: 2021 }), null, 'no entry before 2022');
  t.throws(() => parseTargets('targets: [{ cities: other, year: 2023, hours: { urban: 1 } }]'), { code: 'RELIABILITY_TARGETS_INVALID', message: /hours\.cityCentre/ });
  t.ok(new ReliabilityTargetsError('x') instanceof Error);
});

t.test('targets: 2023 comparison, other cities and Hangzhou, with the yearly-reduction alternative', async (t) => {
  const targets = loadTargets();
  // other 2023: cc 1.6 (2.0667 NOT met), urban 5 (2.8 met), town 8.4 (4.8 met), rural 13 (9.55 met).
  const other = compareWithTargets(SAIDI_2023_EXACT, targets, { cities: 'other', year: 2023 })!;
  t.same(other.areaClasses.map((c) => [c.areaClass, c.met]), [['cityCentre', false], ['urban', true], ['town', true], ['rural', true]]);
  // Hangzhou 2023: cc 0.8, urban 2, town 4.4, rural 8: none met.
  const hz = compareWithTargets(SAIDI_2023_EXACT, targets, { cities: 'Hangzhou', year: 2023 })!;
  t.same(hz.areaClasses.map((c) => c.met), [false, false, false, false]);
  // Previous year cc 2.3 h: 8 % less is 2.116 h >= 2.0667: met by the reduction.
  const reduced = compareWithTargets(SAIDI_2023_EXACT, targets, { year: 2023 }, { cityCentre: 2.3 })!;
  const cc = reduced.areaClasses[0]!;
  near(t, cc.reductionTargetH, 2.116, 'reduction target');
  t.equal(cc.met, true);
  t.equal(cc.metBy, 'reduction');
});

t.test('report: year to date and rolling 12 months on both bases, targets, InfluxDB points', async (t) => {
  const report = buildReliabilityReport({
    siteId: SITE_ID,
    outages: testYear,
    units,
    nowMs: Date.parse('2023-12-31T23:00:00.000Z'),
    momentaryThresholdMs: DLT_836_MOMENTARY_MS,
    targets: { file: loadTargets(), selection: { year: 2023 } },
  });
  t.equal(report.standard, 'DL/T 836');
  t.equal(report.periods.yearToDate.from, '2023-01-01T00:00:00.000Z');
  t.equal(report.periods.rolling12Months.from, '2022-12-31T23:00:00.000Z');
  const ytd = report.periods.yearToDate.bases;
  for (const [c, v] of Object.entries(SAIDI_2023)) near(t, ytd.transformer.areaClasses[c as keyof typeof SAIDI_2023].saidiH, v, `YTD ${c} SAIDI`);
  near(t, ytd.meter.site.saifi, 4.4167, 'YTD meter site SAIFI');
  near(t, ytd.transformer.site.maifie, 1, 'YTD transformer site MAIFIe');
  // Rolling 12 months from 2022-12-31T23:00 takes in O10 (starts 23:00, all 6 transformers, 120 min) too:
  // 26 + 6 interruptions, 1894 + 720 min = 2614 min / 6 = 7.2611 h.
  t.equal(report.periods.rolling12Months.bases.transformer.site.interruptions, 32);
  near(t, report.periods.rolling12Months.bases.transformer.site.saidiH, 7.2611, 'R12 transformer site SAIDI');
  t.same(report.targets?.areaClasses.map((c) => c.met), [false, true, true, true]);

  const points = reliabilityPoints(report);
  t.equal(points.length, 20, '2 periods x 2 bases x (site + 4 area classes)');
  const ccYtd = points.find((p) => p.tags.period === 'yearToDate' && p.tags.basis === 'transformer' && p.tags.scope === 'cityCentre')!;
  near(t, ccYtd.fields.saidi_h as number, 2.0667, 'point saidi_h');
  t.equal(ccYtd.fields.target_h, 1.6);
  t.equal(ccYtd.fields.target_met, false);
  t.equal(ccYtd.timestamp.toISOString(), '2023-12-31T23:00:00.000Z');
  const ieee = buildReliabilityReport({ siteId: SITE_ID, outages: testYear, units, nowMs: Date.parse('2024-01-01T00:00:00.000Z'), momentaryThresholdMs: IEEE_1366_MOMENTARY_MS });
  t.equal(ieee.standard, 'IEEE 1366');
  near(t, ieee.periods.rolling12Months.bases.meter.site.maifie, 2, 'IEEE meter MAIFIe');
  t.equal(ieee.targets, null);
  t.equal(ieee.periods.yearToDate.periodHours, 0, 'on 1 January 00:00 the year to date is empty');
  t.equal(ieee.periods.yearToDate.bases.meter.site.saifi, 0);
});

function event(seq: number, type: 'outage.started' | 'outage.updated' | 'outage.restored', outage: Outage): DomainEvent {
  return { id: `${SITE_ID}:${seq}`, seq, siteId: SITE_ID, ts: outage.restoredAt ?? outage.startedAt, type, outage };
}

t.test('history: records finished outages from the event stream, idempotently, and survives reopening', async (t) => {
  const dir = tempDir(t);
  const history = InterruptionHistory.open(dir);
  const events: DomainEvent[] = [];
  let seq = 1;
  for (const o of testYear) {
    events.push(event(seq++, 'outage.started', { ...o, state: 'active', restoredAt: null, durationMs: null }));
    events.push(event(seq++, o.state === 'merged' ? 'outage.updated' : o.state === 'active' ? 'outage.updated' : 'outage.restored', o));
  }
  events.push({ id: `${SITE_ID}:${seq}`, seq, siteId: SITE_ID, ts: '2023-01-01T00:00:00.000Z', type: 'device.availability', deviceId: 'd', state: 'online', previousState: 'unknown', lastGoodAt: null, consecutiveErrors: 0, error: null });
  t.equal(history.record(events), 14, '13 restored + 1 merged; starts, the active outage and other events ignored');
  t.equal(history.record(events), 14, 'replayed: replaced, not duplicated');
  history.close();
  const again = InterruptionHistory.openReadOnly(dir)!;
  t.teardown(() => again.close());
  t.equal(again.outages().length, 14);
  t.same(again.outages({ fromMs: Date.parse('2023-09-01T00:00:00.000Z'), toMs: Date.parse('2024-01-01T00:00:00.000Z') }).map((o) => o.id), ['O9a', 'O9b']);
  t.equal(InterruptionHistory.openReadOnly(join(dir, 'nowhere')), null);
});

t.test('feederwatch report prints the hand-computed figures for a period', async (t) => {
  const dir = tempDir(t);
  const stateDir = join(dir, 'state');
  const history = InterruptionHistory.open(stateDir);
  history.recordOutages(testYear);
  history.close();
  const site = join(dir, 'site.yaml');
  writeFileSync(site, reliabilitySiteYaml(stateDir));
  const period = ['--from', '2023-01-01T00:00:00Z', '--to', '2024-01-01T00:00:00Z'];

  const text = await runCli(['report', '--config', site, ...period, '--basis', 'transformer']);
  t.equal(text.code, 0, text.stderr);
  // scope, units, interruptions, SAIFI, SAIDI h, CAIDI h, CAIFI, ASAI, RS-1 %, MAIFIe
  t.match(text.stdout, /cityCentre\s+1\s+3\s+3\.0000\s+2\.0667\s+0\.6889\s+3\.0000\s+0\.999764\s+99\.9764\s+0\.0000/);
  t.match(text.stdout, /rural\s+2\s+11\s+5\.5000\s+9\.5500\s+1\.7364\s+5\.5000\s+0\.998910\s+99\.8910\s+1\.0000\s+4\.0000\s+5\.5500/);
  t.match(text.stdout, /site\s+6\s+26\s+4\.3333\s+5\.2611\s+1\.2141\s+4\.3333\s+0\.999399\s+99\.9399\s+1\.0000/);
  t.match(text.stdout, /cityCentre 2\.0667 vs 1\.6\s+NOT met/);
  t.notMatch(text.stdout, /Basis meter/);

  const json = await runCli(['report', '--config', site, ...period, '--momentary-ms', '300000', '--json']);
  t.equal(json.code, 0, json.stderr);
  const out = JSON.parse(json.stdout) as { standard: string; bases: Record<string, { site: { saifi: number; saidiH: number; maifie: number }; areaClasses: Record<string, { saidiH: number }> }> };
  t.equal(out.standard, 'IEEE 1366');
  near(t, out.bases.meter!.site.saifi, 3.4167, 'CLI IEEE meter SAIFI');
  near(t, out.bases.meter!.site.saidiH, 5.3611, 'CLI IEEE meter SAIDI');
  near(t, out.bases.transformer!.site.maifie, 2, 'CLI IEEE transformer MAIFIe');
  near(t, out.bases.transformer!.areaClasses.urban!.saidiH, 2.7333, 'CLI IEEE transformer urban SAIDI');

  const bad = await runCli(['report', '--config', site, '--from', 'yesterday', '--to', '2024-01-01T00:00:00Z']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--from must be an ISO-8601 time/);
  const none = await runCli(['report', '--config', site, ...period, '--state-dir', join(dir, 'empty')]);
  t.equal(none.code, 1);
  t.match(none.stderr, /no interruption history/);
});
