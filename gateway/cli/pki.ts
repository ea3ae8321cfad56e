/**
 * `feederwatch pki`: the OPC UA PKI folder of the gateway (own/, trusted/, rejected/).
 *
 * The gateway never accepts an unknown server certificate by itself: the first connection to a new server
 * fails with CERTIFICATE_REJECTED and node-opcua saves the server's certificate in rejected/. An operator
 * checks it (subject, thumbprint - compare with the server's display) and promotes it with `pki trust`;
 * the running gateway picks it up at its next connection attempt. See docs/opcua.md.
 *
 * Subcommand and file are positionals: this command sets `allowPositionals` and takes them as a third
 * argument of run() (gateway/cli.ts passes them for commands that allow them).
 */
import { resolve } from 'node:path';
import { type CertificateInfo, listPki, pkiLayout, trustCertificate } from '../../drivers/opcua/pki-store.js';
import type { Command, CommandContext } from './commands.js';
import { loadSiteOrReport } from './common.js';
import { UsageError } from './usage-error.js';

/** A command whose parser keeps positionals and hands them to run(). */
export interface PositionalCommand extends Command {
  allowPositionals: true;
  run(values: Record<string, string | boolean | undefined>, ctx: CommandContext, positionals?: readonly string[]): Promise<number>;
}

const HELP = `Usage: feederwatch pki trust <certificate file> (--config <site.yaml> | --pki <dir>)
       feederwatch pki list (--config <site.yaml> | --pki <dir>)

Manages the OPC UA PKI folder of the gateway (opcua.pkiDir of the site): own/ holds the gateway's
certificate, trusted/certs/ the server certificates it trusts, rejected/ those it has refused.

  trust <file>   puts a certificate into trusted/certs/ (moved from rejected/, or copied from anywhere,
                 PEM or DER) and removes it from rejected/; prints its subject and SHA-1 thumbprint.
                 Compare the thumbprint with the one the server shows before trusting it.
                 A running gateway uses it at its next connection attempt; no restart needed.
  list           lists own, trusted and rejected certificates with subject, thumbprint and validity.

Options:
  --config <file>   the site configuration (YAML): its opcua.pkiDir is the PKI folder
  --pki <dir>       the PKI folder itself
  -h, --help        this help

Exit codes: 0 done, 2 usage error, invalid configuration or not a certificate.
`;

export const pkiCommand: PositionalCommand = {
  name: 'pki',
  summary: 'OPC UA certificates: trust a server certificate, list the PKI folder',
  help: HELP,
  allowPositionals: true,
  options: { config: { type: 'string', short: 'c' }, pki: { type: 'string' } },
  async run(values, ctx, positionals = []) {
    const [action, ...args] = positionals;
    if (action !== 'trust' && action !== 'list') {
      throw new UsageError(action === undefined ? 'a subcommand is required: trust or list' : `unknown subcommand "${action}" (trust or list)`);
    }
    const expected = action === 'trust' ? 1 : 0;
    if (args.length !== expected) {
      throw new UsageError(action === 'trust' ? 'pki trust takes exactly one certificate file' : `pki list takes no argument (got ${args.join(' ')})`);
    }
    const pkiDir = await resolvePkiDir(values, ctx);
    if (pkiDir === undefined) return 2;
    if (action === 'list') return list(pkiDir, ctx);
    return trust(pkiDir, args[0] as string, ctx);
  },
};

async function resolvePkiDir(values: Record<string, string | boolean | undefined>, ctx: CommandContext): Promise<string | undefined> {
  const config = values.config;
  const pki = values.pki;
  if (typeof config === 'string' && typeof pki === 'string') throw new UsageError('give either --config or --pki, not both');
  if (typeof pki === 'string' && pki !== '') return resolve(pki);
  if (typeof config !== 'string' || config === '') throw new UsageError('--config <site.yaml> or --pki <dir> is required');
  const result = await loadSiteOrReport(config, ctx);
  if (!result.ok) return undefined;
  const dir = result.site.opcua?.pkiDir;
  if (dir === undefined) {
    ctx.stderr(`${config}: the site has no opcua section, so no PKI folder; use --pki <dir>\n`);
    return undefined;
  }
  return resolve(dir);
}

async function trust(pkiDir: string, file: string, ctx: CommandContext): Promise<number> {
  let result;
  try {
    result = await trustCertificate(pkiDir, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    ctx.stderr(`feederwatch pki trust: ${code === 'ENOENT' ? `no such file: ${file}` : (err as Error).message}\n`);
    return 2;
  }
  const { info } = result;
  ctx.stdout(`trusted ${info.subject}\n`);
  ctx.stdout(describeLines(info).map((line) => `  ${line}\n`).join(''));
  ctx.stdout(`  now in: ${result.trustedFile}\n`);
  for (const removed of result.removedFromRejected) ctx.stdout(`  removed from rejected/: ${removed}\n`);
  ctx.stdout('A running gateway uses it at its next connection attempt (within 20 s).\n');
  return 0;
}

async function list(pkiDir: string, ctx: CommandContext): Promise<number> {
  const listing = await listPki(pkiDir);
  const layout = pkiLayout(pkiDir);
  ctx.stdout(`PKI folder ${pkiDir}\n`);
  const section = (title: string, folder: string, entries: CertificateInfo[]): void => {
    ctx.stdout(`${title} (${folder}): ${entries.length === 0 ? 'none' : entries.length}\n`);
    for (const info of entries) {
      ctx.stdout(`  ${info.subject}\n`);
      ctx.stdout(describeLines(info).map((line) => `    ${line}\n`).join(''));
      ctx.stdout(`    file: ${info.file}\n`);
    }
  };
  section('own', `${pkiDir}/own/certs`, listing.own);
  section('trusted', layout.trusted, listing.trusted);
  section('rejected', layout.rejected, listing.rejected);
  for (const bad of listing.unreadable) ctx.stdout(`unreadable: ${bad.file}: ${bad.error}\n`);
  if (listing.rejected.length > 0) ctx.stdout(`Trust one with: feederwatch pki trust <file> --pki ${JSON.stringify(pkiDir)}\n`);
  return 0;
}

function describeLines(info: CertificateInfo): string[] {
  return [
    `thumbprint (SHA-1): ${info.thumbprint}`,
    `valid: ${info.validFrom.toISOString()} to ${info.validTo.toISOString()}`,
    ...(info.applicationUri !== undefined ? [`application URI: ${info.applicationUri}`] : []),
  ];
}
