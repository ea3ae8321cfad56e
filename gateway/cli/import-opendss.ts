/**
 * `feederwatch import-opendss <master.dss> --out <site.yaml>`: an OpenDSS circuit as a site topology, with
 * simulated FTUs, and a report of what could not be mapped. The written file is checked with the site
 * loader before the command says it succeeded. docs/opendss-import.md.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { AREA_CLASSES, type AreaClass } from '../config/site-config.js';
import { formatIssue, parseSiteConfig, SiteConfigError } from '../config/load-site.js';
import { resolveCaseInsensitive } from '../import/opendss/dss-files.js';
import { DssInputError } from '../import/opendss/dss-input-error.js';
import { formatReportSummary } from '../import/opendss/import-report.js';
import { importOpenDss } from '../import/opendss/opendss-import.js';
import { TopologyError } from '../import/opendss/section-builder.js';
import type { Command } from './commands.js';
import { UsageError } from './usage-error.js';

const HELP = `Usage: feederwatch import-opendss <master.dss> --out <site.yaml> [options]

Reads an OpenDSS circuit (the master file and everything it Redirects or Compiles) and writes a site file
with one feeder: switching devices, sections (buses joined by non-switching elements), transformers and
customers (one per load), bus coordinates as diagram positions, and simulated FTUs for \`feederwatch demo\` /
\`simulate\`. Prints a summary; every element that could not be mapped is listed with the reason.

Options:
  --out <file>                        the site file to write (required)
  --report <file.json>                also write the full report as JSON
  --site-id <id>                      site id (default: the circuit's name)
  --feeder-id <id>                    feeder id (default: the site id)
  --switch-pattern <regex>            lines whose name matches (case-insensitive) are switching devices too,
                                      for files that flag no switch (e.g. '^sw')
  --customers-per-transformer <N>     N generated customers per transformer instead of one per load
  --area-class <class>                cityCentre, urban, town or rural (default urban)
  --devices <ftu|none>                ftu: a simulated generic FTU per telemetered switching device (default)
  --base-port <port>                  first Modbus TCP port of the FTUs, 247 unit ids each (default 15020)
  --buscoords <file>                  bus coordinates (bus, x, y per line) when the script loads none
  -h, --help                          this help

Exit codes: 0 written, 1 failed (no source, or the result is not a valid site), 2 bad usage or unreadable /
invalid OpenDSS input (the message names the file and line).
`;

function parseIntegerOption(values: Record<string, string | boolean | undefined>, name: string, min: number, max: number): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer ${min}..${max} (got ${JSON.stringify(raw)})`);
  return n;
}

export const importOpenDssCommand: Command = {
  name: 'import-opendss',
  summary: 'import an OpenDSS circuit as a site topology with simulated FTUs',
  help: HELP,
  allowPositionals: true,
  options: {
    out: { type: 'string', short: 'o' },
    report: { type: 'string' },
    'site-id': { type: 'string' },
    'feeder-id': { type: 'string' },
    'switch-pattern': { type: 'string' },
    'customers-per-transformer': { type: 'string' },
    'area-class': { type: 'string' },
    devices: { type: 'string' },
    'base-port': { type: 'string' },
    buscoords: { type: 'string' },
  },
  async run(values, ctx, positionals = []) {
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'the OpenDSS master file is required' : `one master file expected, got ${positionals.length}: ${positionals.join(' ')}`);
    const out = values.out;
    if (typeof out !== 'string' || out === '') throw new UsageError('--out <site.yaml> is required');
    const areaClass = (values['area-class'] ?? 'urban') as AreaClass;
    if (!AREA_CLASSES.includes(areaClass)) throw new UsageError(`--area-class must be one of ${AREA_CLASSES.join(', ')} (got ${JSON.stringify(values['area-class'])})`);
    const devices = values.devices ?? 'ftu';
    if (devices !== 'ftu' && devices !== 'none') throw new UsageError(`--devices must be ftu or none (got ${JSON.stringify(devices)})`);
    let switchPattern: RegExp | undefined;
    if (typeof values['switch-pattern'] === 'string') {
      try {
        switchPattern = new RegExp(values['switch-pattern'], 'i');
      } catch (err) {
        throw new UsageError(`--switch-pattern is not a valid regular expression: ${(err as Error).message}`);
      }
    }
    for (const id of ['site-id', 'feeder-id'] as const) {
      const v = values[id];
      if (v !== undefined && (typeof v !== 'string' || !/^[A-Za-z0-9_-]+$/.test(v))) throw new UsageError(`--${id} may hold only letters, digits, _ and - (got ${JSON.stringify(v)})`);
    }
    const customersPerTransformer = parseIntegerOption(values, 'customers-per-transformer', 1, 100_000);
    const basePort = parseIntegerOption(values, 'base-port', 1, 65535) ?? 15020;
    const given = positionals[0]!;
    const master = resolveCaseInsensitive(process.cwd(), given);
    if (master === undefined) {
      ctx.stderr(`feederwatch import-opendss: ${given}: file not found\n`);
      return 2;
    }
    let busCoordsFile: string | undefined;
    if (typeof values.buscoords === 'string') {
      busCoordsFile = resolveCaseInsensitive(process.cwd(), values.buscoords);
      if (busCoordsFile === undefined) {
        ctx.stderr(`feederwatch import-opendss: ${values.buscoords}: file not found\n`);
        return 2;
      }
    }

    let result: ReturnType<typeof importOpenDss>;
    try {
      result = importOpenDss(master, {
        siteId: values['site-id'] as string | undefined,
        feederId: values['feeder-id'] as string | undefined,
        switchPattern,
        customersPerTransformer,
        areaClass,
        devices,
        basePort,
        busCoordsFile,
      });
    } catch (err) {
      if (err instanceof DssInputError) {
        ctx.stderr(`feederwatch import-opendss: ${err.message}\n`);
        return 2;
      }
      if (err instanceof TopologyError || err instanceof RangeError) {
        ctx.stderr(`feederwatch import-opendss: ${master}: ${err.message}\n`);
        return 1;
      }
      throw err;
    }

    // The importer's own check: what it writes must load as a site, or it says so and fails.
    const outPath = resolve(out);
    try {
      parseSiteConfig(result.yaml, { env: {}, sourceName: outPath, baseDir: dirname(outPath) });
    } catch (err) {
      if (!(err instanceof SiteConfigError)) throw err;
      ctx.stderr(`feederwatch import-opendss: the imported site is not valid (${err.issues.length} issues); nothing written:\n`);
      for (const issue of err.issues.slice(0, 50)) ctx.stderr(`  ${formatIssue(issue)}\n`);
      return 1;
    }
    await mkdir(dirname(outPath), { recursive: true });
    await writeFile(outPath, result.yaml);
    if (typeof values.report === 'string') {
      const reportPath = resolve(values.report);
      await mkdir(dirname(reportPath), { recursive: true });
      await writeFile(reportPath, JSON.stringify(result.report, null, 2) + '\n');
    }
    ctx.stdout(formatReportSummary(result.report, out));
    return 0;
  },
};
