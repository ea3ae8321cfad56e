/**
 * Turns planned-outage registrations and the engine's domain events into customer notices (docs/notices.md).
 * Pure: no I/O; time comes only from the injected clock (`issuedAt`) and from the events themselves, so the
 * same registrations and events give the same notices and notice ids.
 *
 * What it remembers per active outage: which customers were told of it and which were told their supply is
 * back, how many restoration steps it has seen, and whether the location and isolation were announced. An
 * outage it has never seen (after a restart) is picked up from its next event; notice ids depend only on the
 * outage and the step, so a notice issued twice across a restart keeps its id and a consumer drops the repeat.
 */
import type { Clock } from '../clock.js';
import { AREA_CLASSES, type AreaClass, type PlannedOutageConfig, type SiteConfig } from '../config/site-config.js';
import type { DomainEvent, Outage, OutageCause, SelfHealingReport } from '../engine/events.js';
import { Topology } from '../engine/topology.js';
import {
  DEFAULT_BATCH_SIZE,
  DEFAULT_ETR,
  DEFAULT_LEAD_TIME_MS,
  type AreaDurations,
  type EtrRule,
  type Notice,
  type NoticeArea,
  type NoticeCause,
  type NoticeProgress,
  type NoticeType,
} from './notice-types.js';

export interface NoticeBuilderOptions {
  clock: Clock;
  /** How long ahead a planned outage must be registered (default 7 days). */
  leadTimeMs?: number;
  /** Most customer ids in one message (default 500). */
  batchSize?: number;
  /** Estimated restoration rule; missing classes take the defaults (45/45/90/90 min + 3/3/4/4 h). */
  etr?: { crewArrivalMs?: Partial<AreaDurations>; repairMs?: Partial<AreaDurations> };
}

/** A planned outage that cannot be announced (too late, unknown devices): the message says why. */
export class NoticeRefused extends Error {
  override readonly name = 'NoticeRefused';
  constructor(
    message: string,
    readonly plannedId: string,
  ) {
    super(message);
  }
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/**
 * Whether planned outage `p` registered at `nowMs` leaves customers the required lead time: null when it
 * does, else the reason, naming the lead time ("planned outage PL-1 starts in 2 days ...; customers must be
 * told at least 7 days ahead ...").
 */
export function checkPlannedLeadTime(p: PlannedOutageConfig, nowMs: number, leadTimeMs: number = DEFAULT_LEAD_TIME_MS): string | null {
  const startMs = Date.parse(p.start);
  if (Number.isNaN(startMs)) return `planned outage ${p.id}: start ${JSON.stringify(p.start)} is not a time`;
  const aheadMs = startMs - nowMs;
  if (aheadMs >= leadTimeMs) return null;
  const when = aheadMs > 0 ? `starts in ${formatDuration(aheadMs)} (${iso(startMs)})` : `starts at ${iso(startMs)}, which is already past`;
  return (
    `planned outage ${p.id} ${when}; customers must be told at least ${formatDuration(leadTimeMs)} ahead, ` +
    `so it cannot start before ${iso(nowMs + leadTimeMs)}`
  );
}

interface OutageMemory {
  /** Every customer this outage ever affected, as far as notices went. */
  affected: Set<string>;
  /** Customers told of the outage (fault or planned notice) and not told since that supply is back. */
  out: Set<string>;
  /** Customers told their supply is back. */
  back: Set<string>;
  stepsSeen: number;
  located: boolean;
  isolated: boolean;
  etrMs: number;
  last: Outage;
  usedIds: Set<string>;
}

interface Tagged {
  outageId: string | null;
  notices: Notice[];
}

export class NoticeBuilder {
  readonly leadTimeMs: number;
  readonly batchSize: number;
  readonly etr: EtrRule;
  private readonly topology: Topology;
  private readonly feederNames = new Map<string, string | null>();
  private readonly clock: Clock;
  private readonly outages = new Map<string, OutageMemory>();
  private readonly planned = new Map<string, PlannedOutageConfig>();

