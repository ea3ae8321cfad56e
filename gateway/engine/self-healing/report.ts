/**
 * Turns a self-healing sequence into a `SelfHealingReport`: fault location, isolating devices, what came back
 * through the feeder's own source and what through a tie, what is still out, the kind of automation and the
 * outcome. Reads the engine's current state (positions, energization) through the context.
 */
import type { EngineContext } from '../engine-hooks.js';
import type { SelfHealingKind, SelfHealingOutcome, SelfHealingReport, SelfHealingStep } from '../events.js';
import { isoTime } from '../outage-record.js';
import type { SwitchInfo, Topology } from '../topology.js';
import type { SequenceState, StepRecord } from './sequence.js';

export function isProtective(sw: SwitchInfo): boolean {
  return sw.kind === 'breaker' || sw.kind === 'recloser';
}

/** The feeders a device touches: those of the sections on either side. */
export function feedersOf(topology: Topology, switchId: string): string[] {
  const sw = topology.switchDevice(switchId);
  if (!sw) return [];
  const out = [topology.section(sw.to)!.feederId];
  if (sw.from !== null) {
    const other = topology.section(sw.from)!.feederId;
    if (other !== out[0]) out.push(other);
  }
  return out;
}

/** A tie: configured as one, or joining sections of two feeders. */
export function isTie(topology: Topology, switchId: string): boolean {
  const sw = topology.switchDevice(switchId);
  return sw !== undefined && (sw.kind === 'tie' || feedersOf(topology, switchId).length > 1);
}

/** The non-tie device whose load side `sectionId` is in the normal configuration. */
function parentOf(topology: Topology, sectionId: string): SwitchInfo | undefined {
  for (const id of topology.section(sectionId)?.switches ?? []) {
    const sw = topology.switchDevice(id)!;
    if (sw.to === sectionId && sw.kind !== 'tie') return sw;
  }
  return undefined;
}

/** The farthest device that saw fault current: none of the others lies downstream of it. */
export function farthestFaultDevice(topology: Topology, faultDevices: readonly string[]): string | null {
  const candidates = faultDevices.filter((id) => {
    const sw = topology.switchDevice(id);
    return sw !== undefined && sw.kind !== 'tie' && topology.depth(id) !== undefined;
  });
  let best: string | null = null;
  for (const id of candidates) {
    if (candidates.some((other) => other !== id && topology.isUpstreamOf(id, other))) continue;
    if (best === null) {
      best = id;
      continue;
    }
    const d = topology.depth(id)!;
    const bestDepth = topology.depth(best)!;
    if (d > bestDepth || (d === bestDepth && id < best)) best = id;
  }
  return best;
}

/**
 * The faulted zone: the load side of the fault device and whatever hangs below it through devices that
 * cannot report or isolate on their own (fuses), since those go and come back with it.
 */
export function faultZone(topology: Topology, faultSection: string): string[] {
  const zone = [faultSection];
  for (let head = 0; head < zone.length; head++) {
    const section = zone[head]!;
    for (const id of topology.section(section)!.switches) {
      const sw = topology.switchDevice(id)!;
      if (sw.kind === 'fuse' && sw.from === section && !zone.includes(sw.to)) zone.push(sw.to);
    }
  }
  return zone;
}

interface Source {
  feederId: string;
  /** The tie nearest the section on the path from the source, null when fed by its own feeder's breaker only. */
  tie: string | null;
}

/** Which breaker feeds an energized section now, and through which tie (breadth-first over closed devices). */
function sourceOf(ctx: EngineContext, sectionId: string): Source | null {
  const topology = ctx.topology;
  const via = new Map<string, { prev: string | null; switchId: string | null }>([[sectionId, { prev: null, switchId: null }]]);
  const queue = [sectionId];
  for (let head = 0; head < queue.length; head++) {
    const section = queue[head]!;
    for (const id of topology.section(section)!.switches) {
      if (ctx.position(id) !== 'closed') continue;
      const next = topology.otherSide(id, section);
      if (next === null) {
        // Walk back to the section: the last tie seen walking from the source is the one nearest the section.
        let tie: string | null = null;
        for (let at: string | null = section; at !== null; ) {
          const step: { prev: string | null; switchId: string | null } = via.get(at)!;
          if (step.switchId !== null && isTie(topology, step.switchId)) tie = step.switchId;
          at = step.prev;
        }
        return { feederId: topology.switchDevice(id)!.feederId, tie };
      }
      if (via.has(next)) continue;
      via.set(next, { prev: section, switchId: id });
      queue.push(next);
    }
  }
  return null;
}

function classify(seq: SequenceState, distributedMaxMs: number): SelfHealingKind {
  const ops = seq.steps.filter((s) => s.action === 'open' || s.action === 'close' || s.action === 'transfer');
  if (ops.length === 0) return seq.tripped.length > 0 ? 'recloser' : 'unknown';
  const firstOpMs = Math.min(...ops.map((s) => s.atMs));
  const lockouts = seq.steps.filter((s) => s.action === 'lockout').map((s) => s.atMs);
  const firstLockoutMs = lockouts.length > 0 ? Math.min(...lockouts) : Number.POSITIVE_INFINITY;
  // Centralized: protection gave up first, then the master operated the switches.
  if (firstLockoutMs <= firstOpMs) return 'centralized';
  // Voltage-time: switches opened on loss of voltage (no current cut) before the protection locked out,
  // and one of them closed again after a reclose.
  const recloses = seq.steps.filter((s) => s.action === 'reclose').map((s) => s.atMs);
  const voltageTime = seq.steps.some(
    (open) =>
      open.action === 'open' &&
      open.whileDark === true &&
      open.atMs < firstLockoutMs &&
      seq.steps.some(
        (close) => close.action === 'close' && close.device === open.device && close.atMs >= open.atMs && recloses.some((r) => r >= open.atMs && r <= close.atMs),
      ),
  );
  if (voltageTime) return 'voltageTime';
  // Distributed: switches operated around the fault within moments of the trip (peer to peer, before the
  // first reclose), or with no trip at all. Later, with the protective device held open, it is a master's work.
  const trips = seq.steps.filter((s) => s.action === 'trip').map((s) => s.atMs);
  if (trips.length === 0 || firstOpMs - Math.min(...trips) <= distributedMaxMs) return 'distributed';
  return 'centralized';
}

