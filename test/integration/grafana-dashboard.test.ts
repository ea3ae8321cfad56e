/**
 * The Grafana dashboard (deploy/grafana/feederwatch.json, docs/grafana.md):
 *
 * 1. The model: validated against deploy/grafana/dashboard.schema.json (the fields Grafana needs, raw InfluxQL
 *    targets on the DS_INFLUXDB datasource variable), then what a schema cannot say: unique panel ids, panels
 *    inside the 24 columns and not overlapping, every variable a query uses defined, `$timeFilter` in every
 *    query, `GROUP BY time($__interval)` only, measurements unqualified (the default retention policy). Broken
 *    copies of the model must be refused, so the checks are known to bite.
 * 2. The queries: a real gateway run (demo site, simulator, Mosquitto, InfluxDB 1.x) with a meter link cut (a
 *    device offline) and a recloser fault injected then cleared (outage started/updated/restored, a self-healing
 *    report, reliability points). Then EVERY query of the dashboard (panels, variables, annotations) runs against
 *    that database the way Grafana would send it: `$timeFilter` -> `time > now() - 1h`, `$__interval` -> `10s`,
 *    template variables -> values their own variable query returned (both "All" and a two-value selection). Each
 *    must return at least one series with at least one non-null value; a failure names the panel.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { packagePath } from '../../gateway/paths.js';
import { control, eventually, influxQuery, startDemoStack } from '../helpers/demo-stack.js';
import { startInfluxd, startMosquitto } from '../helpers/services.js';

const DASHBOARD_FILE = packagePath('deploy/grafana/feederwatch.json');
const SCHEMA_FILE = packagePath('deploy/grafana/dashboard.schema.json');
const DB = 'fw_grafana';
const DATASOURCE_VARIABLE = 'DS_INFLUXDB';
/** What Grafana's InfluxDB data source puts in place of its own macros (for a "last 1 hour" range). */
const TIME_FILTER = 'time > now() - 1h';
const INTERVAL = '10s';

interface DatasourceRef {
  type: string;
  uid: string;
}
interface Target {
  refId: string;
  datasource: DatasourceRef;
  rawQuery: boolean;
  query: string;
  resultFormat: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource: DatasourceRef;
  targets: Target[];
}
interface Variable {
  name: string;
  type: string;
  query?: string;
  datasource?: DatasourceRef;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
}
interface Annotation {
  name: string;
  builtIn?: number;
  datasource: DatasourceRef;
  query?: string;
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
  annotations?: { list: Annotation[] };
}

const loadDashboard = (): Dashboard => JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;

const ajv = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true });
const validateSchema = ajv.compile(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as object);

/** Variable references as Grafana writes them: `$name`, `${name}` (optionally `${name:format}`), `[[name]]`. */
const VARIABLE_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z_][A-Za-z0-9_]*)\]\]/g;
/** Grafana's own macros in InfluxQL queries; `$tag_x`, `$col` and `$m` only appear in aliases, never in queries. */
const BUILT_INS = new Set(['timeFilter', '__interval', '__interval_ms', '__from', '__to', '__range', '__range_s', '__range_ms']);