  constructor(
    private readonly site: SiteConfig,
    opts: NoticeBuilderOptions,
  ) {
    this.clock = opts.clock;
    this.leadTimeMs = opts.leadTimeMs ?? DEFAULT_LEAD_TIME_MS;
    this.batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!Number.isFinite(this.leadTimeMs) || this.leadTimeMs < 0) throw new RangeError(`notices: leadTimeMs must be a non-negative number (got ${this.leadTimeMs})`);
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new RangeError(`notices: batchSize must be a positive integer (got ${this.batchSize})`);
    this.etr = {
      crewArrivalMs: { ...DEFAULT_ETR.crewArrivalMs, ...opts.etr?.crewArrivalMs },
      repairMs: { ...DEFAULT_ETR.repairMs, ...opts.etr?.repairMs },
    };
    for (const area of AREA_CLASSES) {
      for (const [what, table] of [['crewArrivalMs', this.etr.crewArrivalMs], ['repairMs', this.etr.repairMs]] as const) {
        const v = table[area];
        if (!Number.isFinite(v) || v < 0) throw new RangeError(`notices: etr.${what}.${area} must be a non-negative number (got ${v})`);
      }
    }
    this.topology = new Topology(site);
    for (const feeder of site.feeders) this.feederNames.set(feeder.id, feeder.name ?? null);
    for (const p of site.plannedOutages ?? []) this.planned.set(p.id, p);
  }

  /**
   * A planned outage is being registered at `nowMs`: the planned notice to the customers below its devices
   * (in the normal configuration). Throws `NoticeRefused` when it starts sooner than the lead time or names
   * an unknown device; register it with the engine only once this returned.
   */
  onPlannedRegistered(p: PlannedOutageConfig, nowMs: number): Notice[] {
    const refusal = checkPlannedLeadTime(p, nowMs, this.leadTimeMs);
    if (refusal !== null) throw new NoticeRefused(refusal, p.id);
    const startMs = Date.parse(p.start);
    const endMs = Date.parse(p.end);
    if (Number.isNaN(endMs) || endMs <= startMs) throw new NoticeRefused(`planned outage ${p.id}: end ${JSON.stringify(p.end)} must be a time after the start`, p.id);
    const unknown = p.devices.filter((d) => this.topology.switchDevice(d) === undefined);
    if (unknown.length > 0) throw new NoticeRefused(`planned outage ${p.id}: unknown switch ${unknown.map((d) => `"${d}"`).join(', ')}`, p.id);
    this.planned.set(p.id, p);
    return this.notices({
      noticeId: `${this.site.siteId}:planned:${p.id}:${compact(startMs)}-${compact(endMs)}`,
      type: 'planned',
      outageId: null,
      plannedId: p.id,
      cause: this.cause('planned', p.id),
      startMs,
      etrMs: endMs,
      actualMs: null,
      progress: null,
      partial: null,
      customers: this.customersBelow(p.devices),
    });
  }

  /** Customers supplied through any of `devices` in the normal configuration (ties supply nobody normally). */
  customersBelow(devices: readonly string[]): string[] {
    const queue: string[] = [];
    for (const id of devices) {
      const sw = this.topology.switchDevice(id);
      if (sw && sw.kind !== 'tie') queue.push(sw.to);
    }
    const seen = new Set<string>();
    const customers: string[] = [];
    for (let head = 0; head < queue.length; head++) {
      const sectionId = queue[head]!;
      if (seen.has(sectionId)) continue;
      seen.add(sectionId);
      const section = this.topology.section(sectionId);
      if (!section) continue;
      customers.push(...section.customers);
      for (const swId of section.switches) {
        const sw = this.topology.switchDevice(swId);
        if (sw && sw.from === sectionId && sw.kind !== 'tie' && sw.normal === 'closed') queue.push(sw.to);
      }
    }
    return this.topology.order.customers.sort([customers]);
  }

  /** The notices a batch of domain events calls for, in event order (isolation progress at the end). */
  onEvents(events: readonly DomainEvent[]): Notice[] {
    const out: Tagged[] = [];
    const startedHere = new Set<string>();
    const suppressed = new Set<string>();
    const isolation = new Map<string, SelfHealingReport>();
    for (const event of events) {
      switch (event.type) {
        case 'outage.started':
          startedHere.add(event.outage.id);
          out.push(...this.started(event.outage, event.ts));
          break;
        case 'outage.updated':
          out.push(...this.updated(event.outage, event.ts));
          break;
        case 'outage.restored':
          if (event.outage.kind === 'momentary' && startedHere.has(event.outage.id)) {
            // Out and back within one batch: nobody was told, nobody needs to be.
            suppressed.add(event.outage.id);
            this.outages.delete(event.outage.id);
          } else {
            out.push(...this.updated(event.outage, event.ts));
          }
          break;
        case 'selfHealing.progress':
        case 'selfHealing.completed':
          if (event.report.isolatingDevices.length > 0 && event.report.faultSection !== null) {
            for (const id of event.report.outageIds) isolation.set(id, event.report);
          }
          break;
        default:
          break;
      }
    }
    for (const [outageId, report] of isolation) out.push(...this.isolated(outageId, report));
    return out.filter((t) => t.outageId === null || !suppressed.has(t.outageId)).flatMap((t) => t.notices);
  }

