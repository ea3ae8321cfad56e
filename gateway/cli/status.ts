import type { StatusSnapshot } from '../http/status-model.js';
import type { Command } from './commands.js';
import { UsageError } from './usage-error.js';

const DEFAULT_URL = 'http://127.0.0.1:8080';

export const statusCommand: Command = {
  name: 'status',
  summary: 'print the live state of a running gateway (feeders, outages, self-healing, devices, sinks)',
  help: `Usage: feederwatch status [--url <url>] [--token-env <VAR>] [--json]

Asks a running gateway (feederwatch run or demo) for its live state over its HTTP server (/api/state,
docs/status-page.md) and prints it: readiness, per feeder the energized, de-energized and faulted sections and
the open switching devices, the active outages, the latest self-healing reports, devices and sinks.

Options:
  --url <url>          the gateway's HTTP server (default ${DEFAULT_URL})
  --token-env <VAR>    send the bearer token held in this environment variable (never on the command line)
  --json               print the state as JSON, as /api/state returns it
  -h, --help           this help

Exit codes: 0 printed, 1 gateway unreachable or bad answer, 2 usage error (e.g. --token-env names an unset
variable), 3 unauthorized (token missing or wrong).
`,
  options: { url: { type: 'string' }, 'token-env': { type: 'string' }, json: { type: 'boolean' } },
  async run(values, ctx) {
    const base = typeof values.url === 'string' ? values.url : DEFAULT_URL;
    let url: URL;
    try {
      url = new URL('api/state', base.endsWith('/') ? base : `${base}/`);
    } catch {
      throw new UsageError(`--url must be a URL such as ${DEFAULT_URL} (got ${JSON.stringify(base)})`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url must be http:// or https:// (got ${JSON.stringify(base)})`);
    const headers: Record<string, string> = { accept: 'application/json' };
    const tokenEnv = values['token-env'];
    if (typeof tokenEnv === 'string') {
      const token = ctx.env[tokenEnv];
      if (token === undefined || token === '') throw new UsageError(`--token-env ${tokenEnv}: the environment variable is not set`);
      headers.authorization = `Bearer ${token}`;
    }
    let res: Response;
    try {
      res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
      ctx.stderr(`feederwatch status: cannot reach the gateway at ${url.origin} (${why}). Is it running, with http enabled on that address?\n`);
      return 1;
    }
    if (res.status === 401) {
      ctx.stderr(
        `feederwatch status: ${url.origin} refused the request: unauthorized. ` +
          (typeof tokenEnv === 'string' ? `The token in ${tokenEnv} is not the gateway's http.token.\n` : 'This gateway needs a token: pass --token-env <VAR> with the variable that holds it.\n'),
      );
      return 3;
    }
    if (!res.ok) {
      ctx.stderr(`feederwatch status: ${url.href} answered ${res.status} ${res.statusText}\n`);
      return 1;
    }
    let state: StatusSnapshot;
    try {
      state = (await res.json()) as StatusSnapshot;
    } catch {
      ctx.stderr(`feederwatch status: ${url.href} did not answer JSON: is it a feederwatch gateway?\n`);
      return 1;
    }
    if (values.json === true) {
      ctx.stdout(JSON.stringify(state, null, 2) + '\n');
      return 0;
    }
    ctx.stdout(formatState(state, url.origin));
    return 0;
  },
};

function since(iso: string, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  return s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
}

export function formatState(s: StatusSnapshot, origin: string): string {
  const now = Date.parse(s.generatedAt);
  const lines: string[] = [];
  lines.push(`Site ${s.siteId}${s.name ? ` (${s.name})` : ''} at ${origin}: ${s.readiness.ready ? 'ready' : 'NOT READY'}`);
  for (const reason of s.readiness.reasons) lines.push(`  not ready: ${reason}`);
  for (const issue of s.readiness.configErrors) lines.push(`  config: ${issue.path === '' ? '' : issue.path + ': '}${issue.message}`);
  lines.push(
    s.gateway.startedAt === null
      ? 'Gateway: not started'
      : `Gateway: running since ${s.gateway.startedAt} (${since(s.gateway.startedAt, now)}), ${s.gateway.eventsEmitted} events, ${s.gateway.stateFile === null ? 'no persistence' : `state in ${s.gateway.stateFile}`}`,
  );
  lines.push('Feeders:');
  for (const f of s.feeders) {
    const by = (state: string): string[] => Object.keys(f.sections).filter((id) => f.sections[id] === state);
    lines.push(`  ${f.id}${f.name ? ` ${f.name}` : ''}: ${f.customersOut === 0 ? 'all customers supplied' : `${f.customersOut} customers out`}`);
    lines.push(`    energized: ${by('energized').join(', ') || '-'}`);
    if (by('deenergized').length > 0) lines.push(`    de-energized: ${by('deenergized').join(', ')}`);
    if (by('faulted').length > 0) lines.push(`    FAULTED: ${by('faulted').join(', ')}`);
    const open = Object.keys(f.switches).filter((id) => f.switches[id] === 'open');
    const unknown = Object.keys(f.switches).filter((id) => f.switches[id] === 'unknown');
    lines.push(`    open: ${open.join(', ') || '-'}${unknown.length > 0 ? `; position unknown: ${unknown.join(', ')}` : ''}`);
  }
  lines.push(`Active outages: ${s.outages.length === 0 ? 'none' : s.outages.length}`);
  for (const o of s.outages) {
    lines.push(
      `  ${o.id}: ${o.feederIds.join(',')} ${o.cause}${o.causeDevice ? ` at ${o.causeDevice}` : ''}${o.faultSection ? `, fault on ${o.faultSection}` : ''}, ` +
        `${o.currentCustomerCount} customers out (${o.customerCount} affected), ${o.kind}, for ${since(o.startedAt, now)}`,
    );
  }
  if (s.selfHealing.length > 0) {
    lines.push('Self-healing:');
    for (const r of s.selfHealing.slice(0, 3)) {
      lines.push(
        `  ${r.feederId} ${r.kind}: ${r.state === 'running' ? 'running' : r.outcome}, fault ${r.faultSection ?? 'not located'}, ` +
          `${r.steps.length} steps, still out ${r.stillOut.customers.length}, started ${since(r.startedAt, now)} ago`,
      );
    }
  }
  const count = (state: string): number => s.devices.filter((d) => d.state === state).length;
  lines.push(`Devices: ${count('online')} online, ${count('degraded')} degraded, ${count('offline')} offline, ${count('unknown')} unknown`);
  for (const d of s.devices.filter((d) => d.state === 'offline' || d.state === 'degraded')) lines.push(`  ${d.deviceId} ${d.state}${d.error ? `: ${d.error}` : ''}`);
  lines.push(`Sinks: ${s.sinks.map((k) => `${k.name} ${k.reachable ? 'reachable' : 'UNREACHABLE'}, ${k.buffered} buffered`).join('; ') || 'none'}`);
  return lines.join('\n') + '\n';
}
