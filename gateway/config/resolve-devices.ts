/**
 * Turns the devices as written into the devices the drivers get: template points merged with the site's
 * `pointOverrides` and `points`, address bases applied (`address` becomes the wire address), document-only
 * keys dropped. Runs on a schema-valid document and reports every issue, not just the first.
 *
 * Point lists are shared wherever nothing changes them: a template used by 10,000 meters without
 * overrides yields one point list, and so does a `pointSets` list aliased by 10,000 devices.
 */
import { pointRegisterCount } from '../../drivers/modbus/codec.js';
import { formatPath } from './config-path.js';
import type { DeviceTemplate, TemplateLibrary } from './device-templates.js';
import { checkWirePoint, toWireAddress } from './modbus-point-checks.js';
import { validateModbusPoint } from './schema-validation.js';
import type { DeviceConfig, ModbusDeviceConfig, ModbusPointConfig } from './site-config.js';
import type { ConfigIssue } from './site-config-error.js';
import type { AddressBase, ModbusDeviceDocument, PointOverrideDocument, SiteDocument } from './site-document.js';

/** Where a point of a resolved device came from, for messages about it. */
export interface PointOrigin {
  /** The path to name for a wrong `observe` (and what goes with it). */
  observePath: string;
  /** Names the point when the path does not: `point "ua" of template chint-dtsu666: `, else ''. */
  label: string;
}

export interface ResolvedDevices {
  devices: DeviceConfig[];
  issues: ConfigIssue[];
  /** Origin of point `p` (named `name`) of device `d`; computed on demand, most points are never asked about. */
  origin(d: number, p: number, name: string): PointOrigin;
}

/** Largest request by function (Modbus Application Protocol v1.1b3, 6.1 to 6.4). */
const REGISTER_LIMIT = 125;
const BIT_LIMIT = 2000;

export function resolveDevices(site: SiteDocument, templates: TemplateLibrary): ResolvedDevices {
  const resolver = new DeviceResolver(site, templates);
  const devices = site.devices.map((device, d): DeviceConfig => {
    if (device.protocol === 'opcua') return device;
    return resolver.modbusDevice(device, d);
  });
  return { devices, issues: resolver.issues, origin: (d, p, name) => resolver.origin(d, p, name) };
}

class DeviceResolver {
  readonly issues: ConfigIssue[] = [];
  private readonly templates: TemplateLibrary;
  /** Where each pointSets list is defined, so a defect in a shared list is reported there, once. */
  private readonly listPaths = new Map<readonly ModbusPointConfig[], string>();
  /** Lists already checked (and converted) per address base. */
  private readonly wireLists: Record<AddressBase, Map<readonly ModbusPointConfig[], ModbusPointConfig[]>> = { 0: new Map(), 1: new Map() };
  /** Templates already reported as missing or invalid, so a broken template gives one issue, not one per device. */
  private readonly reportedTemplates = new Set<string>();
  /** Per device using a template with changes: the origin of each resulting point. */
  private readonly explicitOrigins = new Map<number, PointOrigin[]>();
  private readonly templateOf = new Map<number, string>();
  /** Per point list and maxRegisters: what does not fit in one request (shared lists are checked once). */
  private readonly oversized = new Map<readonly ModbusPointConfig[], Map<number, string[]>>();

  constructor(site: SiteDocument, templates: TemplateLibrary) {
    this.templates = templates;
    for (const [name, list] of Object.entries(site.pointSets ?? {})) {
      this.listPaths.set(list as ModbusPointConfig[], formatPath(['pointSets', name]));
    }
  }

  origin(d: number, p: number, name: string): PointOrigin {
    const explicit = this.explicitOrigins.get(d)?.[p];
    if (explicit !== undefined) return explicit;
    const template = this.templateOf.get(d);
    return template === undefined
      ? { observePath: `devices[${d}].points[${p}].observe`, label: '' }
      : { observePath: `devices[${d}].template`, label: templateLabel(name, template) };
  }

  modbusDevice(device: ModbusDeviceDocument, d: number): ModbusDeviceConfig {
    const { addressBase, pointOverrides, points: written, template: templateName, ...settings } = device;
    let points: ModbusPointConfig[];
    if (templateName === undefined) {
      points = this.wireList(written ?? [], addressBase ?? 0, `devices[${d}].points`);
    } else {
      this.templateOf.set(d, templateName);
      const template = this.template(templateName, d);
      points = template === undefined ? [] : this.fromTemplate(template, device, d);
    }
    this.checkPollIntervals(device, d);
    this.checkRequestSize(device, points, d);
    return templateName === undefined ? { ...settings, points } : { ...settings, template: templateName, points };
  }