  /** Outages the builder is following (active, announced). */
  followedOutages(): string[] {
    return [...this.outages.keys()];
  }

  private started(o: Outage, ts: string): Tagged[] {
    const memory = this.remember(o, Date.parse(ts), true);
    for (const c of o.customers) memory.affected.add(c);
    const customers = this.stillOut(o);
    for (const c of customers) memory.out.add(c);
    memory.located = o.faultSection !== null;
    memory.last = o;
    // A planned outage was announced when it was registered.
    if (o.kind === 'planned') return [];
    return [this.tag(o, this.notice(memory, o, 'fault', `${o.id}:fault`, customers, { startMs: Date.parse(o.startedAt) }))];
  }

  /** outage.updated and outage.restored: growth, restorations, re-interruptions, location. */
  private updated(o: Outage, ts: string): Tagged[] {
    const tsMs = Date.parse(ts);
    if (o.state === 'merged') {
      // Its customers are carried (and told) by the upstream outage now.
      this.outages.delete(o.id);
      return [];
    }
    const known = this.outages.has(o.id);
    if (!known && o.state === 'restored' && o.kind === 'momentary') return [];
    const memory = this.remember(o, tsMs, false);
    memory.last = o;
    const tagged: Tagged[] = [];

    // Restorations since the last event, one restored notice per step.
    const steps = o.restorations.slice(memory.stepsSeen);
    memory.stepsSeen = o.restorations.length;
    const stillOut = this.stillOut(o);
    let lastStepMs: number | null = null;
    steps.forEach((step, i) => {
      const back = step.customers.filter((c) => memory.out.has(c));
      const stepMs = Date.parse(step.at);
      lastStepMs = stepMs;
      const final = o.state === 'restored' && i === steps.length - 1;
      if (final) for (const c of memory.out) if (!back.includes(c)) back.push(c);
      for (const c of back) {
        memory.out.delete(c);
        memory.back.add(c);
      }
      const partial = !final;
      tagged.push(this.tag(o, this.notice(memory, o, 'restored', `${o.id}:restored:${compact(stepMs)}`, back, { actualMs: stepMs, partial })));
    });
    if (o.state === 'restored') {
      if (steps.length === 0 && memory.out.size > 0) {
        const back = [...memory.out];
        const atMs = o.restoredAt === null ? tsMs : Date.parse(o.restoredAt);
        tagged.push(this.tag(o, this.notice(memory, o, 'restored', `${o.id}:restored:${compact(atMs)}`, back, { actualMs: atMs, partial: false })));
      }
      this.outages.delete(o.id);
      return tagged;
    }

    // Customers newly affected (the outage grew) or dark again after being told supply was back.
    const fresh = new Set(o.customers.filter((c) => !memory.affected.has(c)));
    for (const c of fresh) memory.affected.add(c);
    const toTell = stillOut.filter((c) => !memory.out.has(c) && (memory.back.has(c) || fresh.has(c)));
    for (const c of toTell) {
      memory.back.delete(c);
      memory.out.add(c);
    }
    if (toTell.length > 0) {
      memory.etrMs = Math.max(memory.etrMs, this.estimate(Date.parse(o.startedAt), o.customers, o));
      tagged.push(this.tag(o, this.notice(memory, o, 'fault', `${o.id}:fault:${compact(tsMs)}`, toTell, {})));
    }

    // Part of the area is back: the customers still out hear of it (the restored ones got their notice).
    if (lastStepMs !== null) {
      const recipients = stillOut.filter((c) => memory.out.has(c) && !toTell.includes(c));
      tagged.push(
        this.tag(
          o,
          this.notice(memory, o, 'progress', `${o.id}:partlyRestored:${compact(lastStepMs)}`, recipients, {
            progress: this.progress(o, 'partlyRestored', lastStepMs, stillOut.length, []),
          }),
        ),
      );
    }

    // The fault was located.
    if (!memory.located && o.faultSection !== null) {
      memory.located = true;
      const recipients = stillOut.filter((c) => memory.out.has(c));
      tagged.push(this.tag(o, this.notice(memory, o, 'progress', `${o.id}:located`, recipients, { progress: this.progress(o, 'located', tsMs, stillOut.length, []) })));
    }
    return tagged;
  }

