import { writeFile } from 'node:fs/promises';
import { generateSubstation, substationYaml, type SubstationOptions } from '../../simulators/synthetic/substation.js';
import type { Command } from './commands.js';
import { UsageError } from './usage-error.js';

function count(values: Record<string, string | boolean | undefined>, name: string, max: number, required: boolean): number | undefined {
  const value = values[name];
  if (value === undefined) {
    if (required) throw new UsageError(`--${name} <n> is required`);
    return undefined;
  }
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || n < 1 || n > max) throw new UsageError(`--${name} must be an integer 1..${max} (got ${JSON.stringify(value)})`);
  return n;
}

/** `--meters 2000` (a count) or `--meters 2%` (a share of the customers). */
function meters(value: string | boolean | undefined): Pick<SubstationOptions, 'meters' | 'meterShare'> {
  if (value === undefined) return {};
  if (typeof value === 'string' && /^\d+$/.test(value)) return { meters: Number(value) };
  const share = typeof value === 'string' && /^\d+(\.\d+)?%$/.test(value) ? Number(value.slice(0, -1)) / 100 : NaN;
  if (!(share >= 0 && share <= 1)) throw new UsageError(`--meters must be a count or a percentage 0%..100% (got ${JSON.stringify(value)})`);
  return { meterShare: share };
}

export const generateSubstationCommand: Command = {
  name: 'generate-substation',
  summary: 'write a synthetic substation site file (N feeders x M transformers x K customers) for scale tests',
  help: `Usage: feederwatch generate-substation --feeders <n> --transformers <m> --customers <k> --out <site.yaml>
                                      [--meters <count|share%>] [--base-port <port>] [--no-ftus] [--site-id <id>]

Writes a site file with n feeders, m transformers per feeder and k customers per transformer: a feeder
breaker, a trunk split by sectionalizers, a mid-trunk recloser and load-break switches, fused laterals
carrying the transformers, normally-open ties between neighbouring feeders, mixed area classes and
diagram positions. Ids tell where an element hangs (F07-S03, F07-T0412, C07041201). Devices: a generic-ftu
FTU on every switch but the fuses and, with --meters, chint-dtsu666 meters on an evenly spread share of the
customers, all Modbus TCP on 127.0.0.1, up to 247 unit ids per port from --base-port on. See docs/scale.md.

Options:
  --feeders <n>             feeders (1..999)
  --transformers <m>        transformers per feeder (1..9999)
  --customers <k>           customers per transformer (1..9999)
  --out <file>              where to write the site file ('-': standard output)
  --meters <count|share%>   metered customers: a count (2000) or a share (2%); default none
  --base-port <port>        first Modbus TCP port (default 15020); meters start on the port after the FTUs'
  --no-ftus                 no FTU devices
  --site-id <id>            default synthetic-<n>x<m>x<k>
  -h, --help                this help

Exit codes: 0 written, 1 the file could not be written, 2 bad options.
`,
  options: {
    feeders: { type: 'string' },
    transformers: { type: 'string' },
    customers: { type: 'string' },
    out: { type: 'string', short: 'o' },
    meters: { type: 'string' },
    'base-port': { type: 'string' },
    'no-ftus': { type: 'boolean' },
    'site-id': { type: 'string' },
  },
  async run(values, ctx) {
    const out = values.out;
    if (typeof out !== 'string' || out === '') throw new UsageError('--out <file> is required');
    const siteId = values['site-id'];
    if (siteId !== undefined && (typeof siteId !== 'string' || !/^[A-Za-z0-9_-]+$/.test(siteId))) {
      throw new UsageError(`--site-id must be letters, digits, '_' and '-' (got ${JSON.stringify(siteId)})`);
    }
    const opts: SubstationOptions = {
      feeders: count(values, 'feeders', 999, true)!,
      transformersPerFeeder: count(values, 'transformers', 9999, true)!,
      customersPerTransformer: count(values, 'customers', 9999, true)!,
      ftus: values['no-ftus'] !== true,
      ...meters(values.meters),
    };
    const basePort = count(values, 'base-port', 65535, false);
    if (basePort !== undefined) opts.basePort = basePort;
    if (typeof siteId === 'string') opts.siteId = siteId;
    const total = opts.feeders * opts.transformersPerFeeder * opts.customersPerTransformer;
    if (opts.meters !== undefined && opts.meters > total) throw new UsageError(`--meters ${opts.meters} is more than the ${total} customers`);
    let doc;
    try {
      doc = generateSubstation(opts);
    } catch (err) {
      if (err instanceof RangeError) throw new UsageError(err.message);
      throw err;
    }
    const args = [`--feeders ${opts.feeders}`, `--transformers ${opts.transformersPerFeeder}`, `--customers ${opts.customersPerTransformer}`];
    if (values.meters !== undefined) args.push(`--meters ${String(values.meters)}`);
    if (basePort !== undefined) args.push(`--base-port ${basePort}`);
    if (opts.ftus === false) args.push('--no-ftus');
    if (opts.siteId !== undefined) args.push(`--site-id ${opts.siteId}`);
    const text = substationYaml(doc, [`Synthetic substation written by: feederwatch generate-substation ${args.join(' ')}`, 'Structure and ids: docs/scale.md.', '']);
    if (out === '-') {
      ctx.stdout(text);
      return 0;
    }
    await writeFile(out, text);
    const ports = new Set(doc.devices.map((d) => d.port));
    ctx.stdout(
      `${out}: ${doc.feeders.length} feeders, ${doc.feeders.reduce((n, f) => n + f.switches.length, 0)} switching devices, ` +
        `${doc.feeders.reduce((n, f) => n + f.sections.length, 0)} sections, ${opts.feeders * opts.transformersPerFeeder} transformers, ` +
        `${total} customers, ${doc.devices.length} devices on ${ports.size} Modbus TCP port${ports.size === 1 ? '' : 's'}.\n`,
    );
    return 0;
  },
};
