/**
 * Named one-shot timers on the simulator's clock and scheduler: real timers for the demo, a fake scheduler
 * in tests so a minute of feeder automation runs in milliseconds. One timer per key; setting a key again
 * replaces its timer. `list()` exposes what is pending, for tests and the logs.
 */
import type { Clock } from '../../gateway/clock.js';
import type { Scheduler } from '../scenario.js';

export interface PendingTimer {
  /** What the timer is for, e.g. `reclose:F1-R1`, `vt.x:F1-LS1`, `vt.xl:TIE-12`. */
  key: string;
  /** Clock time it fires at, ms. */
  dueMs: number;
}

export class SimTimers {
  private readonly timers = new Map<string, { dueMs: number; cancel: () => void }>();

  constructor(
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
  ) {}

  now(): number {
    return this.clock.now();
  }

  /** Runs `fn` after `delayMs` under `key`, replacing a timer already pending under that key. */
  set(key: string, delayMs: number, fn: () => void): void {
    this.cancel(key);
    const entry = {
      dueMs: this.clock.now() + delayMs,
      cancel: this.scheduler.schedule(() => {
        // Only the timer still registered under the key runs (a replaced one was cancelled anyway).
        if (this.timers.get(key) !== entry) return;
        this.timers.delete(key);
        fn();
      }, delayMs),
    };
    this.timers.set(key, entry);
  }

  has(key: string): boolean {
    return this.timers.has(key);
  }

  cancel(key: string): void {
    const entry = this.timers.get(key);
    if (entry === undefined) return;
    this.timers.delete(key);
    entry.cancel();
  }

  /** Cancels every timer whose key starts with `prefix` (all of them without one). */
  cancelAll(prefix = ''): void {
    for (const key of [...this.timers.keys()]) if (key.startsWith(prefix)) this.cancel(key);
  }

  /** Pending timers, soonest first (ties by key). */
  list(): PendingTimer[] {
    return [...this.timers]
      .map(([key, { dueMs }]) => ({ key, dueMs }))
      .sort((a, b) => a.dueMs - b.dueMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