function byTime(steps: readonly StepRecord[]): StepRecord[] {
  return steps
    .map((s, i) => ({ s, i }))
    .sort((a, b) => a.s.atMs - b.s.atMs || a.i - b.i)
    .map((x) => x.s);
}

export function buildReport(
  ctx: EngineContext,
  seq: SequenceState,
  completed: boolean,
  distributedMaxMs: number,
): SelfHealingReport {
  const topology = ctx.topology;
  const order = topology.order;
  const customersOf = (sections: readonly string[]): string[] =>
    order.customers.sort([], sections.map((id) => topology.section(id)!.customerRanks));

  const faultDevice = farthestFaultDevice(topology, seq.faultDevices);
  const faultSection = faultDevice === null ? null : topology.switchDevice(faultDevice)!.to;
  const zone = faultSection === null ? [] : faultZone(topology, faultSection);

  // Isolating devices: the nearest open device upstream of the faulted zone, and the open devices on its
  // load-side boundary (normally-open ties count only if the sequence operated them).
  const isolating: string[] = [];
  if (faultSection !== null) {
    for (let sw = parentOf(topology, faultSection); sw !== undefined; sw = sw.from === null ? undefined : parentOf(topology, sw.from)) {
      if (ctx.position(sw.id) === 'open') {
        isolating.push(sw.id);
        break;
      }
    }
    const operated = new Set(seq.steps.filter((s) => s.action !== 'faultFlag' && s.action !== 'lockout').map((s) => s.device));
    const downstream: string[] = [];
    for (const section of zone) {
      for (const id of topology.section(section)!.switches) {
        const sw = topology.switchDevice(id)!;
        const other = topology.otherSide(id, section);
        if (other === null || zone.includes(other) || isolating.includes(id) || downstream.includes(id)) continue;
        if (sw.to === section && sw.kind !== 'tie') continue; // the upstream device, handled above
        if (ctx.position(id) !== 'open') continue;
        if (isTie(topology, id) && !operated.has(id)) continue;
        downstream.push(id);
      }
    }
    isolating.push(...downstream.sort());
  }

  const stillOutSections: string[] = [];
  const upstreamSections: string[] = [];
  const byTie = new Map<string, { fromFeeder: string; sections: string[] }>();
  for (const section of seq.affected) {
    if (!ctx.isEnergized(section)) {
      stillOutSections.push(section);
      continue;
    }
    const source = sourceOf(ctx, section);
    if (source === null || (source.feederId === seq.feederId && source.tie === null)) {
      upstreamSections.push(section);
      continue;
    }
    const tie = source.tie ?? '';
    const entry = byTie.get(tie) ?? { fromFeeder: source.feederId, sections: [] };
    entry.sections.push(section);
    byTie.set(tie, entry);
  }
  const restoredByTransfer = [...byTie.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([tie, entry]) => ({
      tie,
      fromFeeder: entry.fromFeeder,
      sections: order.sections.sort([entry.sections]),
      customers: customersOf(entry.sections),
    }));

  const kind = classify(seq, distributedMaxMs);
  let outcome: SelfHealingOutcome | null = null;
  if (completed) {
    const anyRestored = upstreamSections.length > 0 || byTie.size > 0;
    const healthyOut = stillOutSections.filter((s) => !zone.includes(s));
    const othersOperated = seq.steps.some((s) => s.action === 'open' || s.action === 'close' || s.action === 'transfer');
    const reclosed = seq.steps.some((s) => s.action === 'reclose');
    if (stillOutSections.length === 0 && reclosed && !othersOperated) outcome = 'clearedOnReclose';
    else if (healthyOut.length === 0) outcome = 'restored';
    else if (anyRestored) outcome = 'partiallyRestored';
    else outcome = 'failed';
  }

  const steps: SelfHealingStep[] = byTime(seq.steps).map((s) => ({
    at: isoTime(s.atMs),
    action: s.action,
    device: s.device,
    energized: [...s.energized],
    deenergized: [...s.deenergized],
    customersRestored: s.energized.reduce((n, id) => n + (topology.section(id)?.customers.length ?? 0), 0),
  }));
  const startedAtMs = Math.min(seq.triggeredAtMs, ...seq.steps.map((s) => s.atMs));
  const completedAtMs = completed ? seq.lastStepMs : null;

  return {
    id: seq.id,
    siteId: topology.siteId,
    feederId: seq.feederId,
    kind,
    state: completed ? 'completed' : 'running',
    outcome,
    faultSection,
    isolatingDevices: isolating,
    restoredUpstream: { sections: order.sections.sort([upstreamSections]), customers: customersOf(upstreamSections) },
    restoredByTransfer,
    stillOut: { sections: order.sections.sort([stillOutSections]), customers: customersOf(stillOutSections) },
    steps,
    startedAt: isoTime(startedAtMs),
    completedAt: completedAtMs === null ? null : isoTime(completedAtMs),
    durationMs: completedAtMs === null ? null : completedAtMs - startedAtMs,
    outageIds: [...seq.outageIds].sort(),
  };
}
