import { readFile } from 'node:fs/promises';
import { checkCrossReferences } from './cross-references.js';
import { deepFreeze } from './deep-freeze.js';
import { substituteEnv, type Env } from './env-substitution.js';
import { validateSiteDocument } from './schema-validation.js';
import { SiteConfigError } from './site-config-error.js';
import type { SiteConfig } from './site-config.js';
import { readYaml } from './yaml-reader.js';

export { SiteConfigError, formatIssue, REDACTED, type ConfigIssue } from './site-config-error.js';

export interface ParseSiteOptions {
  env: Env;
  /** Names the file in the error message. */
  sourceName?: string;
}

/**
 * Parses and validates a site file: YAML, `${NAME}` substitution from `opts.env`, JSON Schema with
 * defaults, then reference checks. Returns the site without `pointSets`, deeply frozen. Throws a
 * SiteConfigError listing every issue found.
 */
export function parseSiteConfig(text: string, opts: ParseSiteOptions): SiteConfig {
  const sourceName = opts.sourceName;
  const parsed = readYaml(text);
  if (parsed.issues.length > 0) throw new SiteConfigError(parsed.issues, sourceName);

  const substituted = substituteEnv(parsed.value, opts.env);
  const schema = validateSiteDocument(substituted.value, {
    redactedPaths: substituted.substitutedPaths,
    unsetVariablePaths: new Set(substituted.issues.map((issue) => issue.path)),
  });
  const issues = [...substituted.issues, ...schema.issues];
  // Reference checks rely on the shape the schema guarantees.
  if (schema.site !== undefined) issues.push(...checkCrossReferences(schema.site));
  if (issues.length > 0 || schema.site === undefined) throw new SiteConfigError(issues, sourceName);

  const site = { ...schema.site };
  delete site.pointSets;
  return deepFreeze<SiteConfig>(site);
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
  return parseSiteConfig(text, { env, sourceName: file });
}
