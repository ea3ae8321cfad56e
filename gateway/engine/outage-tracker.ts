/**
 * Outages from switching-device state: sections that went dark because a device opened, their cause and
 * fault location from the fault flags, and their step-by-step restoration.
 *
 * Rules (each section is dark in at most one outage at a time):
 * - Sections that go dark in one change form one connected region (opening one device cuts off one side).
 *   A section of that region that came back in a partial restoration of an outage that is still active
 *   rejoins that outage (outage.updated) when the device that opened is the outage's cause device or a
 *   device touching its sections: the same switching sequence is still at work on the same region (a
 *   breaker reclosing onto the fault, a sectionalizer or tie closing onto it during self-healing). The
 *   rest of the region forms a new outage (outage.started) caused by the device that opened; so when the
 *   feeder back-feeding part of an outage trips, the back-fed sections go into that feeder's new outage.
 *   The literal rule "newly dark sections join an outage whose dark sections they are connected to
 *   through closed devices" never applies: a section that was live just before the change cannot be
 *   joined through closed devices to one that was already dark. History is the only link. Known limit:
 *   an unrelated trip of a device inside an outage's region while that outage is still active (a long
 *   repair) rejoins it too; a time bound would need a configured threshold.
 * - Dark regions that split or merge without any section changing state (a device operated between two
 *   dark sections, as self-healing does while isolating a fault) change no outage: every section stays in
 *   the outage it went dark in until it is energized again. Deterministic, and it keeps an outage's
 *   identity, cause and start stable while the network is being reconfigured around it.
 * - Sections that come back leave their outage with one restoration step per outage and change; the
 *   outage is restored when none of its sections is dark.
 * - Cause: `protectionTrip` when the device that opened is a breaker or recloser and a fault flag is up on
 *   it, on a device touching the outage's sections, or on a device upstream of it along the normal feeder
 *   (a breaker sees the fault current of a fault below its recloser); otherwise `switchOpened`. A fault flag
 *   that arrives after the position (the two are separate points, possibly separate polls) upgrades the
 *   cause and fault section of the active outages it is evidence for; a flag going down never downgrades.
 * - Fault section: the load side of the non-tie device farthest from its breaker (normal tree depth, ties
 *   by id) among the flagged devices that opened or touch the outage's sections. Ties are left out: which
 *   side is "load" depends on which feeder feeds them at the time.
 */
import { IndexedTable } from './indexed-table.js';
import type { OutageIds } from './outage-ids.js';
import { OutageRecord, isoTime, type OutageChange, type OutageRecordState } from './outage-record.js';
import type { Topology } from './topology.js';

/** What the engine decides for the trackers: the momentary threshold and the classification of new outages. */
export interface TrackerHooks {
  momentaryThresholdMs: number;
  /** Called once for every new outage before its `outage.started` snapshot is taken (planned matching). */
  onStart(record: OutageRecord): void;
}

interface FlagState {
  atMs: number;
  phases: string[] | null;
}

/** JSON form of the tracker's state. */
export interface OutageTrackerState {
  active: OutageRecordState[];
  dark: Array<{ section: string; outage: string; sinceMs: number }>;
  formerlyIn: Array<{ section: string; outage: string }>;
  faultFlags: Array<{ switchId: string; atMs: number; phases: string[] | null }>;
  lockouts: Array<{ switchId: string; atMs: number }>;
  faultSectionDepth: Array<{ outage: string; depth: number }>;
}

export interface DeenergizeOptions {
  /** When supply was lost, if earlier than the change (a roll-up found out later). */
  startedAtMs?: number;
  /** The device was not seen to open: it is presumed open (roll-up); no `switchOpen` evidence. */
  inferred?: boolean;
}

