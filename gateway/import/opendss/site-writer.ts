/**
 * Writes an imported feeder as a site file (config/site.schema.json) that `feederwatch validate` accepts:
 * one feeder with its switching devices, sections and transformers in flow style (one line each, like
 * config/sites/demo.yaml), the simulated FTUs, and the `simulator:` and `mqtt:` sections that let
 * `feederwatch simulate`, `run` and `demo` use it as it is.
 */
import type { Point2d, SectionConfig, SwitchConfig, TransformerConfig } from '../../config/site-config.js';
import { FTU_TEMPLATE, type SimulatedFtu } from './simulated-devices.js';

/** The importer writes the site model's own shapes. */
export type ImportedSwitch = SwitchConfig;
export type ImportedSection = SectionConfig;
export type ImportedTransformer = TransformerConfig;

export interface ImportedSite {
  siteId: string;
  name: string;
  feeder: {
    id: string;
    name: string;
    breaker: string;
    switches: ImportedSwitch[];
    sections: ImportedSection[];
    transformers: ImportedTransformer[];
  };
  ftus: SimulatedFtu[];
  /** Comment lines for the top of the file (without `# `). */
  header: string[];
}

/** A YAML scalar: plain when it cannot be read as anything but this string, else a JSON (double-quoted) string. */
export function yamlString(value: string): string {
  const plain = /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(value) && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(value);
  return plain ? value : JSON.stringify(value);
}

function yamlPoint(p: Point2d): string {
  return `[${p.map((v) => String(Math.round(v * 1000) / 1000)).join(', ')}]`;
}

function flowMapping(entries: Array<[string, string | undefined]>): string {
  return `{ ${entries
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ')} }`;
}

const opt = (value: string | undefined): string | undefined => (value === undefined ? undefined : yamlString(value));
const optPoint = (p: Point2d | undefined): string | undefined => (p === undefined ? undefined : yamlPoint(p));

export function writeSiteYaml(site: ImportedSite): string {
  const out: string[] = [];
  for (const line of site.header) out.push(line === '' ? '#' : `# ${line}`);
  out.push(`siteId: ${yamlString(site.siteId)}`);
  out.push(`name: ${yamlString(site.name)}`);
  out.push('');
  out.push('simulator:');
  out.push('  controlHost: 127.0.0.1');
  out.push('  controlPort: 8081');
  out.push('  meterNominalV: 220');
  out.push('');
  out.push('mqtt:');
  out.push('  url: mqtt://127.0.0.1:1883');
  out.push(`  clientId: ${yamlString(`feederwatch-${site.siteId}`)}`);
  out.push('');
  const f = site.feeder;
  out.push('feeders:');
  out.push(`  - id: ${yamlString(f.id)}`);
  out.push(`    name: ${yamlString(f.name)}`);
  out.push(`    breaker: ${yamlString(f.breaker)}`);
  out.push('    switches:');
  for (const sw of f.switches) {
    out.push(
      `      - ${flowMapping([
        ['id', yamlString(sw.id)],
        ['name', opt(sw.name)],
        ['kind', sw.kind],
        ['from', opt(sw.from)],
        ['to', yamlString(sw.to)],
        ['normal', sw.normal],
        ['at', optPoint(sw.at)],
      ])}`,
    );
  }
  out.push('    sections:');
  for (const s of f.sections) out.push(`      - ${flowMapping([['id', yamlString(s.id)], ['name', opt(s.name)], ['at', optPoint(s.at)]])}`);
  out.push(f.transformers.length === 0 ? '    transformers: []' : '    transformers:');
  for (const t of f.transformers) {
    out.push(
      `      - ${flowMapping([
        ['id', yamlString(t.id)],
        ['name', opt(t.name)],
        ['section', yamlString(t.section)],
        ['areaClass', t.areaClass],
        ['customers', `[${t.customers.map(yamlString).join(', ')}]`],
        ['at', optPoint(t.at)],
      ])}`,
    );
  }
  out.push('');
  if (site.ftus.length === 0) {
    out.push('devices: []');
  } else {
    out.push(`# Simulated FTUs (template ${FTU_TEMPLATE}), up to 247 unit ids per Modbus TCP endpoint.`);
    out.push('devices:');
    for (const d of site.ftus) {
      out.push(
        `  - ${flowMapping([
          ['id', yamlString(d.id)],
          ['protocol', 'modbus-tcp'],
          ['host', d.host],
          ['port', String(d.port)],
          ['unitId', String(d.unitId)],
          ['template', FTU_TEMPLATE],
          ['binds', `{ switch: ${yamlString(d.switchId)} }`],
        ])}`,
      );
    }
  }
  return out.join('\n') + '\n';
}
