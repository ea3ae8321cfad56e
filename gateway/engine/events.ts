/**
 * Domain events: what the engine tells the world. Publishers consume only these and engine snapshots.
 * Every event carries a site-wide, gap-free sequence number and an id derived from it, so a consumer can
 * detect gaps and duplicates. Timestamps are ISO-8601 UTC with milliseconds, taken from observations.
 */

export type OutageState = 'active' | 'restored';
export type OutageKind = 'unplanned' | 'planned' | 'momentary';
/**
 * Why the supply was lost, as far as the evidence tells:
 * - `protectionTrip`: a breaker or recloser opened while a fault flag was up on it or below it;
 * - `switchOpened`: a switching device opened with no fault flag seen;
 * - `meterVoltageLoss`: meters reported loss of voltage while their section was energized.
 */
export type OutageCause = 'protectionTrip' | 'switchOpened' | 'meterVoltageLoss';

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
  kind: OutageKind;
  cause: OutageCause;
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

export type DomainEvent = OutageStartedEvent | OutageUpdatedEvent | OutageRestoredEvent | DeviceAvailabilityEvent;
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
