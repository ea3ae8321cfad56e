/**
 * Self-healing (FLISR) recognition: watches trips, reclose shots, lockouts, fault flags and switch
 * operations per feeder, groups them into one sequence per feeder, publishes progress while it runs and a
 * report when it completes. Pure like the engine: times come from observations and `tick(nowMs)`.
 *
 * Rules (docs/self-healing.md has the full list):
 * - A sequence starts on a feeder when a breaker or recloser opens under load with a fault flag up on the
 *   feeder (the flag may follow within `flagWindowMs`, or a lockout may confirm it), or when any other
 *   device of the feeder opens while a fault flag is up (distributed FA, which may never trip the breaker).
 * - While it runs, every change of position of a device touching the feeder, or darkening or energizing
 *   one of its sections, is a step; so are the first fault flag per device and lockouts.
 * - It completes after `selfHealingQuietMs` without a step, or once every section it darkened has been
 *   energized again for `restoreConfirmMs` (a reclose onto a permanent fault trips again within that time).
 */
import type { SiteConfig, SwitchState } from '../../config/site-config.js';
import type { EngineContext, EngineExtension, ExtensionEvent } from '../engine-hooks.js';
import type { Observation } from '../observation.js';
import type { Topology } from '../topology.js';
import { buildReport, feedersOf, isProtective, isTie } from './report.js';
import { emptyState, parseState, type RecognizerState, type SequenceState, type StepAction, type StepRecord } from './sequence.js';

export interface SelfHealingOptions {
  /**
   * How long every darkened section must stay energized before the sequence completes as restored. A reclose
   * (or a switch closing) onto a permanent fault is followed by a trip within the protection's operating
   * time; a report before that would be wrong. 0 completes at once. Default 5 s (the voltage-time Y time).
   */
  restoreConfirmMs?: number;
  /** How long a raised fault flag counts as fresh evidence for starting a sequence. Default 10 s. */
  flagWindowMs?: number;
  /**
   * Without a lockout, switches operated within this time of the first trip are distributed FA (peer to peer,
   * about 0.5 s); later ones, with the protective device held open, a master's (centralized). Default 3 s.
   */
  distributedMaxMs?: number;
}

type Change = { energized: readonly string[]; deenergized: readonly string[] };

function compactTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace('.', '').replace('Z', '');
}

export class SelfHealingRecognizer implements EngineExtension {
  private readonly siteId: string;
  private readonly quietMs: number;
  private readonly restoreConfirmMs: number;
  private readonly flagWindowMs: number;
  private readonly distributedMaxMs: number;
  private state: RecognizerState = emptyState();

  constructor(site: SiteConfig, options: SelfHealingOptions = {}) {
    this.siteId = site.siteId;
    this.quietMs = site.thresholds.selfHealingQuietMs;
    this.restoreConfirmMs = options.restoreConfirmMs ?? 5_000;
    this.flagWindowMs = options.flagWindowMs ?? 10_000;
    this.distributedMaxMs = options.distributedMaxMs ?? 3_000;
  }

  /** Sequences in progress (for tests and the status page). */
  get activeFeeders(): string[] {
    return this.state.sequences.map((s) => s.feederId);
  }

  exportState(): unknown {
    return structuredClone(this.state);
  }

  importState(state: unknown): void {
    this.state = parseState(state);
  }

  tick(nowMs: number, ctx: EngineContext): ExtensionEvent[] {
    for (const [feederId, candidate] of Object.entries(this.state.candidates)) {
      if (nowMs - candidate.atMs > this.flagWindowMs) delete this.state.candidates[feederId];
    }
    if (this.state.sequences.length === 0) return [];
    this.collectOutages(ctx);
    return this.expire(nowMs, ctx);
  }

  observe(o: Observation, change: Change | null, ctx: EngineContext): ExtensionEvent[] {
    const events = this.state.sequences.length > 0 ? this.expire(o.ts, ctx) : [];
    const topology = ctx.topology;
    switch (o.kind) {
      case 'switch.position':
        if (o.position === 'open' || o.position === 'closed') {
          events.push(...this.onPosition(o.switchId, o.position, o.ts, change ?? { energized: [], deenergized: [] }, ctx));
        }
        break;
      case 'switch.faultFlag':
        if (topology.switchDevice(o.switchId)) events.push(...this.onFaultFlag(o.switchId, o.fault, o.ts, ctx));
        break;
      case 'switch.lockout':
        if (topology.switchDevice(o.switchId)) events.push(...this.onLockout(o.switchId, o.lockedOut, o.ts, ctx));
        break;
      default:
        break;
    }
    if (this.state.sequences.length > 0) {
      this.collectOutages(ctx);
      // A step may have restored everything: complete now if no confirmation time is asked for.
      if (this.restoreConfirmMs === 0) events.push(...this.expire(o.ts, ctx));
    }
    return events;
  }

  private sequenceOf(feederId: string): SequenceState | undefined {
    return this.state.sequences.find((s) => s.feederId === feederId);
  }

