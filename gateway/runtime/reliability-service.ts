/**
 * Keeps the interruption history (gateway/reliability/history.ts, next to the state database) and builds
 * the reliability report from it: after every batch that finished an outage, at start, and hourly, since
 * the year-to-date and rolling 12-month windows move with time. Needs persistence: without a state folder
 * there is no history to count from.
 */
import type { SiteConfig } from '../config/site-config.js';
import type { Clock } from '../clock.js';
import type { DomainEvent } from '../engine/events.js';
import type { Logger } from '../log.js';
import { InterruptionHistory } from '../reliability/history.js';
import { siteUnits, type SiteUnits } from '../reliability/indices.js';
import { buildReliabilityReport, type ReliabilityReport } from '../reliability/report.js';
import { loadTargets, type ReliabilityTargets } from '../reliability/targets.js';

/** Reports are dated in China time (the action plan's years start on 1 January, UTC+8). */
const UTC_OFFSET_MINUTES = 480;
/** History kept in memory for a report: the rolling 12 months plus margin for outages crossing its start. */
const HISTORY_WINDOW_MS = 400 * 86_400_000;

export class ReliabilityService {
  private readonly history: InterruptionHistory;
  private readonly units: SiteUnits;
  private readonly targets: ReliabilityTargets;

  constructor(
    private readonly site: SiteConfig,
    stateDir: string,
    private readonly opts: { clock: Clock; logger: Logger },
  ) {
    this.history = InterruptionHistory.open(stateDir);
    this.units = siteUnits(site);
    this.targets = loadTargets();
  }

  /** Records finished outages; returns whether the indices changed. Never throws. */
  record(events: readonly DomainEvent[]): boolean {
    try {
      return this.history.record(events) > 0;
    } catch (err) {
      this.opts.logger.error('recording interruption history failed', { err });
      return false;
    }
  }

  report(): ReliabilityReport {
    const nowMs = this.opts.clock.now();
    return buildReliabilityReport({
      siteId: this.site.siteId,
      outages: this.history.outages({ fromMs: nowMs - HISTORY_WINDOW_MS }),
      units: this.units,
      nowMs,
      momentaryThresholdMs: this.site.thresholds.momentaryThresholdMs,
      utcOffsetMinutes: UTC_OFFSET_MINUTES,
      targets: { file: this.targets, selection: { cities: 'other', year: new Date(nowMs + UTC_OFFSET_MINUTES * 60_000).getUTCFullYear() } },
    });
  }

  close(): void {
    this.history.close();
  }
}
