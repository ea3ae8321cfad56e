/**
 * Customer notices: what the gateway publishes on `<root>/notices` for an SMS, WeChat or app service to turn
 * into messages (docs/notices.md). One notice is one announcement to a set of customers; its customer ids are
 * split into batches of bounded size and each batch is one message, so a message never grows with the size of
 * the outage. Every field is always present (null when it does not apply).
 */
import type { AreaClass } from '../config/site-config.js';
import type { OutageCause } from '../engine/events.js';

export type NoticeType = 'planned' | 'fault' | 'progress' | 'restored';

/** What a progress notice reports: the fault was located, isolated, or part of the area is back. */
export type ProgressKind = 'located' | 'isolated' | 'partlyRestored';

export interface NoticeArea {
  /** Feeders the notice's customers are supplied by (name null when the site gives none). */
  feeders: Array<{ id: string; name: string | null }>;
  /** Distribution transformers of the notice's customers (sorted ids). */
  transformers: string[];
  /** Area classes of those transformers, in the order cityCentre, urban, town, rural. */
  areaClasses: AreaClass[];
}

export interface NoticeCause {
  /** The engine's cause of the outage; `planned` for planned work. */
  code: OutageCause;
  /** A short English description ("protection tripped", "planned work: replace pole 12"). */
  text: string;
}

export interface NoticeProgress {
  kind: ProgressKind;
  /** A short English description of the step. */
  text: string;
  /** When the step happened (ISO-8601 UTC). */
  at: string;
  /** Section where the fault lies, when known. */
  faultSection: string | null;
  /** Devices left open around the fault (isolated), else empty. */
  isolatingDevices: string[];
  /** Customers of the outage back on supply so far, and still out (partlyRestored; else the counts now). */
  restoredCustomerCount: number;
  stillOutCustomerCount: number;
}

/** One message on `<root>/notices`: one batch of one notice. */
export interface Notice {
  /**
   * Identifies the notice, the same in all its batches, derived only from the outage (or planned outage) and
   * the step it announces: issuing it again (a replay, a restart) gives the same id. `(noticeId, batchIndex)`
   * identifies a message; `messageId` spells it out.
   */
  noticeId: string;
  /** `<noticeId>:<batchIndex + 1>of<batchCount>` (no `/`, `+` or `#`, like every id). */
  messageId: string;
  type: NoticeType;
  siteId: string;
  /** The engine's outage id; null for a planned notice (issued before any outage exists). */
  outageId: string | null;
  /** The registered planned outage, for planned notices and for notices about a planned outage. */
  plannedId: string | null;
  area: NoticeArea;
  cause: NoticeCause;
  /** Start of the outage, or of the planned window (ISO-8601 UTC). */
  start: string;
  /**
   * When supply is expected back: the end of the planned window, or for a fault the start plus crew arrival
   * plus repair time of the slowest area class affected. Null on restored notices.
   */
  estimatedRestoration: string | null;
  /** When supply came back (restored notices only). */
  actualRestoration: string | null;
  /** The step announced (progress notices only). */
  progress: NoticeProgress | null;
  /**
   * Restored notices only: true when these customers are back but the outage goes on for others;
   * false when the outage is over. Null on other notices.
   */
  partial: boolean | null;
  /** All customers the notice is for, over all its batches. */
  customerCount: number;
  /** Position of this batch (from 0) and number of batches of the notice. */
  batchIndex: number;
  batchCount: number;
  /** This batch's customers (billing meter ids, sorted), at most the configured batch size. */
  customerIds: string[];
  /** When the gateway issued the notice (from its clock). */
  issuedAt: string;
}

/** Durations by area class, in milliseconds. */
export type AreaDurations = Record<AreaClass, number>;

export interface EtrRule {
  /** Time for a crew to arrive, by area class. */
  crewArrivalMs: AreaDurations;
  /** Time to repair once there, by area class. */
  repairMs: AreaDurations;
}

const MIN = 60_000;
const HOUR = 60 * MIN;

/**
 * State Grid service pledges (DOMAIN.md section 6): crew arrival 45 min urban / 90 min rural, repair 3 h urban /
 * 4 h rural. City centre counts as urban, town as rural.
 */
export const DEFAULT_ETR: EtrRule = {
  crewArrivalMs: { cityCentre: 45 * MIN, urban: 45 * MIN, town: 90 * MIN, rural: 90 * MIN },
  repairMs: { cityCentre: 3 * HOUR, urban: 3 * HOUR, town: 4 * HOUR, rural: 4 * HOUR },
};

/** Planned outages must be announced this long ahead (Electricity Supply and Use Regulations art. 28). */
export const DEFAULT_LEAD_TIME_MS = 7 * 24 * HOUR;
export const DEFAULT_BATCH_SIZE = 500;