  private isolated(outageId: string, report: SelfHealingReport): Tagged[] {
    const memory = this.outages.get(outageId);
    if (!memory || memory.isolated || memory.last.state !== 'active') return [];
    memory.isolated = true;
    memory.located = true;
    const o = memory.last;
    const stillOut = this.stillOut(o).filter((c) => memory.out.has(c));
    const at = report.steps.filter((s) => s.action === 'open' && report.isolatingDevices.includes(s.device)).at(-1)?.at ?? report.startedAt;
    const progress = this.progress(o, 'isolated', Date.parse(at), this.stillOut(o).length, report.isolatingDevices, report.faultSection);
    return [this.tag(o, this.notice(memory, o, 'progress', `${o.id}:isolated`, stillOut, { progress }))];
  }

  /** The memory of outage `o`, created on first sight (`fresh`: from its start; else picked up mid-way). */
  private remember(o: Outage, tsMs: number, fresh: boolean): OutageMemory {
    const existing = this.outages.get(o.id);
    if (existing) return existing;
    // Picked up mid-way (after a restart): steps before this event were announced, the rest of the
    // customers were told of the outage. Location and isolation are announced again if they apply, with the
    // same notice ids, so a consumer that saw them drops the repeat.
    const stepsSeen = fresh ? o.restorations.length : o.restorations.filter((s) => Date.parse(s.at) < tsMs).length;
    const backBefore = new Set(o.restorations.slice(0, stepsSeen).flatMap((s) => s.customers));
    const memory: OutageMemory = {
      affected: new Set(o.customers),
      out: new Set(fresh ? [] : o.customers.filter((c) => !backBefore.has(c))),
      back: backBefore,
      stepsSeen,
      located: false,
      isolated: false,
      etrMs: this.estimate(Date.parse(o.startedAt), o.customers, o),
      last: o,
      usedIds: new Set(),
    };
    this.outages.set(o.id, memory);
    return memory;
  }

  /** Customers of outage `o` still without supply. */
  private stillOut(o: Outage): string[] {
    if (o.state !== 'active') return [];
    if (o.currentSections.length > 0) {
      const sections = o.currentSections.map((id) => this.topology.section(id)?.customerRanks ?? new Int32Array(0));
      return this.topology.order.customers.sort([], sections);
    }
    const back = new Set(o.restorations.flatMap((s) => s.customers));
    return o.customers.filter((c) => !back.has(c));
  }

  /** Start plus crew arrival plus repair for the slowest area class among `customers`; planned: the window end. */
  private estimate(startMs: number, customers: readonly string[], o: Outage | null): number {
    if (o !== null && o.kind === 'planned' && o.plannedId !== null) {
      const p = this.planned.get(o.plannedId);
      const endMs = p === undefined ? NaN : Date.parse(p.end);
      if (!Number.isNaN(endMs)) return endMs;
    }
    let worst = 0;
    for (const area of this.areaClasses(customers)) worst = Math.max(worst, this.etr.crewArrivalMs[area] + this.etr.repairMs[area]);
    return startMs + worst;
  }

  private areaClasses(customers: readonly string[]): AreaClass[] {
    const seen = new Set<AreaClass>();
    for (const c of customers) {
      const t = this.topology.transformerOf(c);
      if (t) seen.add(t.areaClass);
    }
    return AREA_CLASSES.filter((a) => seen.has(a));
  }

  private area(customers: readonly string[]): NoticeArea {
    const transformers = new Set<string>();
    const feeders = new Set<string>();
    for (const c of customers) {
      const t = this.topology.transformerOf(c);
      if (!t) continue;
      transformers.add(t.id);
      feeders.add(t.feederId);
    }
    return {
      feeders: [...feeders].sort().map((id) => ({ id, name: this.feederNames.get(id) ?? null })),
      transformers: this.topology.order.transformers.sort([transformers]),
      areaClasses: this.areaClasses(customers),
    };
  }

  private cause(code: OutageCause, plannedId: string | null): NoticeCause {
    switch (code) {
      case 'protectionTrip':
        return { code, text: 'fault: protection tripped' };
      case 'switchOpened':
        return { code, text: 'a switching device opened' };
      case 'meterVoltageLoss':
        return { code, text: 'loss of supply reported by meters' };
      case 'transformerOut':
        return { code, text: 'distribution transformer out of supply' };
      case 'planned': {
        const reason = plannedId === null ? undefined : this.planned.get(plannedId)?.reason;
        return { code, text: reason ? `planned work: ${reason}` : 'planned work' };
      }
    }
  }

