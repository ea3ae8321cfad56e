import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import siteSchema from '../../config/site.schema.json' with { type: 'json' };
import templateSchema from '../../config/device-template.schema.json' with { type: 'json' };
import { formatPath, isSecretPath, type PathSegment } from './config-path.js';
import { REDACTED, type ConfigIssue } from './site-config-error.js';
import type { ModbusPointDocument, SiteDocument, TemplateDocument } from './site-document.js';

export type { SiteDocument } from './site-document.js';

export type SchemaValidationResult<T> = { value: T; issues: [] } | { value: undefined; issues: ConfigIssue[] };

export interface SchemaValidationOptions {
  /** Paths whose values must not be shown (taken from the environment). */
  redactedPaths: ReadonlySet<string>;
  /**
   * Paths holding a string with an unset `${NAME}`, already reported. Errors there are dropped unless
   * they are type errors, which stay wrong whatever the variable holds.
   */
  unsetVariablePaths: ReadonlySet<string>;
}

const NO_SECRETS: SchemaValidationOptions = { redactedPaths: new Set(), unsetVariablePaths: new Set() };

/** Schema annotation holding our error text per failing keyword, where ajv's own text would be cryptic. */
const MESSAGES_KEYWORD = 'x-messages';

interface Validators {
  site: ValidateFunction<SiteDocument>;
  template: ValidateFunction<TemplateDocument>;
  modbusPoint: ValidateFunction<ModbusPointDocument>;
}

// Compiled once per process: compiling is the slow part, and a compiled validator holds no state
// between calls except `errors`, which every caller reads right after its own synchronous call.
let compiled: Validators | undefined;

function validators(): Validators {
  if (compiled === undefined) {
    // strict: a typo in the schema itself fails loudly instead of silently validating nothing.
    // strictRequired is off: `then: { required: [encoding] }` names a key defined by the enclosing schema.
    // allowUnionTypes: a point override's `unit` may be a string or null (null removes the template's).
    const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true, strictRequired: false, allowUnionTypes: true });
    ajv.addKeyword({ keyword: MESSAGES_KEYWORD, schemaType: 'object' });
    // The template schema refers to the site schema's point definitions by its $id.
    ajv.addSchema(siteSchema);
    ajv.addSchema(templateSchema);
    compiled = {
      site: required(ajv.getSchema<SiteDocument>('site.schema.json')),
      template: required(ajv.getSchema<TemplateDocument>('device-template.schema.json')),
      modbusPoint: required(ajv.getSchema<ModbusPointDocument>('site.schema.json#/definitions/modbusPoint')),
    };
  }
  return compiled;
}

function required<T>(validate: ValidateFunction<T> | undefined): ValidateFunction<T> {
  if (validate === undefined) throw new Error('schema not found (config/site.schema.json or config/device-template.schema.json)');
  return validate;
}

/**
 * Validates a site file against config/site.schema.json and fills in defaults (mutating `doc`). Every
 * schema error becomes one issue. The site is returned when no issue remains.
 */
export function validateSiteDocument(doc: unknown, opts: SchemaValidationOptions): SchemaValidationResult<SiteDocument> {
  const issues = validateWith(validators().site, doc, opts, 'the file must hold a mapping of site keys (siteId, feeders, devices, ...)');
  // Without issues the document may still have failed, but only on unset-variable strings: those are
  // strings where strings belong, so the document has the schema's shape and the reference checks can
  // still run (e.g. in CI without the secrets).
  return issues.length > 0 ? { value: undefined, issues } : { value: doc as SiteDocument, issues: [] };
}

/** Validates a device template file against config/device-template.schema.json, filling in defaults. */
export function validateTemplateDocument(doc: unknown): SchemaValidationResult<TemplateDocument> {
  const issues = validateWith(validators().template, doc, NO_SECRETS, 'the file must hold a mapping of template keys (name, description, protocol, points, ...)');
  return issues.length > 0 ? { value: undefined, issues } : { value: doc as TemplateDocument, issues: [] };
}

/**
 * Validates one complete Modbus point (a template point with a site's overrides applied) against the
 * site schema's point definition. Paths in the issues are relative to the point ('' = the point itself).
 */
export function validateModbusPoint(point: unknown): ConfigIssue[] {
  return validateWith(validators().modbusPoint, point, NO_SECRETS, 'must be a mapping (key: value)');
}

/** Runs `validate` (filling in defaults) and turns its errors into issues. */
function validateWith(validate: ValidateFunction, doc: unknown, opts: SchemaValidationOptions, rootMessage: string): ConfigIssue[] {
  if (validate(doc)) return [];

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
      issues.push({ path, message: rootMessage });
      continue;
    }
    const issue: ConfigIssue = { path, message: described.message };
    if (described.showValue && isShowable(error.data)) {
      issue.value = opts.redactedPaths.has(path) || isSecretPath(segments) ? REDACTED : error.data;
    }
    issues.push(issue);
  }
  return issues;
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
    case 'dependencies': {
      const key = String(params['missingProperty']);
      return { message: `is required with ${String(params['property'])}`, key, showValue: false };
    }
    case 'const':
      return { message: custom ?? `must be ${JSON.stringify(params['allowedValue'])}`, showValue: true };
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