function variablesUsed(query: string): string[] {
  return [...query.matchAll(VARIABLE_REF)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
}

interface NamedQuery {
  /** Where the query lives, for messages: `panel 7 "Outage events" target A`. */
  where: string;
  query: string;
  /** Panel and annotation queries select data in the dashboard's range; variable queries list tag values. */
  kind: 'data' | 'variable';
}

function queriesOf(d: Dashboard): NamedQuery[] {
  const out: NamedQuery[] = [];
  for (const p of d.panels ?? []) for (const target of p.targets ?? []) out.push({ where: `panel ${p.id} "${p.title}" target ${target.refId}`, query: target.query, kind: 'data' });
  for (const v of d.templating?.list ?? []) if (v.type === 'query' && v.query !== undefined) out.push({ where: `variable "${v.name}"`, query: v.query, kind: 'variable' });
  for (const a of d.annotations?.list ?? []) if (a.builtIn !== 1 && a.query !== undefined) out.push({ where: `annotation "${a.name}"`, query: a.query, kind: 'data' });
  return out;
}

/** Every problem of the model, schema first; empty when Grafana can import it and the conventions hold. */
function modelProblems(d: Dashboard): string[] {
  if (!validateSchema(d)) return (validateSchema.errors ?? []).map((e) => `schema: ${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
  const problems: string[] = [];
  const ids = new Map<number, string>();
  for (const p of d.panels) {
    const other = ids.get(p.id);
    if (other !== undefined) problems.push(`panel id ${p.id} used twice: "${other}" and "${p.title}"`);
    ids.set(p.id, p.title);
    if (p.gridPos.x + p.gridPos.w > 24) problems.push(`panel ${p.id} "${p.title}" reaches column ${p.gridPos.x + p.gridPos.w} (24 at most)`);
    const refIds = p.targets.map((target) => target.refId);
    if (new Set(refIds).size !== refIds.length) problems.push(`panel ${p.id} "${p.title}" repeats a refId: ${refIds.join(',')}`);
  }
  for (let i = 0; i < d.panels.length; i++) {
    for (let j = i + 1; j < d.panels.length; j++) {
      const a = d.panels[i] as Panel;
      const b = d.panels[j] as Panel;
      const overlap = a.gridPos.x < b.gridPos.x + b.gridPos.w && b.gridPos.x < a.gridPos.x + a.gridPos.w && a.gridPos.y < b.gridPos.y + b.gridPos.h && b.gridPos.y < a.gridPos.y + a.gridPos.h;
      if (overlap) problems.push(`panels ${a.id} "${a.title}" and ${b.id} "${b.title}" overlap: ${JSON.stringify(a.gridPos)} ${JSON.stringify(b.gridPos)}`);
    }
  }
  const names = d.templating.list.map((v) => v.name);
  if (new Set(names).size !== names.length) problems.push(`a variable name is used twice: ${names.join(',')}`);
  const ds = d.templating.list.find((v) => v.name === DATASOURCE_VARIABLE);
  if (ds === undefined || ds.type !== 'datasource' || ds.query !== 'influxdb') problems.push(`no datasource variable ${DATASOURCE_VARIABLE} of plugin influxdb (every datasource ref points at it)`);
  const defined = new Set(names);
  for (const q of queriesOf(d)) {
    for (const name of variablesUsed(q.query)) {
      if (!BUILT_INS.has(name) && !defined.has(name)) problems.push(`${q.where}: uses $${name}, which is not a variable of the dashboard`);
    }
    if (q.kind === 'data' && !q.query.includes('$timeFilter')) problems.push(`${q.where}: no $timeFilter (the dashboard's time range would be ignored)`);
    for (const m of q.query.matchAll(/GROUP BY time\(([^)]*)\)/gi)) {
      if (m[1] !== '$__interval') problems.push(`${q.where}: GROUP BY time(${m[1]}) instead of time($__interval)`);
    }
    // A measurement qualified with a retention policy (or database) would miss data when the default changes.
    // Events and reliability are in the default retention policy; telemetry (meter, switch) in feederwatch_telemetry
    // (docs/influx.md). Any other qualification would miss data.
    for (const m of q.query.matchAll(/\bFROM\s+("[^"]+"|[A-Za-z_][A-Za-z0-9_]*)\s*\.\s*"?([A-Za-z_]+)/gi)) {
      if (!(m[1] === '"feederwatch_telemetry"' && ['meter', 'switch'].includes(m[2] ?? ''))) problems.push(`${q.where}: qualified measurement ${m[1]}.${m[2]}; only meter and switch are read from "feederwatch_telemetry"`);
    }
    if (q.kind === 'data' && /\bFROM\s+"(meter|switch)"/.test(q.query)) problems.push(`${q.where}: telemetry read from the default retention policy instead of "feederwatch_telemetry"`);
  }
  return problems;
}

t.test('the dashboard model: Grafana fields, layout, datasource variable, query conventions', async (t) => {
  const d = loadDashboard();
  t.same(modelProblems(d), [], 'no problem in deploy/grafana/feederwatch.json');
  t.equal(d.schemaVersion, 39, 'schemaVersion 39');
  const queries = queriesOf(d);
  t.comment(`${d.panels.length} panels, ${queries.length} queries (${queries.filter((q) => q.kind === 'variable').length} variable queries)`);
  // The panels the issue asks for, by the measurement they read.
  const reads = (measurement: string): string[] => d.panels.filter((p) => p.targets.some((target) => target.query.includes(`"${measurement}" WHERE`))).map((p) => p.title);
  for (const m of ['outage', 'reliability', 'device_availability', 'self_healing', 'meter']) t.ok(reads(m).length > 0, `some panel reads "${m}": ${reads(m).join('; ')}`);
  t.ok(
    d.panels.some((p) => p.targets.some((target) => /"target_h"/.test(target.query) && /"saidi_h"/.test(target.query))),
    'a panel sets SAIDI against its target',
  );
});

t.test('broken copies of the model are refused (the checks bite)', async (t) => {
  const mutants: Array<[string, (d: Dashboard) => void, RegExp]> = [
    ['duplicate panel id', (d) => ((d.panels[1] as Panel).id = (d.panels[0] as Panel).id), /panel id \d+ used twice/],
    ['overlapping panels', (d) => ((d.panels[1] as Panel).gridPos = { ...(d.panels[0] as Panel).gridPos }), /overlap/],
    ['panel wider than the grid', (d) => ((d.panels[0] as Panel).gridPos.x = 20), /reaches column/],
    ['hard-coded datasource uid', (d) => ((d.panels[0] as Panel).targets[0] as Target).datasource.uid = 'P951FEA4DE68E13C5', /schema: .*targets\/0\/datasource\/uid/],
    ['panel without targets', (d) => ((d.panels[0] as Panel).targets = []), /schema: .*targets must NOT have fewer than 1 items/],
    ['builder query instead of raw InfluxQL', (d) => (((d.panels[0] as Panel).targets[0] as Target).rawQuery = false), /schema: .*rawQuery/],
    ['missing schemaVersion', (d) => delete (d as Partial<Dashboard>).schemaVersion, /schema: \/ must have required property 'schemaVersion'/],
    ['undefined variable', (d) => (((d.panels[0] as Panel).targets[0] as Target).query += ' AND "feeder" =~ /^$feeder$/'), /uses \$feeder/],
    ['no $timeFilter', (d) => (((d.panels[0] as Panel).targets[0] as Target).query = 'SELECT count("id") FROM "outage"'), /no \$timeFilter/],
    [
      'fixed GROUP BY time',
      (d) => {
        const target = d.panels.flatMap((p) => p.targets).find((x) => x.query.includes('GROUP BY time($__interval)')) as Target;
        target.query = target.query.replace('time($__interval)', 'time(1m)');
      },
      /GROUP BY time\(1m\)/,
    ],
    ['retention policy in the query', (d) => (((d.panels[0] as Panel).targets[0] as Target).query = ((d.panels[0] as Panel).targets[0] as Target).query.replace('FROM "outage"', 'FROM "autogen"."outage"')), /qualified measurement "autogen"/],
  ];
  for (const [what, mutate, expected] of mutants) {
    const d = loadDashboard();
    mutate(d);
    const problems = modelProblems(d);
    t.ok(problems.some((p) => expected.test(p)), `${what}: refused (${problems[0] ?? 'no problem reported'})`);
  }
});

// ---------------------------------------------------------------------------------------------------------
// Every query against a database filled by a real gateway run.

interface InfluxResult {
  series?: Array<{ name?: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }>;
  error?: string;
}

async function runInfluxQL(url: string, q: string): Promise<InfluxResult> {
  const res = await fetch(`${url}/query?db=${encodeURIComponent(DB)}&epoch=ms&q=${encodeURIComponent(q)}`);
  const body = (await res.json()) as { results?: InfluxResult[]; error?: string };
  if (body.error !== undefined) return { error: body.error };
  return body.results?.[0] ?? { error: `no result (HTTP ${res.status})` };
}

/** Series with at least one non-null value outside the time column. */
function seriesWithData(r: InfluxResult): number {
  return (r.series ?? []).filter((s) => s.values.some((row) => row.some((v, i) => s.columns[i] !== 'time' && v !== null))).length;
}

/** Grafana's regex formatting of a variable's values in InfluxQL (`=~ /^$v$/`): escaped, one value bare, several in a group. */
function regexValue(values: readonly string[]): string {
  const escaped = values.map((v) => v.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&'));
  return escaped.length === 1 ? (escaped[0] as string) : `(${escaped.join('|')})`;
}

/** The query as Grafana sends it for a "last 1 hour" range with the given variable values. */
function interpolate(query: string, values: ReadonlyMap<string, string>): string {
  const out = query
    .replaceAll('$timeFilter', TIME_FILTER)
    .replaceAll('$__interval', INTERVAL)
    .replace(VARIABLE_REF, (whole, a?: string, b?: string, c?: string) => values.get(a ?? b ?? c ?? '') ?? whole);
  const left = variablesUsed(out);
  if (left.length > 0) throw new Error(`variables left after interpolation: ${left.join(', ')} in ${out}`);
  return out;
}

/** Why a query found nothing: is the measurement's data in a retention policy that is not the default? */
async function diagnose(url: string, query: string): Promise<string> {
  const rps = await runInfluxQL(url, 'SHOW RETENTION POLICIES');
  const rows = rps.series?.[0]?.values ?? [];
  const notes: string[] = [];
  for (const row of rows) {
    const [name, , , , isDefault] = row as [string, string, string, number, boolean];
    if (isDefault) {
      notes.push(`default retention policy: ${name}`);
      continue;
    }
    const qualified = query.replace(/\bFROM\s+"([^"]+)"/g, `FROM "${name}"."$1"`);
    const r = await runInfluxQL(url, qualified);
    const n = seriesWithData(r);
    if (n > 0) notes.push(`the same query qualified with retention policy "${name}" returns ${n} series: its measurement is written to a non-default retention policy, which Grafana's unqualified queries do not read`);
  }
  return notes.join('\n');
}

t.test('every dashboard query returns data from a real gateway run', async (t) => {
  const d = loadDashboard();
  const stateDir = await mkdtemp(join(tmpdir(), 'fw-grafana-'));
  t.teardown(() => rm(stateDir, { recursive: true, force: true }));
  const [broker, influx] = await Promise.all([startMosquitto(), startInfluxd()]);
  t.teardown(async () => {
    await Promise.all([broker.stop(), influx.stop()]);
  });
  // The state folder gives the gateway its reliability history: reliability points at start and after restoration.
  const stack = await startDemoStack({ mqttUrl: broker.url, influx: { host: influx.host, port: influx.port, database: DB }, stateDir });
  t.teardown(() => stack.stop());
  const startedAt = Date.now();
  await eventually('every device online', async () => (stack.gateway.status().devices.every((x) => x.state === 'online') ? true : undefined), 15_000);

  // A device offline: C20202's meter stops answering (its supply is unaffected).
  await control(stack.controlUrl, 'POST', '/meters/C20202/link', { up: false });
  await eventually('meter-c20202 offline', async () => (stack.gateway.status().devices.find((x) => x.deviceId === 'meter-c20202')?.state === 'offline' ? true : undefined), 15_000);

  // An outage: a fault behind recloser F1-R1 trips it; the fault is cleared and the recloser closed.
  await control(stack.controlUrl, 'POST', '/faults', { section: 'F1-S3' });
  await eventually('outage started', async () => (stack.gateway.status().activeOutages.length === 1 ? true : undefined), 10_000);
  await new Promise((r) => setTimeout(r, 1500));
  await control(stack.controlUrl, 'DELETE', '/faults/F1-S3');
  await control(stack.controlUrl, 'POST', '/switches/F1-R1', { position: 'closed' });
  await eventually('outage restored', async () => (stack.gateway.status().activeOutages.length === 0 ? true : undefined), 10_000);

  // What the gateway writes after the restoration, in InfluxDB: the restored event, the self-healing report (the
  // recloser sequence completes once everything stayed energized for restoreConfirmMs) and the new indices.
  await eventually('restored outage in InfluxDB', async () => ((await influxQuery(influx.url, DB, `SELECT "id" FROM "outage" WHERE "event" = 'restored'`)).length > 0 ? true : undefined), 15_000);
  await eventually('self-healing report in InfluxDB', async () => ((await influxQuery(influx.url, DB, 'SELECT "id" FROM "self_healing"')).length > 0 ? true : undefined), 30_000);
  await eventually('reliability with the outage in InfluxDB', async () => {
    const rows = await influxQuery(influx.url, DB, `SELECT last("momentary_events") FROM "reliability" WHERE "scope" = 'site'`);
    return Number(rows[0]?.last) > 0 ? true : undefined;
  }, 15_000);
  // Telemetry is batched (up to 1 s): give the last polls time to land.
  await new Promise((r) => setTimeout(r, 2000));
  t.comment(`gateway run with outage, self-healing and an offline device: ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);

  // The variables' values, from their own queries.
  const options = new Map<string, string[]>();
  for (const v of d.templating.list) {
    if (v.type !== 'query' || v.query === undefined) continue;
    const r = await runInfluxQL(influx.url, interpolate(v.query, new Map()));
    const values = (r.series ?? []).flatMap((s) => s.values.map((row) => String(row[s.columns.indexOf('value')])));
    t.ok(r.error === undefined && values.length > 0, `variable "${v.name}": ${values.length} values from ${v.query}${r.error ? ` (error: ${r.error})` : ''}`);
    options.set(v.name, values);
  }
  const variants: Array<{ label: string; values: Map<string, string> }> = [
    {
      label: 'All',
      values: new Map(d.templating.list.filter((v) => v.type === 'query').map((v) => [v.name, v.allValue ?? regexValue(options.get(v.name) ?? [])])),
    },
    {
      label: 'two selected',
      values: new Map(d.templating.list.filter((v) => v.type === 'query').map((v) => [v.name, regexValue((options.get(v.name) ?? []).slice(-2))])),
    },
  ];

  let ran = 0;
  for (const q of queriesOf(d).filter((x) => x.kind === 'data')) {
    const usesVariables = variablesUsed(q.query).some((n) => !BUILT_INS.has(n));
    for (const variant of usesVariables ? variants : variants.slice(0, 1)) {
      const sent = interpolate(q.query, variant.values);
      const r = await runInfluxQL(influx.url, sent);
      ran += 1;
      const n = seriesWithData(r);
      const label = usesVariables ? ` (variables: ${variant.label})` : '';
      if (r.error === undefined && n > 0) {
        const points = (r.series ?? []).reduce((sum, s) => sum + s.values.length, 0);
        t.pass(`${q.where}${label}: ${n} series with data, ${points} rows`);
        continue;
      }
      const why = r.error !== undefined ? `InfluxQL error: ${r.error}` : `no series with a non-null value\n${await diagnose(influx.url, sent)}`;
      t.fail(`${q.where}${label}: ${why}\nquery: ${sent}`);
    }
  }
  t.comment(`${ran} queries run against InfluxDB`);
});