export class OutageTracker {
  /** Active switching outages in creation order. */
  private readonly active = new Map<string, OutageRecord>();
  /** Dark section -> the outage it is out in. (Per-section tables: see IndexedTable for why not Maps.) */
  private readonly darkIn: IndexedTable<OutageRecord>;
  /** Dark section -> when it went dark (for customer-minutes). */
  private readonly darkSince: IndexedTable<number>;
  /** Live section -> the still active outage it was restored from (for rejoining). */
  private readonly formerlyIn: IndexedTable<OutageRecord>;
  private readonly faultFlags = new Map<string, FlagState>();
  /** Devices whose reclosing is locked out, since when. */
  private readonly lockouts = new Map<string, number>();
  /** Depth (from the source) of the device whose load side is each active outage's located fault. */
  private readonly faultSectionDepth = new Map<string, number>();

  constructor(
    private readonly topology: Topology,
    private readonly ids: OutageIds,
    private readonly hooks: TrackerHooks,
  ) {
    const sections = [...topology.sectionIds()];
    const indexOf = (id: string): number | undefined => topology.section(id)?.index;
    this.darkIn = new IndexedTable(sections, indexOf);
    this.darkSince = new IndexedTable(sections, indexOf);
    this.formerlyIn = new IndexedTable(sections, indexOf);
  }

  activeOutages(): OutageRecord[] {
    return [...this.active.values()];
  }

  /** The active outage a dark section is out in. */
  darkOutageOf(sectionId: string): OutageRecord | undefined {
    return this.darkIn.get(sectionId);
  }

  outage(id: string): OutageRecord | undefined {
    return this.active.get(id);
  }

  setFaultFlag(switchId: string, up: boolean, atMs: number, phases?: readonly string[]): OutageChange[] {
    if (!up) {
      this.faultFlags.delete(switchId);
      return [];
    }
    if (this.faultFlags.has(switchId)) return [];
    this.faultFlags.set(switchId, { atMs, phases: phases ? [...phases] : null });
    const changes: OutageChange[] = [];
    for (const outage of this.active.values()) {
      // A presumed-open device (roll-up) saw no fault current: later flags elsewhere are not about it.
      if (outage.confidence === 'inferred' || !this.isEvidence(switchId, outage)) continue;
      if (this.assess(outage)) changes.push(outage.change('outage.updated', atMs));
    }
    return changes;
  }

  /** Reclosing locked out (or reset): evidence on the outage caused by (or touching) the device. */
  setLockout(switchId: string, lockedOut: boolean, atMs: number): OutageChange[] {
    if (!lockedOut) {
      this.lockouts.delete(switchId);
      return [];
    }
    if (this.lockouts.has(switchId)) return [];
    this.lockouts.set(switchId, atMs);
    const changes: OutageChange[] = [];
    for (const outage of this.active.values()) {
      if (outage.causeDevice !== switchId && !this.touches(switchId, outage)) continue;
      if (outage.addEvidence({ at: isoTime(atMs), kind: 'lockout', subject: switchId })) changes.push(outage.change('outage.updated', atMs));
    }
    return changes;
  }

  /** A device reported no voltage on one side: evidence on the outage that side's section is dark in. */
  voltageAbsent(switchId: string, side: 'source' | 'load', atMs: number): OutageChange[] {
    const sw = this.topology.switchDevice(switchId);
    const sectionId = side === 'load' ? sw?.to : sw?.from;
    if (!sectionId) return [];
    const outage = this.darkIn.get(sectionId);
    if (!outage) return [];
    const added = outage.addEvidence({ at: isoTime(atMs), kind: 'voltageAbsent', subject: switchId, detail: `${side} side` });
    return added ? [outage.change('outage.updated', atMs)] : [];
  }

