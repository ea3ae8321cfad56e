import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { checkCrossReferences } from './cross-references.js';
import { deepFreeze } from './deep-freeze.js';
import { packageTemplateDir, TemplateLibrary } from './device-templates.js';
import { substituteEnv, type Env } from './env-substitution.js';
import { resolveDevices } from './resolve-devices.js';
import { validateSiteDocument } from './schema-validation.js';
import { SiteConfigError, type ConfigIssue } from './site-config-error.js';
import type { SiteConfig } from './site-config.js';
import type { SiteDocument } from './site-document.js';
import { readYaml } from './yaml-reader.js';

export { SiteConfigError, formatIssue, REDACTED, type ConfigIssue } from './site-config-error.js';

export interface ParseSiteOptions {
  env: Env;
  /** Names the file in the error message. */
  sourceName?: string;
  /**
   * The folder relative paths in the file are resolved against (`templateDirs`, `opcua.pkiDir`): the site
   * file's folder. Default: the working directory.
   */
  baseDir?: string;
}

/**
 * Parses and validates a site file: YAML, `${NAME}` substitution from `opts.env`, JSON Schema with
 * defaults, device templates merged in and address bases applied, then reference checks. Returns the
 * site without `pointSets` and `templateDirs`, deeply frozen. Throws a SiteConfigError listing every
 * issue found.
 */
export function parseSiteConfig(text: string, opts: ParseSiteOptions): SiteConfig {
  const sourceName = opts.sourceName;
  const baseDir = opts.baseDir ?? process.cwd();
  const parsed = readYaml(text);
  if (parsed.issues.length > 0) throw new SiteConfigError(parsed.issues, sourceName);

  const substituted = substituteEnv(parsed.value, opts.env);
  const schema = validateSiteDocument(substituted.value, {
    redactedPaths: substituted.substitutedPaths,
    unsetVariablePaths: new Set(substituted.issues.map((issue) => issue.path)),
  });
  const issues = [...substituted.issues, ...schema.issues];
  const doc = schema.value;
  // Templates and reference checks rely on the shape the schema guarantees.
  if (doc === undefined) throw new SiteConfigError(issues, sourceName);

  const templates = new TemplateLibrary([...siteTemplateDirs(doc, baseDir, issues), packageTemplateDir()]);
  const resolved = resolveDevices(doc, templates);
  issues.push(...resolved.issues, ...checkCrossReferences(doc, resolved));
  if (issues.length > 0) throw new SiteConfigError(issues, sourceName);

  const { pointSets: _pointSets, templateDirs: _templateDirs, ...rest } = doc;
  const site: SiteConfig = { ...rest, devices: resolved.devices };
  if (doc.opcua !== undefined) site.opcua = { ...doc.opcua, pkiDir: resolve(baseDir, doc.opcua.pkiDir) };
  if (doc.mqtt?.tls !== undefined) {
    // TLS files are read when the publisher connects: check them now, so a typo fails `validate`, not the start.
    const tls = { ...doc.mqtt.tls };
    for (const key of ['ca', 'cert', 'key'] as const) {
      const file = tls[key];
      if (file === undefined) continue;
      tls[key] = resolve(baseDir, file);
      if (!existsSync(tls[key]) || !statSync(tls[key]).isFile()) issues.push({ path: `mqtt.tls.${key}`, message: `file not found: ${tls[key]}`, value: file });
    }
    site.mqtt = { ...doc.mqtt, tls };
  }
  // The momentary threshold follows the chosen standard unless given outright.
  site.thresholds = {
    ...doc.thresholds,
    momentaryThresholdMs: doc.thresholds.momentaryThresholdMs ?? (doc.thresholds.momentaryStandard === 'IEEE 1366' ? 300_000 : 180_000),
  };
  if (doc.persistence !== undefined) site.persistence = { ...doc.persistence, stateDir: resolve(baseDir, doc.persistence.stateDir) };
  if (doc.http !== undefined) issues.push(...httpIssues(doc.http));
  doc.plannedOutages.forEach((planned, i) => {
    if (!(Date.parse(planned.end) > Date.parse(planned.start))) {
      issues.push({ path: `plannedOutages[${i}].end`, message: `must be after start (${planned.start})`, value: planned.end });
    }
  });
  if (issues.length > 0) throw new SiteConfigError(issues, sourceName);
  const frozen = deepFreeze<SiteConfig>(site);
  SECRETS.set(frozen, [...substituted.substitutedValues]);
  return frozen;
}

/** Loopback listen addresses: the only ones the HTTP server may bind without a token. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || /^::ffff:127(\.\d{1,3}){3}$/.test(h);
}

/** Nothing listens beyond loopback without a bearer token. */
function httpIssues(http: NonNullable<SiteDocument['http']>): ConfigIssue[] {
  if (!http.enabled || http.token !== undefined || isLoopbackHost(http.host)) return [];
  return [{ path: 'http.token', message: `is required when http.host is not a loopback address (host ${http.host}): set token: \${FEEDERWATCH_HTTP_TOKEN} and the variable, or bind 127.0.0.1` }];
}

/** Values taken from the environment per loaded site (credentials, mostly): kept out of the config itself. */
const SECRETS = new WeakMap<SiteConfig, string[]>();

/**
 * The values of a loaded site that came from environment variables. The logger masks them wherever they
 * appear (a password inside a broker URL, say), whatever the key they were under.
 */
export function siteSecrets(site: SiteConfig): readonly string[] {
  return SECRETS.get(site) ?? [];
}

/** The site's own template folders, absolute; a folder that does not exist is an issue. */
function siteTemplateDirs(doc: SiteDocument, baseDir: string, issues: ConfigIssue[]): string[] {
  return (doc.templateDirs ?? []).map((dir, i) => {
    const absolute = resolve(baseDir, dir);
    if (!existsSync(absolute) || !statSync(absolute).isDirectory()) {
      issues.push({ path: `templateDirs[${i}]`, message: `folder not found: ${absolute}`, value: dir });
    }
    return absolute;
  });
}

/** Reads and parses a site file; an unreadable file is a SiteConfigError too, so callers handle one error type. */
export async function loadSiteConfig(file: string, env: Env = process.env): Promise<SiteConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new SiteConfigError([{ path: '', message: `cannot read the file: ${reason}` }], file);
  }
  return parseSiteConfig(text, { env, sourceName: file, baseDir: dirname(resolve(file)) });
}
