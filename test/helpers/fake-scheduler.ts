import type { ManualClock } from '../../gateway/clock.js';
import type { Scheduler } from '../../simulators/scenario.js';

/**
 * Timers on a manual clock, for running minutes of scenario in milliseconds: advanceTo() runs every
 * callback due by then in due order (ties in scheduling order), moving the clock to each one's due time.
 */
export class FakeScheduler implements Scheduler {
  private timers: Array<{ due: number; seq: number; fn: () => void }> = [];
  private seq = 0;

  constructor(private readonly clock: ManualClock) {}

  schedule(fn: () => void, delayMs: number): () => void {
    const timer = { due: this.clock.now() + delayMs, seq: this.seq++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((x) => x !== timer);
    };
  }

  /** Timers scheduled and neither run nor cancelled. */
  get pending(): number {
    return this.timers.length;
  }

  advanceTo(ms: number): void {
    for (;;) {
      const due = this.timers.filter((x) => x.due <= ms).sort((a, b) => a.due - b.due || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.clock.set(due.due);
      due.fn();
    }
    this.clock.set(ms);
  }
}
