import { dirname, resolve } from 'node:path';
import { AREA_CLASSES, type AreaClass } from '../config/site-config.js';
import { InterruptionHistory } from '../reliability/history.js';
import { siteUnits, type IndexSet } from '../reliability/indices.js';
import { COUNTING_BASES, interruptionsOf, type CountingBasis } from '../reliability/interruption-log.js';
import { periodReport, standardOf } from '../reliability/report.js';
import { compareWithTargets, loadTargets } from '../reliability/targets.js';
import type { Command } from './commands.js';
import { loadSiteOrReport, requireString } from './common.js';
import { UsageError } from './usage-error.js';

/** A momentary window or a merge may cross the period start: outages this long before it are read too. */
const LOOKBACK_MS = 24 * 3_600_000;

function parseTime(values: Record<string, string | boolean | undefined>, name: string): number {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} <ISO time> is required`);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`--${name} must be an ISO-8601 time (got ${JSON.stringify(value)})`);
  return ms;
}

const fmt = (x: number | null, digits = 4): string => (x === null ? '-' : x.toFixed(digits));

function table(rows: Array<[string, IndexSet]>): string {
  const head = ['scope', 'units', 'int', 'SAIFI', 'SAIDI h', 'CAIDI h', 'CAIFI', 'ASAI', 'RS-1 %', 'MAIFIe', 'plan SAIDI', 'fault SAIDI'];
  const lines = rows.map(([scope, s]) => [
    scope,
    String(s.units),
    String(s.interruptions),
    fmt(s.saifi),
    fmt(s.saidiH),
    fmt(s.caidiH),
    fmt(s.caifi),
    fmt(s.asai, 6),
    fmt(s.rs1Pct),
    fmt(s.maifie),
    fmt(s.planned.saidiH),
    fmt(s.fault.saidiH),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return [head, ...lines].map((cols) => cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n') + '\n';
}

export const reportCommand: Command = {
  name: 'report',
  summary: 'print reliability indices (SAIFI, SAIDI, MAIFIe, ...) for a period from the stored history',
  help: `Usage: feederwatch report --config <site.yaml> --from <ISO> --to <ISO> [--basis meter|transformer] [--json]

Prints SAIFI, SAIDI (hours), CAIDI, CAIFI, ASAI, RS-1, MAIFIe and the planned/fault SAIDI split per area
class and for the site, for the interruptions that started in [from, to), from the interruption history the
gateway keeps in <stateDir>/reliability.db (docs/reliability.md). Both counting bases unless --basis says one:
transformer (each public transformer is one user, DL/T 836.1) and meter (each billing customer).

Options:
  --config <file>              the site configuration (YAML)
  --from <ISO>, --to <ISO>     the period (to is exclusive)
  --basis <meter|transformer>  one counting basis only
  --momentary-ms <ms>          momentary threshold (default: the site's, 180000 DL/T 836 / 300000 IEEE 1366)
  --cities <name>              which action-plan targets apply: Hangzhou, Ningbo or other (default other);
                               the target year is the year of --from
  --state-dir <dir>            where reliability.db is (default: the site's persistence.stateDir, else ./state)
  --json                       print JSON instead of tables
  -h, --help                   this help

Exit codes: 0 printed, 1 no history found, 2 invalid site or options.
`,
  options: {
    config: { type: 'string', short: 'c' },
    from: { type: 'string' },
    to: { type: 'string' },
    basis: { type: 'string' },
    'momentary-ms': { type: 'string' },
    cities: { type: 'string' },
    'state-dir': { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(values, ctx) {
    const file = requireString(values, 'config');
    const fromMs = parseTime(values, 'from');
    const toMs = parseTime(values, 'to');
    if (!(toMs > fromMs)) throw new UsageError('--to must be after --from');
    const basisOpt = values.basis;
    if (basisOpt !== undefined && basisOpt !== 'meter' && basisOpt !== 'transformer') throw new UsageError(`--basis must be meter or transformer (got ${JSON.stringify(basisOpt)})`);
    const bases: CountingBasis[] = basisOpt === undefined ? [...COUNTING_BASES] : [basisOpt];
    const loaded = await loadSiteOrReport(file, ctx);
    if (!loaded.ok) return loaded.exitCode;
    const site = loaded.site;
    let thresholdMs = site.thresholds.momentaryThresholdMs;
    if (values['momentary-ms'] !== undefined) {
      thresholdMs = Number(values['momentary-ms']);
      if (!Number.isInteger(thresholdMs) || thresholdMs < 0) throw new UsageError(`--momentary-ms must be a whole number of ms >= 0 (got ${JSON.stringify(values['momentary-ms'])})`);
    }
    const cities = typeof values.cities === 'string' ? values.cities : 'other';
    const stateDir =
      typeof values['state-dir'] === 'string' ? resolve(values['state-dir']) : (site.persistence?.stateDir ?? resolve(dirname(resolve(file)), 'state'));

    const history = InterruptionHistory.openReadOnly(stateDir);
    if (history === null) {
      ctx.stderr(`no interruption history in ${stateDir} (reliability.db): the gateway records it while running with persistence\n`);
      return 1;
    }
    let outages;
    try {
      outages = history.outages({ fromMs: fromMs - LOOKBACK_MS, toMs });
    } finally {
      history.close();
    }
    const units = siteUnits(site);
    const interruptions = { transformer: interruptionsOf(outages, 'transformer'), meter: interruptionsOf(outages, 'meter') };
    const report = periodReport(interruptions, units, { fromMs, toMs }, thresholdMs);
    const year = new Date(fromMs).getUTCFullYear();
    const saidi = Object.fromEntries(AREA_CLASSES.map((c) => [c, report.bases.transformer.areaClasses[c].saidiH])) as Record<AreaClass, number>;
    const targets = compareWithTargets(saidi, loadTargets(), { cities, year });

    if (values.json === true) {
      const out = {
        siteId: site.siteId,
        from: report.from,
        to: report.to,
        periodHours: report.periodHours,
        momentaryThresholdMs: thresholdMs,
        standard: standardOf(thresholdMs),
        bases: Object.fromEntries(bases.map((b) => [b, report.bases[b]])),
        targets,
      };
      ctx.stdout(JSON.stringify(out, null, 2) + '\n');
      return 0;
    }
    ctx.stdout(
      `Site ${site.siteId}: interruptions started ${report.from} to ${report.to} (${fmt(report.periodHours, 1)} h); ` +
        `momentary <= ${thresholdMs / 60_000} min (${standardOf(thresholdMs)})\n`,
    );
    for (const basis of bases) {
      const b = report.bases[basis];
      ctx.stdout(`\nBasis ${basis} (${basis === 'transformer' ? 'each public transformer is one user, DL/T 836.1' : 'each billing customer'}):\n`);
      ctx.stdout(table([...AREA_CLASSES.map((c): [string, IndexSet] => [c, b.areaClasses[c]]), ['site', b.site]]));
    }
    if (targets !== null) {
      ctx.stdout(`\nTargets (${targets.cities} ${targets.yearUsed}, SAIDI/AIHC-1 on the transformer basis, hours):\n`);
      for (const c of targets.areaClasses) ctx.stdout(`  ${c.areaClass.padEnd(10)} ${fmt(c.actualH)} vs ${fmt(c.targetH, 1)}  ${c.met ? 'met' : 'NOT met'}\n`);
    }
    return 0;
  },
};
