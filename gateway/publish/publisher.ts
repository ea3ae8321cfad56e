/**
 * What every northbound sink implements. Publishers consume domain events, state snapshots and
 * readings; they never call back into the engine or the drivers. Calls must not throw and must not block:
 * a sink that is down buffers or reports, it never holds back the others.
 */
import type { DomainEvent, FeederState } from '../engine/events.js';
import type { Reading } from '../../drivers/reading.js';
import type { ReliabilityReport } from '../reliability/report.js';
import type { Notice } from '../notices/notice-types.js';

export interface Publisher {
  readonly name: string;
  /** Connects; resolves once the sink is usable or buffering (never waits for an unreachable peer). */
  start(): Promise<void>;
  publishEvents(events: readonly DomainEvent[]): void;
  publishFeederStates(states: readonly FeederState[]): void;
  publishReadings(deviceId: string, readings: readonly Reading[]): void;
  /** Customer notices, one message per batch (sinks that carry them). */
  publishNotices?(notices: readonly Notice[]): void;
  /** The latest reliability indices (sinks that carry them). */
  publishReliability?(report: ReliabilityReport): void;
  /** Flushes what can be flushed and disconnects. */
  stop(): Promise<void>;
}
