/**
 * The live state the status page, `/api/state` and `feederwatch status` show, built from the gateway's public
 * API: feeder energization with faulted sections, active outages, the latest self-healing reports (kept
 * here from the event stream: the gateway keeps no history of them), device availability, sinks, and the
 * reliability indices the gateway last published (computed from its interruption history).
 */
import type { Clock } from '../clock.js';
import type { SiteConfig } from '../config/site-config.js';
import type { ConfigIssue } from '../config/site-config-error.js';
import type { DomainEvent, Outage, SelfHealingReport } from '../engine/events.js';
import type { Logger } from '../log.js';
import type { SinkStatus } from '../publish/sink-status.js';
import type { ReliabilityReport } from '../reliability/report.js';
import type { AvailabilitySnapshot } from '../runtime/availability.js';
import type { GatewayView } from './gateway-view.js';

export type SectionState = 'energized' | 'deenergized' | 'faulted';

export interface FeederSnapshot {
  id: string;
  name: string | null;
  customersOut: number;
  sections: Record<string, SectionState>;
  switches: Record<string, 'open' | 'closed' | 'unknown'>;
}

export interface Readiness {
  ready: boolean;
  /** Why not ready (empty when ready). */
  reasons: string[];
  /** The problems of the site file on disk when it was last (re)loaded and found invalid. */
  configErrors: ConfigIssue[];
}

export interface StatusSnapshot {
  siteId: string;
  name: string | null;
  version: string;
  generatedAt: string;
  gateway: { running: boolean; startedAt: string | null; eventsEmitted: number; stateFile: string | null };
  readiness: Readiness;
  feeders: FeederSnapshot[];
  outages: Outage[];
  /** Latest first: running sequences and the last completed ones. */
  selfHealing: SelfHealingReport[];
  devices: AvailabilitySnapshot[];
  sinks: SinkStatus[];
  reliability: { available: true; report: ReliabilityReport } | { available: false; reason: string };
}

const KEEP_REPORTS = 10;

export interface StatusModelOptions {
  clock: Clock;
  logger: Logger;
  version: string;
  /** Whether the gateway started (set by whoever starts it). */
  running: () => boolean;
  readiness: () => Readiness;
}

export class StatusModel {
  private gateway: GatewayView | null = null;
  private readonly reports = new Map<string, SelfHealingReport>();

  constructor(private readonly opts: StatusModelOptions) {}

  /** Shows this gateway from now on (a reload attaches the new one). */
  attach(gateway: GatewayView): void {
    this.gateway = gateway;
    gateway.onEvents((events) => {
      if (this.gateway === gateway) this.observe(events);
    });
  }

  get site(): SiteConfig | null {
    return this.gateway?.site ?? null;
  }

  private observe(events: readonly DomainEvent[]): void {
    for (const event of events) {
      if (event.type === 'selfHealing.progress' || event.type === 'selfHealing.completed') {
        this.reports.delete(event.report.id);
        this.reports.set(event.report.id, event.report);
        while (this.reports.size > KEEP_REPORTS) this.reports.delete(this.reports.keys().next().value!);
      }
    }
  }

  snapshot(): StatusSnapshot {
    const nowMs = this.opts.clock.now();
    const gw = this.gateway;
    const readiness = this.opts.readiness();
    if (gw === null) {
      return {
        siteId: '',
        name: null,
        version: this.opts.version,
        generatedAt: new Date(nowMs).toISOString(),
        gateway: { running: false, startedAt: null, eventsEmitted: 0, stateFile: null },
        readiness,
        feeders: [],
        outages: [],
        selfHealing: [],
        devices: [],
        sinks: [],
        reliability: { available: false, reason: 'no gateway running' },
      };
    }
    const status = gw.status();
    const outages = gw.engine.activeOutages();
    const selfHealing = [...this.reports.values()].reverse();
    const faultSections = new Set<string>();
    for (const o of outages) if (o.faultSection !== null) faultSections.add(o.faultSection);
    for (const r of selfHealing) {
      if (r.faultSection !== null && (r.state === 'running' || r.stillOut.sections.includes(r.faultSection))) faultSections.add(r.faultSection);
    }
    const names = new Map(gw.site.feeders.map((f) => [f.id, f.name ?? null]));
    const feeders = gw.engine.feederStates(nowMs).map((f): FeederSnapshot => {
      const sections: Record<string, SectionState> = {};
      for (const s of f.energizedSections) sections[s] = 'energized';
      // A fault section is shown faulted only while it is dark: once repaired and re-energized it is not.
      for (const s of f.deenergizedSections) sections[s] = faultSections.has(s) ? 'faulted' : 'deenergized';
      return { id: f.feederId, name: names.get(f.feederId) ?? null, customersOut: f.customersOut, sections, switches: f.switches };
    });
    return {
      siteId: gw.site.siteId,
      name: gw.site.name ?? null,
      version: this.opts.version,
      generatedAt: new Date(nowMs).toISOString(),
      gateway: { running: this.opts.running(), startedAt: status.startedAt, eventsEmitted: status.eventsEmitted, stateFile: status.stateFile },
      readiness,
      feeders,
      outages,
      selfHealing,
      devices: status.devices,
      sinks: gw.sinkStatus(),
      reliability: this.reliability(gw),
    };
  }

  /** The report the gateway last published on `<root>/reliability` (computed from its interruption history). */
  private reliability(gw: GatewayView): StatusSnapshot['reliability'] {
    const report = gw.reliabilityReport();
    if (report !== null) return { available: true, report };
    return {
      available: false,
      reason: gw.site.persistence === undefined ? 'the site runs without persistence: no interruption history to count from' : 'not computed yet',
    };
  }
}

/** The snapshot without what changes on its own (the time it was made), to tell whether anything changed. */
export function changeKey(s: StatusSnapshot): string {
  return JSON.stringify({ ...s, generatedAt: '' });
}