  private onPosition(switchId: string, position: SwitchState, ts: number, change: Change, ctx: EngineContext): ExtensionEvent[] {
    const topology = ctx.topology;
    const sw = topology.switchDevice(switchId);
    if (!sw) return [];
    const previous = this.state.positions[switchId] ?? sw.normal;
    this.state.positions[switchId] = position;
    if (previous === position && change.energized.length === 0 && change.deenergized.length === 0) return [];

    const feeders = new Set(feedersOf(topology, switchId));
    for (const id of [...change.energized, ...change.deenergized]) {
      const section = topology.section(id);
      if (section) feeders.add(section.feederId);
    }
    const events: ExtensionEvent[] = [];
    for (const feederId of [...feeders].sort()) {
      const ownDevice = feedersOf(topology, switchId).includes(feederId);
      const seq = this.sequenceOf(feederId);
      if (seq) {
        events.push(...this.step(seq, switchId, position, ts, change, ctx));
        continue;
      }
      const candidate = this.state.candidates[feederId];
      if (candidate && candidate.device === switchId && position === 'closed') delete this.state.candidates[feederId];
      if (!ownDevice || position !== 'open' || previous === 'open') continue;
      const darkened = change.deenergized.filter((id) => topology.section(id)?.feederId === feederId);
      const flags = this.freshFlags(topology, feederId, ts);
      if (isProtective(sw) && !isTie(topology, switchId)) {
        if (darkened.length === 0) continue;
        if (flags.length > 0) {
          const started = this.start(feederId, ts, flags, topology);
          this.addStep(started, topology, { atMs: ts, action: 'trip', device: switchId, energized: [], deenergized: [...change.deenergized] });
          started.tripped.push(switchId);
        } else {
          this.state.candidates[feederId] = { device: switchId, atMs: ts, deenergized: [...change.deenergized] };
        }
      } else if (flags.length > 0 && !isTie(topology, switchId)) {
        // Distributed FA: a switch opens around a fault while the protection has not (yet) locked out.
        const started = this.start(feederId, ts, flags, topology);
        events.push(...this.step(started, switchId, position, ts, change, ctx));
      }
    }
    return events;
  }

  private onFaultFlag(switchId: string, fault: boolean, ts: number, ctx: EngineContext): ExtensionEvent[] {
    const topology = ctx.topology;
    const flag = this.state.flags[switchId];
    if (!fault) {
      if (flag) flag.up = false;
      return [];
    }
    if (flag?.up) return []; // a latched flag reported again
    this.state.flags[switchId] = { up: true, raisedAtMs: ts, consumed: false };
    const sw = topology.switchDevice(switchId)!;
    if (isTie(topology, switchId)) return [];
    const feederId = sw.feederId;
    const seq = this.sequenceOf(feederId);
    if (seq) {
      if (!seq.faultDevices.includes(switchId)) {
        seq.faultDevices.push(switchId);
        this.addStep(seq, topology, { atMs: ts, action: 'faultFlag', device: switchId, energized: [], deenergized: [] });
      }
      return [];
    }
    this.startFromCandidate(feederId, ts, ctx);
    return [];
  }

  private onLockout(switchId: string, lockedOut: boolean, ts: number, ctx: EngineContext): ExtensionEvent[] {
    const topology = ctx.topology;
    const was = this.state.lockouts[switchId] ?? false;
    this.state.lockouts[switchId] = lockedOut;
    if (!lockedOut || was) return [];
    const feederId = topology.switchDevice(switchId)!.feederId;
    let seq = this.sequenceOf(feederId);
    if (!seq && ctx.position(switchId) === 'open') {
      // The protection gave up: that confirms a trip even if no fault flag was reported.
      seq = this.startFromCandidate(feederId, ts, ctx) ?? this.start(feederId, ts, this.freshFlags(topology, feederId, ts), topology);
    }
    if (seq) this.addStep(seq, topology, { atMs: ts, action: 'lockout', device: switchId, energized: [], deenergized: [] });
    return [];
  }

  private startFromCandidate(feederId: string, ts: number, ctx: EngineContext): SequenceState | undefined {
    const candidate = this.state.candidates[feederId];
    if (!candidate || ts - candidate.atMs > this.flagWindowMs || ctx.position(candidate.device) !== 'open') return undefined;
    delete this.state.candidates[feederId];
    const topology = ctx.topology;
    const seq = this.start(feederId, candidate.atMs, this.freshFlags(topology, feederId, ts), topology);
    seq.triggeredAtMs = candidate.atMs;
    this.addStep(seq, topology, { atMs: candidate.atMs, action: 'trip', device: candidate.device, energized: [], deenergized: candidate.deenergized });
    seq.tripped.push(candidate.device);
    seq.lastStepMs = Math.max(seq.lastStepMs, ts);
    return seq;
  }

