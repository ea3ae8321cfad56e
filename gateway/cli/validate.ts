import type { Command } from './commands.js';
import { loadSiteOrReport, requireString } from './common.js';

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check a site configuration; prints every issue, exit code 2 if invalid',
  help: `Usage: feederwatch validate --config <site.yaml>

Checks the site configuration against config/site.schema.json and every cross-reference (switches, sections,
transformers, customers, devices). Prints every issue with its path and value. Environment variables named
in the file (\${NAME}) must be set. Nothing is started.

Options:
  --config <file>   the site configuration (YAML)
  -h, --help        this help

Exit codes: 0 valid, 2 invalid or unreadable.
`,
  options: { config: { type: 'string', short: 'c' } },
  async run(values, ctx) {
    const file = requireString(values, 'config');
    const result = await loadSiteOrReport(file, ctx);
    if (!result.ok) return result.exitCode;
    const { site } = result;
    const sections = site.feeders.reduce((n, f) => n + f.sections.length, 0);
    const switches = site.feeders.reduce((n, f) => n + f.switches.length, 0);
    const transformers = site.feeders.flatMap((f) => f.transformers);
    const customers = transformers.reduce((n, t) => n + t.customers.length, 0);
    ctx.stdout(
      `${file}: valid. Site ${site.siteId}: ${site.feeders.length} feeders, ${switches} switching devices, ${sections} sections, ` +
        `${transformers.length} transformers, ${customers} customers, ${site.devices.length} devices.\n`,
    );
    return 0;
  },
};