  /** `sections` went dark because `switchId` opened. */
  onDeenergized(sections: readonly string[], switchId: string, atMs: number, opts: DeenergizeOptions = {}): OutageChange[] {
    const rejoining = new Map<OutageRecord, string[]>();
    const fresh: string[] = [];
    for (const id of sections) {
      const previous = this.formerlyIn.get(id);
      this.formerlyIn.delete(id);
      if (previous && (previous.causeDevice === switchId || this.touches(switchId, previous))) {
        const list = rejoining.get(previous);
        if (list) list.push(id);
        else rejoining.set(previous, [id]);
      } else {
        fresh.push(id);
      }
    }
    const changes: OutageChange[] = [];
    for (const outage of this.active.values()) {
      const list = rejoining.get(outage);
      if (!list) continue;
      for (const id of list) this.markDark(outage, id, atMs);
      this.assess(outage);
      changes.push(outage.change('outage.updated', atMs));
    }
    if (fresh.length > 0) {
      const startedAtMs = Math.min(atMs, opts.startedAtMs ?? atMs);
      const outage = new OutageRecord(this.topology, {
        id: this.ids.next(startedAtMs, switchId),
        cause: 'switchOpened',
        causeDevice: switchId,
        faultSection: null,
        startedAtMs,
      });
      for (const id of fresh) this.markDark(outage, id, startedAtMs);
      outage.affectSections(fresh);
      if (!opts.inferred) outage.addEvidence({ at: isoTime(atMs), kind: 'switchOpen', subject: switchId });
      const lockedAt = this.lockouts.get(switchId);
      if (lockedAt !== undefined) outage.addEvidence({ at: isoTime(lockedAt), kind: 'lockout', subject: switchId });
      this.active.set(outage.id, outage);
      this.assess(outage);
      this.hooks.onStart(outage);
      changes.push(outage.change('outage.started', atMs));
      // Active outages of devices downstream of this one are nested in it.
      for (const other of this.active.values()) {
        if (other === outage || other.parentId !== null || other.causeDevice === null) continue;
        if (!this.topology.isUpstreamOf(switchId, other.causeDevice)) continue;
        other.parentId = outage.id;
        changes.push(other.change('outage.updated', atMs));
      }
    }
    return changes;
  }

  /** `sections` got supply back. */
  onEnergized(sections: readonly string[], atMs: number): OutageChange[] {
    const returning = new Map<OutageRecord, string[]>();
    for (const id of sections) {
      const outage = this.darkIn.get(id);
      if (!outage) continue;
      const list = returning.get(outage);
      if (list) list.push(id);
      else returning.set(outage, [id]);
    }
    const changes: OutageChange[] = [];
    if (returning.size === 0) return changes;
    for (const outage of this.active.values()) {
      const list = returning.get(outage);
      if (!list) continue;
      let customerMs = 0;
      for (const id of list) {
        const section = this.topology.section(id)!;
        customerMs += section.customers.length * Math.max(0, atMs - this.darkSince.get(id)!);
        this.darkIn.delete(id);
        this.darkSince.delete(id);
        outage.currentSections.delete(id);
        outage.currentCustomerCount -= section.customers.length;
        this.formerlyIn.set(id, outage);
      }
      outage.addRestorationStep(atMs, { sections: list }, customerMs);
      if (outage.currentSections.size > 0) {
        changes.push(outage.change('outage.updated', atMs));
        continue;
      }
      outage.markRestored(atMs, this.hooks.momentaryThresholdMs);
      this.active.delete(outage.id);
      this.faultSectionDepth.delete(outage.id);
      for (const id of outage.everAffectedSections()) {
        if (this.formerlyIn.get(id) === outage) this.formerlyIn.delete(id);
      }
      changes.push(outage.change('outage.restored', atMs));
    }
    return changes;
  }

  exportState(): OutageTrackerState {
    return {
      active: [...this.active.values()].map((o) => o.exportState()),
      dark: [...this.darkIn].map(([section, o]) => ({ section, outage: o.id, sinceMs: this.darkSince.get(section)! })),
      formerlyIn: [...this.formerlyIn].map(([section, o]) => ({ section, outage: o.id })),
      faultFlags: [...this.faultFlags].map(([switchId, f]) => ({ switchId, atMs: f.atMs, phases: f.phases })),
      lockouts: [...this.lockouts].map(([switchId, atMs]) => ({ switchId, atMs })),
      faultSectionDepth: [...this.faultSectionDepth].map(([outage, depth]) => ({ outage, depth })),
    };
  }

