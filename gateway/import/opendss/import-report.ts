/**
 * The import report: what was made of the circuit, what was synthesized and, element by element, what could
 * not be mapped and why. Written as JSON with `--report`, and summarized on stdout.
 */
import type { LedgerEntry } from './element-ledger.js';

export interface ReportedSwitch {
  id: string;
  /** `Line.Sw7`, or undefined for the synthesized feeder breaker. */
  element?: string;
  kind: string;
  normal: string;
  from?: string;
  to: string;
  detectedBy: string[];
  openBecause: string[];
}

export interface ImportReport {
  master: string;
  files: string[];
  circuit?: string;
  siteId: string;
  feederId: string;
  counts: {
    /** DSS elements defined (after redefinitions): mapped + unmapped. */
    elements: number;
    mapped: number;
    unmapped: number;
    /** Switching devices of the site, the feeder breaker included. */
    switches: number;
    normallyOpen: number;
    ties: number;
    sections: number;
    transformers: number;
    synthesizedTransformers: number;
    customers: number;
    loads: number;
    devices: number;
  };
  /** What the file did not have and the import made up, one sentence each. */
  synthesized: string[];
  switches: ReportedSwitch[];
  sections: Array<{ id: string; buses: string[] }>;
  unmapped: Array<Omit<LedgerEntry, 'mapped' | 'detail'> & { reason: string }>;
  renamed: Array<{ kind: string; name: string; id: string }>;
  notUnderstoodCommands: Array<{ command: string; file: string; line: number }>;
  notes: string[];
}

/** Unmapped elements grouped by class and reason, every name listed. */
export function formatReportSummary(report: ImportReport, outFile: string): string {
  const c = report.counts;
  const lines = [
    `Imported ${report.circuit ?? 'circuit'} from ${report.master} (${report.files.length} file${report.files.length === 1 ? '' : 's'}) into ${outFile}:`,
    `  feeder ${report.feederId}: ${c.switches} switching devices (${c.normallyOpen} normally open, ${c.ties} ties), ${c.sections} sections,`,
    `  ${c.transformers} transformers (${c.synthesizedTransformers} synthesized for loads without one), ${c.customers} customers from ${c.loads} loads, ${c.devices} simulated FTUs`,
    `  ${c.elements} DSS elements: ${c.mapped} mapped, ${c.unmapped} not mapped`,
  ];
  if (report.synthesized.length > 0) {
    lines.push('Synthesized:');
    for (const s of report.synthesized) lines.push(`  - ${s}`);
  }
  if (report.unmapped.length > 0) {
    lines.push('Not mapped:');
    const groups = new Map<string, string[]>();
    for (const u of report.unmapped) {
      const cls = u.element.slice(0, u.element.indexOf('.'));
      const key = `${cls}: ${u.reason}`;
      const list = groups.get(key) ?? [];
      list.push(u.element.slice(cls.length + 1));
      groups.set(key, list);
    }
    for (const [key, names] of groups) lines.push(`  - ${names.length} ${key}: ${names.join(', ')}`);
  }
  if (report.renamed.length > 0) {
    lines.push(`Renamed to valid site ids: ${report.renamed.map((r) => `${r.kind} ${r.name} -> ${r.id}`).join(', ')}`);
  }
  if (report.notUnderstoodCommands.length > 0) {
    lines.push('Commands not understood (ignored):');
    for (const n of report.notUnderstoodCommands) lines.push(`  - ${n.file}:${n.line}: ${n.command}`);
  }
  for (const note of report.notes) lines.push(`Note: ${note}`);
  return lines.join('\n') + '\n';
}
