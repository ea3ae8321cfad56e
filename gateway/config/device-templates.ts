/**
 * Device templates: register maps kept as data in `<dir>/<name>.yaml` (config/devices/ in the package,
 * plus a site's `templateDirs`), validated by config/device-template.schema.json. A template resolves
 * to a list of complete Modbus points with wire addresses; sites use it with `template: <name>` and
 * change it with `pointOverrides` and `points` (gateway/config/resolve-devices.ts).
 *
 * Files are read synchronously: templates are read once, while the site is loaded, before anything runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packagePath } from '../paths.js';
import { formatPath, type PathSegment } from './config-path.js';
import { checkWirePoint, toWireAddress } from './modbus-point-checks.js';
import { validateTemplateDocument } from './schema-validation.js';
import type { ModbusPointConfig } from './site-config.js';
import type { ConfigIssue } from './site-config-error.js';
import type { AddressBase, TemplateDocument, TemplatePointDocument } from './site-document.js';
import { readYaml } from './yaml-reader.js';

/** A template ready to use: every default applied, addresses on the wire. */
export interface DeviceTemplate {
  name: string;
  description: string;
  /** The file it was read from. */
  file: string;
  /** How the template's addresses were written; a device using the template writes its own in this base by default. */
  addressBase: AddressBase;
  /** In the template's order, `address` the 0-based wire address. */
  points: readonly ModbusPointConfig[];
  byName: ReadonlyMap<string, ModbusPointConfig>;
}

export type TemplateLookup =
  | { status: 'found'; template: DeviceTemplate }
  | { status: 'missing'; searched: readonly string[] }
  | { status: 'invalid'; file: string; issues: readonly ConfigIssue[] };

/** The package's own templates. */
export function packageTemplateDir(): string {
  return packagePath('config', 'devices');
}

/** Template names are file names: no path separators, no leading dot (the site schema checks the same). */
const TEMPLATE_NAME = /^[a-z0-9][a-z0-9._-]*$/;

/**
 * Finds templates by name in a list of folders, first match wins, and reads each file once. One library
 * lives as long as one site load.
 */
export class TemplateLibrary {
  private readonly dirs: readonly string[];
  private readonly cache = new Map<string, TemplateLookup>();

  /** @param dirs folders in search order (a site's templateDirs, then the package's). */
  constructor(dirs: readonly string[]) {
    this.dirs = dirs;
  }

  lookup(name: string): TemplateLookup {
    const cached = this.cache.get(name);
    if (cached !== undefined) return cached;
    const result = this.find(name);
    this.cache.set(name, result);
    return result;
  }

  private find(name: string): TemplateLookup {
    if (!TEMPLATE_NAME.test(name)) return { status: 'missing', searched: [] };
    for (const dir of this.dirs) {
      const file = join(dir, `${name}.yaml`);
      if (existsSync(file)) return readTemplateFile(file, name);
    }
    return { status: 'missing', searched: this.dirs };
  }
}

/**
 * Reads, validates and resolves one template file. `expectedName` (the name it was looked up by) must be
 * the template's own `name`, so a copied file that kept its old name does not silently stand in for another.
 */
export function readTemplateFile(file: string, expectedName?: string): TemplateLookup {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { status: 'invalid', file, issues: [{ path: '', message: `cannot read the file: ${reason}` }] };
  }
  const parsed = readYaml(text);
  if (parsed.issues.length > 0) return { status: 'invalid', file, issues: parsed.issues };
  const validated = validateTemplateDocument(parsed.value);
  if (validated.value === undefined) return { status: 'invalid', file, issues: validated.issues };
  const doc = validated.value;
  const issues: ConfigIssue[] = [];
  if (expectedName !== undefined && doc.name !== expectedName) {
    issues.push({ path: 'name', message: `must be the file name without .yaml (${expectedName})`, value: doc.name });
  }
  const points = resolveTemplatePoints(doc, issues);
  if (issues.length > 0) return { status: 'invalid', file, issues };
  return {
    status: 'found',
    template: {
      name: doc.name,
      description: doc.description,
      file,
      addressBase: doc.addressBase,
      points,
      byName: new Map(points.map((point) => [point.name, point])),
    },
  };
}

function resolveTemplatePoints(doc: TemplateDocument, issues: ConfigIssue[]): ModbusPointConfig[] {
  const defaults = doc.defaults ?? {};
  const firstByName = new Map<string, string>();
  const points: ModbusPointConfig[] = [];
  doc.points.forEach((written, p) => {
    const path = formatPath(['points', p] satisfies PathSegment[]);
    const first = firstByName.get(written.name);
    if (first === undefined) firstByName.set(written.name, `${path}.name`);
    else issues.push({ path: `${path}.name`, message: `duplicate point name, already used at ${first}`, value: written.name });

    const type = written.type ?? defaults.type;
    if (type === undefined) {
      issues.push({ path: `${path}.type`, message: 'is required: the template has no defaults.type' });
      return;
    }
    const point = toWireAddress(completePoint(written, type, defaults), doc.addressBase);
    issues.push(...checkWirePoint(point, written.address, doc.addressBase, path));
    points.push(point);
  });
  return points;
}

/** The template point with the template's defaults, then the built-in ones, filled in. Key order as in a site point. */
function completePoint(
  written: TemplatePointDocument,
  type: ModbusPointConfig['type'],
  defaults: NonNullable<TemplateDocument['defaults']>,
): ModbusPointConfig {
  const { name, address, function: fn, type: _type, wordOrder, scale, offset, priority, ...rest } = written;
  return {
    name,
    function: fn ?? defaults.function ?? 'holding',
    address,
    type,
    wordOrder: wordOrder ?? defaults.wordOrder ?? 'ABCD',
    scale: scale ?? 1,
    offset: offset ?? 0,
    priority: priority ?? defaults.priority ?? 'fast',
    ...rest,
  };
}