  /** Replaces the state with an exported one (on a fresh tracker). */
  importState(state: OutageTrackerState): void {
    this.active.clear();
    this.darkIn.clear();
    this.darkSince.clear();
    this.formerlyIn.clear();
    this.faultFlags.clear();
    this.lockouts.clear();
    this.faultSectionDepth.clear();
    for (const s of state.active) this.active.set(s.id, OutageRecord.restore(this.topology, s));
    for (const d of state.dark) {
      const outage = this.active.get(d.outage);
      if (!outage) continue;
      this.darkIn.set(d.section, outage);
      this.darkSince.set(d.section, d.sinceMs);
    }
    for (const f of state.formerlyIn) {
      const outage = this.active.get(f.outage);
      if (outage) this.formerlyIn.set(f.section, outage);
    }
    for (const f of state.faultFlags) this.faultFlags.set(f.switchId, { atMs: f.atMs, phases: f.phases });
    for (const l of state.lockouts) this.lockouts.set(l.switchId, l.atMs);
    for (const d of state.faultSectionDepth) this.faultSectionDepth.set(d.outage, d.depth);
  }

  private markDark(outage: OutageRecord, sectionId: string, atMs: number): void {
    this.darkIn.set(sectionId, outage);
    this.darkSince.set(sectionId, atMs);
    outage.currentSections.add(sectionId);
    outage.currentCustomerCount += this.topology.section(sectionId)!.customers.length;
  }

  /** Whether a fault flag on `switchId` tells something about `outage`. */
  private isEvidence(switchId: string, outage: OutageRecord): boolean {
    const cause = outage.causeDevice;
    if (cause === null) return false;
    return switchId === cause || this.touches(switchId, outage) || this.topology.isUpstreamOf(switchId, cause);
  }

  private touches(switchId: string, outage: OutageRecord): boolean {
    const sw = this.topology.switchDevice(switchId);
    if (!sw) return false;
    return outage.hasEverAffectedSection(sw.to) || (sw.from !== null && outage.hasEverAffectedSection(sw.from));
  }

  /** Re-derives cause and fault section from the flags now up; returns whether either changed. */
  private assess(outage: OutageRecord): boolean {
    const cause = outage.causeDevice;
    if (cause === null || this.faultFlags.size === 0) return false;
    const causeKind = this.topology.switchDevice(cause)?.kind;
    const protective = causeKind === 'breaker' || causeKind === 'recloser';
    let tripped = false;
    let changed = false;
    let farthest: { id: string; depth: number; to: string } | null = null;
    for (const [flagged, flagState] of this.faultFlags) {
      if (!this.isEvidence(flagged, outage)) continue;
      tripped = true;
      if (
        outage.addEvidence({
          at: isoTime(flagState.atMs),
          kind: 'faultFlag',
          subject: flagged,
          ...(flagState.phases ? { detail: `phases ${flagState.phases.join(',')}` } : {}),
        })
      ) {
        changed = true;
      }
      const sw = this.topology.switchDevice(flagged)!;
      if (sw.kind === 'tie' || !(flagged === cause || this.touches(flagged, outage))) continue;
      const depth = this.topology.depth(flagged) ?? -1;
      if (!farthest || depth > farthest.depth || (depth === farthest.depth && flagged < farthest.id)) {
        farthest = { id: flagged, depth, to: sw.to };
      }
    }
    if (protective && tripped && outage.cause !== 'protectionTrip') {
      outage.cause = 'protectionTrip';
      changed = true;
    }
    // Evidence only ever moves the fault deeper: a flag that resets (or a later upstream flag) must not
    // pull an already located fault back upstream.
    const currentDepth = outage.faultSection === null ? -Infinity : (this.faultSectionDepth.get(outage.id) ?? -Infinity);
    if (farthest && farthest.to !== outage.faultSection && farthest.depth > currentDepth) {
      outage.faultSection = farthest.to;
      this.faultSectionDepth.set(outage.id, farthest.depth);
      changed = true;
    }
    return changed;
  }
}
