/**
 * Tracks whether each device answers, from its poll batches, and emits `device.availability` events on
 * transitions only:
 * - `online`: the last batch had no communication error;
 * - `degraded`: the device answers but part of the batch failed (an exception on one block, a CRC error on
 *   one request): its data is incomplete;
 * - `offline`: `offlineAfter` consecutive batches failed entirely (one lost frame on a noisy RS-485 line is
 *   not an outage of the device, so a single failed batch changes nothing).
 * A point whose value is a declared sentinel (NO_DATA) is the device saying "no value", not a fault of it.
 */
import type { DeviceAvailabilityEvent } from '../engine/events.js';
import type { EventSequence } from '../engine/sequence.js';
import type { Reading } from '../../drivers/reading.js';

type AvailabilityState = 'unknown' | 'online' | 'degraded' | 'offline';

interface DeviceHealth {
  state: AvailabilityState;
  consecutiveErrors: number;
  lastGoodAt: number | null;
  lastError: string | null;
}

export interface AvailabilitySnapshot {
  deviceId: string;
  state: AvailabilityState;
  consecutiveErrors: number;
  lastGoodAt: string | null;
  error: string | null;
}

export class AvailabilityTracker {
  private readonly health = new Map<string, DeviceHealth>();

  constructor(
    deviceIds: readonly string[],
    private readonly sequence: EventSequence,
    private readonly offlineAfter = 3,
  ) {
    for (const id of deviceIds) this.health.set(id, { state: 'unknown', consecutiveErrors: 0, lastGoodAt: null, lastError: null });
  }

  /** Takes one poll batch of one device; returns an event when the device changed state. */
  observe(deviceId: string, batch: readonly Reading[]): DeviceAvailabilityEvent | null {
    const health = this.health.get(deviceId);
    if (health === undefined || batch.length === 0) return null;
    const failed = batch.filter((r) => r.quality === 'bad' && r.error?.code !== 'NO_DATA');
    const ts = Math.max(...batch.map((r) => r.gatewayTs));
    if (failed.length < batch.length) {
      health.consecutiveErrors = 0;
      health.lastGoodAt = ts;
      const first = failed[0]?.error;
      health.lastError = first ? `${first.code}: ${first.message}` : null;
      return this.transition(deviceId, health, failed.length === 0 ? 'online' : 'degraded', ts);
    }
    health.consecutiveErrors += 1;
    const error = batch[0]?.error;
    health.lastError = error ? `${error.code}: ${error.message}` : 'bad reading';
    if (health.state === 'offline' || health.consecutiveErrors < this.offlineAfter) return null;
    return this.transition(deviceId, health, 'offline', ts);
  }

  private transition(deviceId: string, health: DeviceHealth, next: Exclude<AvailabilityState, 'unknown'>, ts: number): DeviceAvailabilityEvent | null {
    if (health.state === next) return null;
    const previous = health.state;
    health.state = next;
    return this.event(deviceId, health, previous, ts);
  }

  snapshot(): AvailabilitySnapshot[] {
    return [...this.health].map(([deviceId, h]) => ({
      deviceId,
      state: h.state,
      consecutiveErrors: h.consecutiveErrors,
      lastGoodAt: h.lastGoodAt === null ? null : new Date(h.lastGoodAt).toISOString(),
      error: h.lastError,
    }));
  }

  private event(deviceId: string, h: DeviceHealth, previousState: AvailabilityState, ts: number): DeviceAvailabilityEvent {
    return {
      ...this.sequence.next(),
      type: 'device.availability',
      ts: new Date(ts).toISOString(),
      deviceId,
      state: h.state === 'unknown' ? 'offline' : h.state,
      previousState,
      lastGoodAt: h.lastGoodAt === null ? null : new Date(h.lastGoodAt).toISOString(),
      consecutiveErrors: h.consecutiveErrors,
      error: h.lastError,
    };
  }
}
