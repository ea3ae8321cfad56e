import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import schema from '../../config/site.schema.json' with { type: 'json' };
import { formatPath, isSecretPath, type PathSegment } from './config-path.js';
import { REDACTED, type ConfigIssue } from './site-config-error.js';
import type { PointConfig, SiteConfig } from './site-config.js';

/** The site file as written: the site plus `pointSets`, which only exists to carry YAML anchors. */
export interface SiteDocument extends SiteConfig {
  pointSets?: Record<string, PointConfig[]>;
}

export type SchemaValidationResult = { site: SiteDocument; issues: [] } | { site: undefined; issues: ConfigIssue[] };

export interface SchemaValidationOptions {
  /** Paths whose values must not be shown (taken from the environment). */
  redactedPaths: ReadonlySet<string>;
  /**
   * Paths holding a string with an unset `${NAME}`, already reported. Errors there are dropped unless
   * they are type errors, which stay wrong whatever the variable holds.
   */
  unsetVariablePaths: ReadonlySet<string>;
}

/** Schema annotation holding our error text per failing keyword, where ajv's own text would be cryptic. */
const MESSAGES_KEYWORD = 'x-messages';

let compiled: ValidateFunction<SiteDocument> | undefined;

function validator(): ValidateFunction<SiteDocument> {
  if (compiled === undefined) {
    // strict: a typo in the schema itself fails loudly instead of silently validating nothing.
    // strictRequired is off: `then: { required: [encoding] }` names a key defined by the enclosing schema.
    const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true, strictRequired: false });
    ajv.addKeyword({ keyword: MESSAGES_KEYWORD, schemaType: 'object' });
    compiled = ajv.compile<SiteDocument>(schema);
  }
  return compiled;
}

/**
 * Validates against config/site.schema.json and fills in defaults (mutating `doc`). Every schema
 * error becomes one issue. The site is returned when no issue remains.
 */
export function validateSiteDocument(doc: unknown, opts: SchemaValidationOptions): SchemaValidationResult {
  const validate = validator();
  if (validate(doc)) return { site: doc, issues: [] };

  const issues: ConfigIssue[] = [];
  // An aliased YAML node (a shared point list) is validated once per place it is used; report each
  // defect once, at the first place, by remembering which (object, key, message) was reported.
  const reported = new Map<unknown, Set<string>>();
  for (const error of validate.errors ?? []) {
    // `if` only says "then/else failed"; the failing then/else keyword is reported on its own.
    if (error.keyword === 'if') continue;
    const described = describe(error);
    const raw = decodePointer(error.instancePath);
    if (described.key !== undefined) raw.push(described.key);
    const { segments, container } = resolve(doc, raw);
    const last = segments.length === 0 ? '' : String(segments[segments.length - 1]);
    const seen = reported.get(container) ?? new Set<string>();
    const fingerprint = `${last}\u0000${described.message}`;
    if (seen.has(fingerprint)) continue;
    seen.add(fingerprint);
    reported.set(container, seen);

    const path = formatPath(segments);
    if (opts.unsetVariablePaths.has(path) && error.keyword !== 'type') continue;
    if (segments.length === 0 && error.keyword === 'type') {
      issues.push({ path, message: 'the file must hold a mapping of site keys (siteId, feeders, devices, ...)' });
      continue;
    }
    const issue: ConfigIssue = { path, message: described.message };
    if (described.showValue && isShowable(error.data)) {
      issue.value = opts.redactedPaths.has(path) || isSecretPath(segments) ? REDACTED : error.data;
    }
    issues.push(issue);
  }
  if (issues.length > 0) return { site: undefined, issues };
  // Only unset-variable strings failed, and they are strings where strings belong, so the document
  // has the schema's shape and the reference checks can still run (e.g. in CI without the secrets).
  return { site: doc as SiteDocument, issues: [] };
}

interface Described {
  message: string;
  /** The key the error is about, when ajv reports it on the parent object. */
  key?: string;
  showValue: boolean;
}

function describe(error: ErrorObject): Described {
  const params: Record<string, unknown> = error.params;
  const custom = customMessage(error);
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params['additionalProperty']);
      return { message: `unknown key ${JSON.stringify(key)}`, key, showValue: false };
    }
    case 'required': {
      const key = String(params['missingProperty']);
      return { message: custom ?? `required key ${JSON.stringify(key)} is missing`, key, showValue: false };
    }
    case 'enum': {
      const allowed = Array.isArray(params['allowedValues']) ? params['allowedValues'].map(String).join(', ') : '';
      return { message: custom ?? `must be one of ${allowed}`, showValue: true };
    }
    case 'type':
      return { message: custom ?? `must be ${typeName(String(params['type']))}`, showValue: true };
    case 'minimum':
      return { message: custom ?? `must be >= ${String(params['limit'])}`, showValue: true };
    case 'maximum':
      return { message: custom ?? `must be <= ${String(params['limit'])}`, showValue: true };
    case 'exclusiveMinimum':
      return { message: custom ?? `must be > ${String(params['limit'])}`, showValue: true };
    case 'exclusiveMaximum':
      return { message: custom ?? `must be < ${String(params['limit'])}`, showValue: true };
    case 'minLength':
      return { message: custom ?? (params['limit'] === 1 ? 'must not be empty' : `must be at least ${String(params['limit'])} characters`), showValue: true };
    case 'minItems':
      return { message: custom ?? (params['limit'] === 1 ? 'must not be an empty list' : `must have at least ${String(params['limit'])} items`), showValue: false };
    case 'pattern':
      return { message: custom ?? `must match ${String(params['pattern'])}`, showValue: true };
    default:
      return { message: custom ?? error.message ?? `fails the "${error.keyword}" rule`, showValue: true };
  }
}

function customMessage(error: ErrorObject): string | undefined {
  const messages: unknown = error.parentSchema?.[MESSAGES_KEYWORD];
  if (typeof messages !== 'object' || messages === null) return undefined;
  const message: unknown = (messages as Record<string, unknown>)[error.keyword];
  return typeof message === 'string' ? message : undefined;
}

function typeName(type: string): string {
  switch (type) {
    case 'object':
      return 'a mapping (key: value)';
    case 'array':
      return 'a list';
    case 'integer':
      return 'an integer';
    default:
      return `a ${type}`;
  }
}

/** Only scalars are shown: a whole mapping in an error line helps nobody. */
function isShowable(value: unknown): boolean {
  return value === null || (typeof value !== 'object' && typeof value !== 'function');
}

function decodePointer(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Walks the document to tell array indexes from keys, and finds the object holding the last step. */
function resolve(root: unknown, raw: readonly string[]): { segments: PathSegment[]; container: unknown } {
  const segments: PathSegment[] = [];
  let node: unknown = root;
  let container: unknown = root;
  for (const step of raw) {
    container = node;
    if (Array.isArray(node)) {
      const index = Number(step);
      segments.push(index);
      node = node[index];
    } else {
      segments.push(step);
      node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[step] : undefined;
    }
  }
  return { segments, container };
}