  /** Raised, unconsumed fault flags of the feeder's devices, recent enough to explain a trip at `ts`. */
  private freshFlags(topology: Topology, feederId: string, ts: number): string[] {
    const out: string[] = [];
    for (const id of topology.feeder(feederId)?.switches ?? []) {
      const flag = this.state.flags[id];
      if (!flag || !flag.up || flag.consumed || ts - flag.raisedAtMs > this.flagWindowMs) continue;
      if (isTie(topology, id) || topology.switchDevice(id)!.feederId !== feederId) continue;
      out.push(id);
    }
    return out.sort((a, b) => this.state.flags[a]!.raisedAtMs - this.state.flags[b]!.raisedAtMs);
  }

  private start(feederId: string, ts: number, flags: readonly string[], topology: Topology): SequenceState {
    const seq: SequenceState = {
      id: `${this.siteId}-sh-${compactTime(ts)}-${feederId}`,
      feederId,
      triggeredAtMs: ts,
      lastStepMs: ts,
      allRestoredAtMs: null,
      steps: [],
      faultDevices: [],
      tripped: [],
      affected: [],
      outageIds: [],
    };
    this.state.sequences.push(seq);
    for (const id of flags) {
      seq.faultDevices.push(id);
      this.addStep(seq, topology, { atMs: this.state.flags[id]!.raisedAtMs, action: 'faultFlag', device: id, energized: [], deenergized: [] });
    }
    seq.lastStepMs = ts;
    return seq;
  }

  private addStep(seq: SequenceState, topology: Topology, step: StepRecord): void {
    step.energized = topology.order.sections.sort([step.energized]);
    step.deenergized = topology.order.sections.sort([step.deenergized]);
    seq.steps.push(step);
    seq.lastStepMs = Math.max(seq.lastStepMs, step.atMs);
    for (const id of step.deenergized) {
      if (topology.section(id)?.feederId === seq.feederId && !seq.affected.includes(id)) seq.affected.push(id);
    }
  }

  /** Records a position change on a running sequence; returns a progress event when it restored or isolated. */
  private step(seq: SequenceState, switchId: string, position: SwitchState, ts: number, change: Change, ctx: EngineContext): ExtensionEvent[] {
    const topology = ctx.topology;
    const sw = topology.switchDevice(switchId)!;
    const own = feedersOf(topology, switchId).includes(seq.feederId);
    const tie = isTie(topology, switchId);
    const feederEnergized = change.energized.some((id) => topology.section(id)?.feederId === seq.feederId);
    let action: StepAction;
    let whileDark: boolean | undefined;
    if (position === 'open') {
      if (own && !tie && isProtective(sw) && change.deenergized.length > 0) {
        action = 'trip';
        if (!seq.tripped.includes(switchId)) seq.tripped.push(switchId);
      } else {
        action = 'open';
        whileDark = change.deenergized.length === 0 && !ctx.isEnergized(sw.to) && (sw.from === null || !ctx.isEnergized(sw.from));
      }
    } else if (own && seq.tripped.includes(switchId)) {
      action = 'reclose';
    } else if (tie && feederEnergized) {
      action = 'transfer';
    } else {
      action = 'close';
    }
    const record: StepRecord = { atMs: ts, action, device: switchId, energized: [...change.energized], deenergized: [...change.deenergized] };
    if (whileDark !== undefined) record.whileDark = whileDark;
    this.addStep(seq, topology, record);
    seq.allRestoredAtMs = seq.affected.length > 0 && seq.affected.every((id) => ctx.isEnergized(id)) ? ts : null;
    if (feederEnergized || action === 'open') {
      return [{ type: 'selfHealing.progress', atMs: ts, report: buildReport(ctx, seq, false, this.distributedMaxMs) }];
    }
    return [];
  }

  private collectOutages(ctx: EngineContext): void {
    const outages = ctx.activeOutages();
    for (const seq of this.state.sequences) {
      for (const outage of outages) {
        if (outage.feederIds.includes(seq.feederId) && !seq.outageIds.includes(outage.id)) seq.outageIds.push(outage.id);
      }
    }
  }

  /** Completes the sequences whose restoration is confirmed or whose quiet time has run out by `nowMs`. */
  private expire(nowMs: number, ctx: EngineContext): ExtensionEvent[] {
    const events: ExtensionEvent[] = [];
    for (const seq of [...this.state.sequences]) {
      const restored = seq.allRestoredAtMs !== null && nowMs - seq.allRestoredAtMs >= this.restoreConfirmMs;
      if (!restored && nowMs - seq.lastStepMs < this.quietMs) continue;
      events.push({ type: 'selfHealing.completed', atMs: nowMs, report: buildReport(ctx, seq, true, this.distributedMaxMs) });
      this.state.sequences.splice(this.state.sequences.indexOf(seq), 1);
      delete this.state.candidates[seq.feederId];
      for (const id of ctx.topology.feeder(seq.feederId)?.switches ?? []) {
        const flag = this.state.flags[id];
        if (flag?.up) flag.consumed = true;
      }
    }
    return events;
  }
}