  private progress(o: Outage, kind: NoticeProgress['kind'], atMs: number, stillOutCount: number, isolatingDevices: string[], faultSection: string | null = o.faultSection): NoticeProgress {
    const restored = o.customerCount - stillOutCount;
    const text =
      kind === 'located'
        ? `fault located${faultSection === null ? '' : ` in section ${faultSection}`}`
        : kind === 'isolated'
          ? `fault${faultSection === null ? '' : ` in section ${faultSection}`} isolated by opening ${isolatingDevices.join(', ')}`
          : `supply restored to ${restored} of ${o.customerCount} customers; ${stillOutCount} still out`;
    return {
      kind,
      text,
      at: iso(atMs),
      faultSection,
      isolatingDevices: [...isolatingDevices],
      restoredCustomerCount: restored,
      stillOutCustomerCount: stillOutCount,
    };
  }

  private tag(o: Outage, notices: Notice[]): Tagged {
    return { outageId: o.id, notices };
  }

  /** A notice about outage `o` to `customers`. */
  private notice(
    memory: OutageMemory,
    o: Outage,
    type: NoticeType,
    baseId: string,
    customers: readonly string[],
    extra: { startMs?: number; actualMs?: number; partial?: boolean; progress?: NoticeProgress },
  ): Notice[] {
    let noticeId = baseId;
    for (let n = 2; memory.usedIds.has(noticeId); n++) noticeId = `${baseId}-${n}`;
    memory.usedIds.add(noticeId);
    return this.notices({
      noticeId,
      type,
      outageId: o.id,
      plannedId: o.plannedId,
      cause: this.cause(o.cause, o.plannedId),
      startMs: extra.startMs ?? Date.parse(o.startedAt),
      etrMs: type === 'restored' ? null : memory.etrMs,
      actualMs: extra.actualMs ?? null,
      progress: extra.progress ?? null,
      partial: type === 'restored' ? (extra.partial ?? false) : null,
      customers: this.topology.order.customers.sort([customers]),
    });
  }

  /** One notice, split into messages of at most `batchSize` customers; none when nobody is concerned. */
  private notices(n: {
    noticeId: string;
    type: NoticeType;
    outageId: string | null;
    plannedId: string | null;
    cause: NoticeCause;
    startMs: number;
    etrMs: number | null;
    actualMs: number | null;
    progress: NoticeProgress | null;
    partial: boolean | null;
    customers: string[];
  }): Notice[] {
    if (n.customers.length === 0) return [];
    const batchCount = Math.ceil(n.customers.length / this.batchSize);
    const area = this.area(n.customers);
    const issuedAt = iso(this.clock.now());
    const out: Notice[] = [];
    for (let batchIndex = 0; batchIndex < batchCount; batchIndex++) {
      out.push({
        noticeId: n.noticeId,
        messageId: `${n.noticeId}:${batchIndex + 1}of${batchCount}`,
        type: n.type,
        siteId: this.site.siteId,
        outageId: n.outageId,
        plannedId: n.plannedId,
        area: { feeders: area.feeders.map((f) => ({ ...f })), transformers: [...area.transformers], areaClasses: [...area.areaClasses] },
        cause: { ...n.cause },
        start: iso(n.startMs),
        estimatedRestoration: n.etrMs === null ? null : iso(n.etrMs),
        actualRestoration: n.actualMs === null ? null : iso(n.actualMs),
        progress: n.progress === null ? null : { ...n.progress, isolatingDevices: [...n.progress.isolatingDevices] },
        partial: n.partial,
        customerCount: n.customers.length,
        batchIndex,
        batchCount,
        customerIds: n.customers.slice(batchIndex * this.batchSize, (batchIndex + 1) * this.batchSize),
        issuedAt,
      });
    }
    return out;
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** `2024-05-01T08:00:00.000Z` -> `20240501T080000000`, as in outage ids. */
function compact(ms: number): string {
  return iso(ms).replace(/[-:.Z]/g, '');
}

/** "2 days", "1.5 days", "7 hours", "30 minutes": rounded down, so "6.9 days" never reads as 7. */
export function formatDuration(ms: number): string {
  const unit = (value: number, name: string): string => {
    const v = Math.floor(value * 10) / 10;
    return `${v} ${name}${v === 1 ? '' : 's'}`;
  };
  if (ms >= DAY) return unit(ms / DAY, 'day');
  if (ms >= HOUR) return unit(ms / HOUR, 'hour');
  if (ms >= MIN) return unit(ms / MIN, 'minute');
  return unit(ms / 1000, 'second');
}
