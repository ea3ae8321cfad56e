/**
 * Per-unit interruptions derived from finished outages: the input of every reliability index.
 *
 * A "unit" is what the counting basis counts as one user:
 * - `meter`: each billing customer (IEEE 1366; DL/T 836.1 low-voltage statistics);
 * - `transformer`: each public distribution transformer (DL/T 836.1 medium-voltage statistics). A transformer
 *   is interrupted when the outage covers it (it is in `outage.transformers`); an outage of single customers'
 *   meters on a live transformer does not interrupt the transformer.
 *
 * Step restoration (IEEE 1366 section 3.x, "step restoration"): each unit's interruption ends at the first
 * restoration step that lists it, so units restored early count their own shorter duration. A unit no step
 * lists ends with the outage (`restoredAt`).
 *
 * Merged outages (a meter or transformer outage swallowed by the upstream outage, `state: 'merged'`): the
 * unit's interruption is ONE interruption that started with the swallowed outage and ended when the
 * upstream outage restored it; the merged outage is not counted on its own. Should the outage it merged into
 * be missing from the history, the merged outage counts on its own, ending at the merge.
 *
 * Momentary or sustained is NOT decided here: it depends on the threshold the caller applies (3 min
 * DL/T 836.1, 5 min IEEE 1366), so one log serves both views. The engine's `kind: 'momentary'` is the same
 * decision with the site's configured threshold.
 *
 * Pure: no clock, no I/O.
 */
import type { Outage } from '../engine/events.js';

export type CountingBasis = 'meter' | 'transformer';
export const COUNTING_BASES: readonly CountingBasis[] = ['transformer', 'meter'];

/** DL/T 836.1-2016: an interruption of 3 min or less is short (not sustained). */
export const DLT_836_MOMENTARY_MS = 180_000;
/** IEEE 1366-2012: an interruption of 5 min or less is momentary. */
export const IEEE_1366_MOMENTARY_MS = 300_000;

export interface Interruption {
  outageId: string;
  /** Customer id (basis `meter`) or transformer id (basis `transformer`). */
  unit: string;
  startMs: number;
  endMs: number;
  /** endMs - startMs (never negative). */
  durationMs: number;
  /** A pre-arranged (planned) outage; otherwise a fault outage. */
  planned: boolean;
}

/** Whether an interruption counts as momentary (short) under `momentaryThresholdMs`: `<=` per both standards. */
export function isMomentary(interruption: Interruption, momentaryThresholdMs: number): boolean {
  return interruption.durationMs <= momentaryThresholdMs;
}

function unitsOf(outage: Outage, basis: CountingBasis): readonly string[] {
  return basis === 'meter' ? outage.customers : outage.transformers;
}

function stepUnits(step: Outage['restorations'][number], basis: CountingBasis): readonly string[] {
  return basis === 'meter' ? step.customers : step.transformers;
}

/**
 * The interruptions of every unit in the finished outages given (restored or merged; active ones are
 * skipped), sorted by unit then start. Pass the whole history at once: merges are resolved across it. The
 * same outage id given twice keeps the last snapshot.
 */
export function interruptionsOf(outages: Iterable<Outage>, basis: CountingBasis): Interruption[] {
  const byId = new Map<string, Outage>();
  for (const o of outages) if (o.state !== 'active' && o.restoredAt !== null) byId.set(o.id, o);

  /** The restored outage a merged one finally went into, or null when that is not in the history. */
  const finalTarget = (o: Outage): Outage | null => {
    let current: Outage | undefined = o;
    const seen = new Set<string>();
    while (current !== undefined && current.state === 'merged') {
      if (current.mergedInto === null || seen.has(current.id)) return null;
      seen.add(current.id);
      current = byId.get(current.mergedInto);
    }
    return current ?? null;
  };

  // Earlier starts carried into the outage that swallowed them: target id -> unit -> start.
  const carried = new Map<string, Map<string, number>>();
  const standalone: Outage[] = [];
  for (const o of byId.values()) {
    if (o.state !== 'merged') {
      standalone.push(o);
      continue;
    }
    const target = finalTarget(o);
    if (target === null) {
      standalone.push(o);
      continue;
    }
    let starts = carried.get(target.id);
    if (starts === undefined) carried.set(target.id, (starts = new Map()));
    const startMs = Date.parse(o.startedAt);
    for (const unit of unitsOf(o, basis)) starts.set(unit, Math.min(starts.get(unit) ?? startMs, startMs));
  }

  const result: Interruption[] = [];
  for (const o of standalone) {
    const startMs = Date.parse(o.startedAt);
    const restoredMs = Date.parse(o.restoredAt as string);
    const endOf = new Map<string, number>();
    for (const step of o.restorations) {
      const at = Date.parse(step.at);
      for (const unit of stepUnits(step, basis)) if (!endOf.has(unit)) endOf.set(unit, at);
    }
    const starts = carried.get(o.id);
    const planned = o.kind === 'planned' || o.plannedId !== null;
    for (const unit of unitsOf(o, basis)) {
      const s = Math.min(starts?.get(unit) ?? startMs, startMs);
      // A merged outage ends at the merge: its units are not in its (empty) restoration steps.
      const e = Math.max(s, o.state === 'merged' ? restoredMs : (endOf.get(unit) ?? restoredMs));
      result.push({ outageId: o.id, unit, startMs: s, endMs: e, durationMs: e - s, planned });
    }
  }
  result.sort((a, b) => (a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : a.startMs - b.startMs));
  return result;
}
