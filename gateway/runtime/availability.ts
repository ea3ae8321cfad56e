/**
 * Tracks whether each device answers, from its poll batches, and emits `device.availability` events on
 * transitions only: offline after `offlineAfter` consecutive failed polls (one lost frame on a noisy RS-485
 * line is not an outage of the device), online again on the first good poll.
 */
import type { DeviceAvailabilityEvent } from '../engine/events.js';
import type { EventSequence } from '../engine/sequence.js';
import type { Reading } from '../../drivers/reading.js';

interface DeviceHealth {
  state: 'unknown' | 'online' | 'offline';
  consecutiveErrors: number;
  lastGoodAt: number | null;
  lastError: string | null;
}

export interface AvailabilitySnapshot {
  deviceId: string;
  state: 'unknown' | 'online' | 'offline';
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
    const good = batch.find((r) => r.quality !== 'bad');
    const ts = Math.max(...batch.map((r) => r.gatewayTs));
    if (good !== undefined) {
      health.consecutiveErrors = 0;
      health.lastGoodAt = ts;
      health.lastError = null;
      if (health.state === 'online') return null;
      const previous = health.state;
      health.state = 'online';
      return this.event(deviceId, health, previous, ts);
    }
    health.consecutiveErrors += 1;
    const error = batch[0]?.error;
    health.lastError = error ? `${error.code}: ${error.message}` : 'bad reading';
    if (health.state === 'offline' || health.consecutiveErrors < this.offlineAfter) return null;
    const previous = health.state;
    health.state = 'offline';
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

  private event(deviceId: string, h: DeviceHealth, previousState: DeviceHealth['state'], ts: number): DeviceAvailabilityEvent {
    return {
      ...this.sequence.next(),
      type: 'device.availability',
      ts: new Date(ts).toISOString(),
      deviceId,
      state: h.state === 'offline' ? 'offline' : 'online',
      previousState,
      lastGoodAt: h.lastGoodAt === null ? null : new Date(h.lastGoodAt).toISOString(),
      consecutiveErrors: h.consecutiveErrors,
      error: h.lastError,
    };
  }
}