  private template(name: string, d: number): DeviceTemplate | undefined {
    const lookup = this.templates.lookup(name);
    if (lookup.status === 'found') return lookup.template;
    if (this.reportedTemplates.has(name)) return undefined;
    this.reportedTemplates.add(name);
    const path = `devices[${d}].template`;
    if (lookup.status === 'missing') {
      const where = lookup.searched.length === 0 ? '' : ` (looked for ${name}.yaml in ${lookup.searched.join(', ')})`;
      this.issues.push({ path, message: `no template named "${name}"${where}`, value: name });
    } else {
      for (const issue of lookup.issues) {
        const inner = issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`;
        const value = issue.value === undefined ? '' : ` (value: ${JSON.stringify(issue.value)})`;
        this.issues.push({ path, message: `template "${name}" (${lookup.file}) is invalid: ${inner}${value}` });
      }
    }
    return undefined;
  }

  /**
   * The template's points, with the device's overrides, replacements (a site point of the same name) and
   * additions (site points of other names, after the template's).
   */
  private fromTemplate(template: DeviceTemplate, device: ModbusDeviceDocument, d: number): ModbusPointConfig[] {
    const base = device.addressBase ?? template.addressBase;
    const overrides = device.pointOverrides ?? {};
    const written = device.points ?? [];
    if (Object.keys(overrides).length === 0 && written.length === 0) return template.points as ModbusPointConfig[];

    const siteIndex = new Map(written.map((point, p) => [point.name, p]));
    for (const name of Object.keys(overrides)) {
      const path = formatPath(['devices', d, 'pointOverrides', name]);
      if (!template.byName.has(name)) {
        const known = [...template.byName.keys()].join(', ');
        this.issues.push({ path, message: `template ${template.name} has no point "${name}" (its points: ${known})`, value: name });
      } else if (siteIndex.has(name)) {
        this.issues.push({ path, message: `point "${name}" is also replaced in points[${siteIndex.get(name) ?? 0}]: override it or replace it, not both` });
      }
    }

    const wireSite = this.wireList(written, base, `devices[${d}].points`);
    const points: ModbusPointConfig[] = [];
    const origins: PointOrigin[] = [];
    for (const templatePoint of template.points) {
      const replacedAt = siteIndex.get(templatePoint.name);
      const override = overrides[templatePoint.name];
      if (replacedAt !== undefined) {
        points.push(wireSite[replacedAt] as ModbusPointConfig);
        origins.push({ observePath: `devices[${d}].points[${replacedAt}].observe`, label: '' });
      } else if (override !== undefined) {
        const overridePath = formatPath(['devices', d, 'pointOverrides', templatePoint.name]);
        const merged = this.applyOverride(templatePoint, override, base, overridePath);
        if (merged === undefined) continue;
        points.push(merged);
        origins.push(
          'observe' in override
            ? { observePath: `${overridePath}.observe`, label: '' }
            : { observePath: `devices[${d}].template`, label: templateLabel(templatePoint.name, template.name) },
        );
      } else {
        points.push(templatePoint);
        origins.push({ observePath: `devices[${d}].template`, label: templateLabel(templatePoint.name, template.name) });
      }
    }
    written.forEach((point, p) => {
      if (template.byName.has(point.name)) return;
      points.push(wireSite[p] as ModbusPointConfig);
      origins.push({ observePath: `devices[${d}].points[${p}].observe`, label: '' });
    });
    this.explicitOrigins.set(d, origins);
    return points;
  }

  /** A template point with an override applied, checked as a whole; undefined when it is not a valid point. */
  private applyOverride(templatePoint: ModbusPointConfig, override: PointOverrideDocument, base: AddressBase, path: string): ModbusPointConfig | undefined {
    const merged: Record<string, unknown> = { ...templatePoint };
    for (const [key, value] of Object.entries(override)) {
      if (value === null) delete merged[key];
      else merged[key] = value;
    }
    const issues = validateModbusPoint(merged);
    if (issues.length > 0) {
      for (const issue of issues) this.issues.push({ ...issue, path: issue.path === '' ? path : `${path}.${issue.path}` });
      return undefined;
    }
    const point = merged as unknown as ModbusPointConfig;
    // The template's address is already on the wire; an overriding one is written in the device's base.
    if (override.address === undefined || override.address === null) {
      this.issues.push(...checkWirePoint(point, point.address, 0, path));
      return point;
    }
    const wire = toWireAddress(point, base);
    this.issues.push(...checkWirePoint(wire, override.address, base, path));
    return wire;
  }

  /** A written point list with wire addresses, checked once per list and base (where the list is defined). */
  private wireList(list: readonly ModbusPointConfig[], base: AddressBase, path: string): ModbusPointConfig[] {
    const done = this.wireLists[base].get(list);
    if (done !== undefined) return done;
    const listPath = this.listPaths.get(list) ?? path;
    const wire = list.map((point, p) => {
      const converted = toWireAddress(point, base);
      this.issues.push(...checkWirePoint(converted, point.address, base, `${listPath}[${p}]`));
      return converted;
    });
    // Base 0 changes nothing: keep the very list, so aliased lists stay one object.
    const result = base === 0 ? (list as ModbusPointConfig[]) : wire;
    this.wireLists[base].set(list, result);
    return result;
  }

  private checkPollIntervals(device: ModbusDeviceDocument, d: number): void {
    if (device.slowPollIntervalMs < device.pollIntervalMs) {
      this.issues.push({
        path: `devices[${d}].slowPollIntervalMs`,
        message: `must not be shorter than pollIntervalMs (${device.pollIntervalMs})`,
        value: device.slowPollIntervalMs,
      });
    }
  }

  /** A point larger than the device's largest request could never be read. */
  private checkRequestSize(device: ModbusDeviceDocument, points: readonly ModbusPointConfig[], d: number): void {
    let byLimit = this.oversized.get(points);
    if (byLimit === undefined) this.oversized.set(points, (byLimit = new Map()));
    let found = byLimit.get(device.maxRegisters);
    if (found === undefined) {
      found = [];
      for (const point of points) {
        const bits = point.function === 'coil' || point.function === 'discrete';
        const limit = Math.min(device.maxRegisters, bits ? BIT_LIMIT : REGISTER_LIMIT);
        const count = pointRegisterCount(point);
        if (count > limit) found.push(`point "${point.name}" spans ${count} registers, more than one request may read (${limit})`);
      }
      byLimit.set(device.maxRegisters, found);
    }
    for (const message of found) this.issues.push({ path: `devices[${d}].maxRegisters`, message, value: device.maxRegisters });
  }
}

function templateLabel(point: string, template: string): string {
  return `point "${point}" of template ${template}: `;
}
