/**
 * What the HTTP server needs from a running gateway: the public API of gateway/runtime/gateway.ts, nothing
 * more, so the runtime can change inside. `Gateway` satisfies it structurally.
 */
import type { SiteConfig } from '../config/site-config.js';
import type { DomainEvent, FeederState, Outage } from '../engine/events.js';
import type { SinkStatus } from '../publish/sink-status.js';
import type { ReliabilityReport } from '../reliability/report.js';
import type { Reading } from '../../drivers/reading.js';
import type { GatewayStatus } from '../runtime/gateway.js';

export interface GatewayView {
  readonly site: SiteConfig;
  readonly engine: {
    feederStates(now?: number): FeederState[];
    activeOutages(): Outage[];
  };
  status(): GatewayStatus;
  sinkStatus(): SinkStatus[];
  /** The reliability indices last published (null: not computed, e.g. without persistence). */
  reliabilityReport(): ReliabilityReport | null;
  /** Synchronous, after the publishers. */
  onEvents(listener: (events: readonly DomainEvent[]) => void): void;
  /** Synchronous, before the engine. */
  onReadings(listener: (deviceId: string, readings: readonly Reading[]) => void): void;
}
