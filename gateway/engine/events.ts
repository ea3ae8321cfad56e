/**
 * Domain events: what the engine tells the world. Publishers consume only these and engine snapshots.
 * Every event carries a site-wide, gap-free sequence number and an id derived from it, so a consumer can
 * detect gaps and duplicates. Timestamps are ISO-8601 UTC with milliseconds, taken from observations.
 */

/** `merged`: swallowed by an upstream outage that now carries its customers (see `mergedInto`). */
export type OutageState = 'active' | 'restored' | 'merged';
export type OutageKind = 'unplanned' | 'planned' | 'momentary';
/**
 * Why the supply was lost, as far as the evidence tells:
 * - `protectionTrip`: a breaker or recloser opened while a fault flag was up on it or below it;
 * - `switchOpened`: a switching device opened with no fault flag seen;
 * - `meterVoltageLoss`: meters reported loss of voltage while their section was energized.
 */
export type OutageCause = 'protectionTrip' | 'switchOpened' | 'meterVoltageLoss' | 'transformerOut' | 'planned';

/**
 * How sure the engine is: `measured` when telemetry shows the loss directly (a switch reported open, a good
 * reading of 0 V from a TTU or a meter), `inferred` when it is deduced (a share of meters silent under a
 * transformer, an untelemetered device presumed open because everything below it is out).
 */
export type OutageConfidence = 'measured' | 'inferred';

/** One piece of evidence behind an outage, in the order it arrived. */
export interface OutageEvidence {
  at: string;
  kind:
    | 'switchOpen'
    | 'faultFlag'
    | 'lockout'
    | 'voltageAbsent'
    | 'transformerVoltageLoss'
    | 'meterVoltageLoss'
    | 'meterSilent'
    | 'rollUp'
    | 'plannedWindow';
  /** The device, switch, transformer or customer the evidence is about. */
  subject: string;
  detail?: string;
}

/** One step of a restoration: what came back at one time. */
export interface RestorationStep {
  at: string;
  sections: string[];
  transformers: string[];
  customers: string[];
}

export interface Outage {
  id: string;
  siteId: string;
  state: OutageState;
  /**
   * `planned` when a registered planned outage matches; `momentary` once restored within the site's momentary
   * threshold (3 min DL/T 836, 5 min IEEE 1366); `unplanned` otherwise. A restored outage's kind is final.
   */
  kind: OutageKind;
  cause: OutageCause;
  confidence: OutageConfidence;
  evidence: OutageEvidence[];
  /** The enclosing outage this one is nested in (a fuse outage inside a feeder outage), if any. */
  parentId: string | null;
  /** The upstream outage that swallowed this one; the state is then `merged` and the upstream outage carries on. */
  mergedInto: string | null;
  /** The planned outage (registered window) this one matched. */
  plannedId: string | null;
  /** The open device whose load side is dark, when the outage comes from a switching device. */
  causeDevice: string | null;
  /** Section where the fault lies (load side of the farthest device that saw fault current), when known. */
  faultSection: string | null;
  startedAt: string;
  restoredAt: string | null;
  /** restoredAt - startedAt in milliseconds, once restored. */
  durationMs: number | null;
  feederIds: string[];
  /** Everything that was affected at any time during the outage (sorted ids). */
  sections: string[];
  transformers: string[];
  customers: string[];
  customerCount: number;
  /** What is still out now. Equal to the above while nothing came back; empty once restored. */
  currentSections: string[];
  currentCustomerCount: number;
  /** Partial and final restorations in time order. */
  restorations: RestorationStep[];
  /** Sum over customers of their outage duration in minutes (customer-minutes interrupted), once restored. */
  customerMinutes: number | null;
}

interface EventBase {
  /** `<siteId>:<seq>`: stable across retries and replays. */
  id: string;
  seq: number;
  siteId: string;
  /** When it happened (from the observation that caused it). */
  ts: string;
}

export interface OutageStartedEvent extends EventBase {
  type: 'outage.started';
  outage: Outage;
}
export interface OutageUpdatedEvent extends EventBase {
  type: 'outage.updated';
  outage: Outage;
}
export interface OutageRestoredEvent extends EventBase {
  type: 'outage.restored';
  outage: Outage;
}
/** What a self-healing sequence did, step by step. */
export interface SelfHealingStep {
  at: string;
  action: 'trip' | 'reclose' | 'lockout' | 'faultFlag' | 'open' | 'close' | 'transfer';
  device: string;
  /** Sections and customers that came back or went dark with this step. */
  energized: string[];
  deenergized: string[];
  customersRestored: number;
}

export type SelfHealingKind = 'centralized' | 'voltageTime' | 'recloser' | 'distributed' | 'unknown';
export type SelfHealingOutcome = 'restored' | 'partiallyRestored' | 'failed' | 'clearedOnReclose';

export interface SelfHealingReport {
  id: string;
  siteId: string;
  feederId: string;
  kind: SelfHealingKind;
  state: 'running' | 'completed';
  /** Null while running. */
  outcome: SelfHealingOutcome | null;
  /** Load side of the farthest device that saw fault current. */
  faultSection: string | null;
  /** Devices left open around the faulted section. */
  isolatingDevices: string[];
  restoredUpstream: { sections: string[]; customers: string[] };
  restoredByTransfer: Array<{ tie: string; fromFeeder: string; sections: string[]; customers: string[] }>;
  stillOut: { sections: string[]; customers: string[] };
  steps: SelfHealingStep[];
  startedAt: string;
  completedAt: string | null;
  durationMs: number | null;
  /** Outages this sequence caused or ended. */
  outageIds: string[];
}

export interface SelfHealingProgressEvent extends EventBase {
  type: 'selfHealing.progress';
  report: SelfHealingReport;
}
export interface SelfHealingCompletedEvent extends EventBase {
  type: 'selfHealing.completed';
  report: SelfHealingReport;
}

export interface DeviceAvailabilityEvent extends EventBase {
  type: 'device.availability';
  deviceId: string;
  /** online: answers fully; degraded: answers, but part of the poll failed; offline: stopped answering. */
  state: 'online' | 'degraded' | 'offline';
  /** `unknown` until the device first answered or failed `offlineAfter` times since the gateway started. */
  previousState: 'unknown' | 'online' | 'degraded' | 'offline';
  lastGoodAt: string | null;
  consecutiveErrors: number;
  error: string | null;
}

export type DomainEvent =
  | OutageStartedEvent
  | OutageUpdatedEvent
  | OutageRestoredEvent
  | SelfHealingProgressEvent
  | SelfHealingCompletedEvent
  | DeviceAvailabilityEvent;
export type DomainEventType = DomainEvent['type'];

/** Energization state of one feeder, for the retained `feeders/<id>/state` topic and the status page. */
export interface FeederState {
  feederId: string;
  ts: string;
  energizedSections: string[];
  deenergizedSections: string[];
  switches: Record<string, 'open' | 'closed' | 'unknown'>;
  customersOut: number;
}
