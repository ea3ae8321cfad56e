/**
 * The Zhejiang "Getting Electricity" action plan's targets for the customer-average outage time (SAIDI /
 * AIHC-1, hours per customer per year) per area class, and the comparison of measured figures with them.
 * File format: config/reliability-targets.yaml (a copy of ../shared/data/reliability-targets.yaml).
 *
 * Which targets apply is a selection `{ cities, year }`: `cities` is a city named in a target entry
 * (Hangzhou, Ningbo) or `'other'` (every other prefecture-level city; the default). When no entry has the
 * year, the latest earlier year of the same city group applies (`yearUsed` says which).
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { AreaClass } from '../config/site-config.js';
import { AREA_CLASSES } from '../config/site-config.js';
import { packagePath } from '../paths.js';

export interface TargetEntry {
  /** The cities named, or `'other'` for every other city. */
  cities: string[] | 'other';
  year: number;
  hours: Record<AreaClass, number>;
  /** Alternatively met by cutting the previous year's figure by at least this many percent. */
  orYearlyReductionPct?: number;
}

export interface ReliabilityTargets {
  source: string;
  unit: string;
  targets: TargetEntry[];
}

export interface TargetSelection {
  /** `'Hangzhou'`, `'Ningbo'` or `'other'` (default). */
  cities?: string;
  year: number;
}

export const DEFAULT_TARGETS_FILE = 'config/reliability-targets.yaml';

export class ReliabilityTargetsError extends Error {
  readonly code = 'RELIABILITY_TARGETS_INVALID';
}

/** Parses and checks the targets document (YAML text). */
export function parseTargets(text: string, origin = 'reliability targets'): ReliabilityTargets {
  const doc = parse(text) as unknown;
  const fail = (why: string): never => {
    throw new ReliabilityTargetsError(`${origin}: ${why}`);
  };
  if (typeof doc !== 'object' || doc === null) return fail('not a mapping');
  const d = doc as Record<string, unknown>;
  if (!Array.isArray(d.targets)) return fail('`targets` must be a list');
  const targets = d.targets.map((raw: unknown, i: number): TargetEntry => {
    const e = (raw ?? {}) as Record<string, unknown>;
    const where = `targets[${i}]`;
    const cities = e.cities;
    if (!(cities === 'other' || (Array.isArray(cities) && cities.every((c) => typeof c === 'string')))) fail(`${where}.cities must be a list of city names or "other"`);
    if (typeof e.year !== 'number' || !Number.isInteger(e.year)) fail(`${where}.year must be an integer`);
    const hours = (e.hours ?? {}) as Record<string, unknown>;
    for (const c of AREA_CLASSES) if (typeof hours[c] !== 'number' || !((hours[c] as number) >= 0)) fail(`${where}.hours.${c} must be a number of hours >= 0`);
    const entry: TargetEntry = {
      cities: cities as string[] | 'other',
      year: e.year as number,
      hours: Object.fromEntries(AREA_CLASSES.map((c) => [c, hours[c] as number])) as Record<AreaClass, number>,
    };
    if (e.orYearlyReductionPct !== undefined) {
      if (typeof e.orYearlyReductionPct !== 'number') fail(`${where}.orYearlyReductionPct must be a number`);
      entry.orYearlyReductionPct = e.orYearlyReductionPct as number;
    }
    return entry;
  });
  return { source: typeof d.source === 'string' ? d.source : '', unit: typeof d.unit === 'string' ? d.unit : 'hours per customer per year', targets };
}

/** Loads the targets file; by default the copy shipped in the package. */
export function loadTargets(file: string = packagePath(DEFAULT_TARGETS_FILE)): ReliabilityTargets {
  return parseTargets(readFileSync(file, 'utf8'), file);
}

function inGroup(entry: TargetEntry, cities: string): boolean {
  if (entry.cities === 'other') return cities === 'other';
  return entry.cities.includes(cities);
}

/** The entry that applies to the selection, or null when none does. */
export function targetFor(targets: ReliabilityTargets, selection: TargetSelection): TargetEntry | null {
  const cities = selection.cities ?? 'other';
  let best: TargetEntry | null = null;
  for (const entry of targets.targets) {
    if (!inGroup(entry, cities) || entry.year > selection.year) continue;
    if (best === null || entry.year > best.year) best = entry;
  }
  return best;
}

export interface TargetComparison {
  areaClass: AreaClass;
  /** The measured SAIDI / AIHC-1 (hours per unit over the period compared). */
  actualH: number;
  targetH: number;
  /** Previous year's figure, when given, and the figure the reduction rule asks for. */
  previousH: number | null;
  reductionTargetH: number | null;
  /** Met by the absolute hours, or by the yearly reduction when the entry allows it. */
  met: boolean;
  metBy: 'hours' | 'reduction' | null;
}

export interface TargetsResult {
  cities: string;
  year: number;
  /** The target year of the entry used (may be earlier than `year`). */
  yearUsed: number;
  source: string;
  areaClasses: TargetComparison[];
}

/**
 * Compares SAIDI per area class with the applicable targets; null when no entry applies. The figures
 * compared are what the caller gives: a full year for a verdict, year to date for "within target so far".
 */
export function compareWithTargets(
  saidiH: Record<AreaClass, number>,
  targets: ReliabilityTargets,
  selection: TargetSelection,
  previousYearSaidiH?: Partial<Record<AreaClass, number>>,
): TargetsResult | null {
  const entry = targetFor(targets, selection);
  if (entry === null) return null;
  const areaClasses = AREA_CLASSES.map((areaClass): TargetComparison => {
    const actualH = saidiH[areaClass];
    const targetH = entry.hours[areaClass];
    const previousH = previousYearSaidiH?.[areaClass] ?? null;
    const reductionTargetH = previousH !== null && entry.orYearlyReductionPct !== undefined ? previousH * (1 - entry.orYearlyReductionPct / 100) : null;
    const byHours = actualH <= targetH;
    const byReduction = reductionTargetH !== null && actualH <= reductionTargetH;
    return { areaClass, actualH, targetH, previousH, reductionTargetH, met: byHours || byReduction, metBy: byHours ? 'hours' : byReduction ? 'reduction' : null };
  });
  return { cities: selection.cities ?? 'other', year: selection.year, yearUsed: entry.year, source: targets.source, areaClasses };
}
