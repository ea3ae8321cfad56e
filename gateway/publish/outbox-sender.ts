/**
 * One sender loop per sink (docs/outbox.md): reads the durable outbox after the sink's cursor, hands the items
 * to the sink, and moves the cursor when the sink's peer acknowledged them. The ReplayScheduler decides what
 * to read: on every `up` what the sink had not acknowledged is its backlog, delivered marked historical and
 * interleaved with live items (replay never starves live data).
 *
 * Failure handling: a failed delivery (or the sink's `down`) stops the loop; what was in flight stays after the
 * cursor and is read again. The sink reports `up` itself when it reconnects (MQTT); a sink that cannot tell
 * (InfluxDB over HTTP) is probed with backoff (1 s doubling to 30 s).
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Outbox, OutboxItem } from './outbox.js';
import { ReplayScheduler, type ReadPlan } from './replay-scheduler.js';
import type { OutboxKind, Sink } from './sink.js';

export interface OutboxSenderOptions {
  clock: Clock;
  logger: Logger;
  /** Backlog batches allowed between two live batches while live items wait. Default 1. */
  backlogBatchesPerLive?: number;
  /** Cap on backlog items per second (a slow uplink); default none. */
  maxBacklogPerSecond?: number;
  /** First delay before probing a sink whose delivery failed; doubles up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
}

export class OutboxSender {
  private scheduler: ReplayScheduler;
  private isUp = false;
  /** Bumped on every up/down, so results of deliveries from an earlier connection cannot stop this one. */
  private generation = 0;
  private pumpQueued = false;
  private waitTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private retryMs: number;
  private stopped = false;
  private readonly log: Logger;
  private readonly drainWaiters: Array<() => void> = [];

  constructor(
    private readonly outbox: Outbox,
    readonly sink: Sink,
    private readonly opts: OutboxSenderOptions,
  ) {
    this.log = opts.logger.child({ module: 'outbox', sink: sink.name });
    this.scheduler = this.newScheduler();
    this.retryMs = opts.retryMs ?? 1000;
  }

  get up(): boolean {
    return this.isUp;
  }

  /** Starts the sink; the loop runs once the sink says it is up. */
  async start(): Promise<void> {
    await this.sink.start({ up: () => this.onUp(), down: (reason) => this.onDown(reason) });
    // A sink that cannot report its peer (HTTP) is probed until it answers.
    if (!this.isUp) this.scheduleProbe(0);
  }

  /**
   * Something was appended. Urgent items (domain events) go at once; others may wait up to the sink's
   * `lingerMs` to fill a batch.
   */
  kick(urgent: boolean): void {
    if (!this.isUp || this.stopped) return;
    if (urgent || this.sink.lingerMs <= 0) {
      this.schedulePump();
      return;
    }
    const waiting = this.outbox.newestId - this.outbox.cursor(this.sink.name);
    if (waiting >= this.sink.batchSize) {
      this.schedulePump();
      return;
    }
    this.lingerTimer ??= setTimeout(() => {
      this.lingerTimer = undefined;
      this.schedulePump();
    }, this.sink.lingerMs);
  }

  /**
   * Waits until this sink acknowledged everything appended so far, or `timeoutMs` passed, or the sink is down.
   * Resolves true when everything was delivered.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    const done = (): boolean => this.outbox.cursor(this.sink.name) >= this.outbox.newestId;
    if (done()) return true;
    if (!this.isUp) return false;
    this.schedulePump();
    const deadline = this.opts.clock.now() + timeoutMs;
    while (!done() && this.isUp && this.opts.clock.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.drainWaiters.push(resolve);
        setTimeout(resolve, 50).unref();
      });
    }
    return done();
  }

  /** Stops the loop (the sink itself is stopped by its owner). */
  stop(): void {
    this.stopped = true;
    this.isUp = false;
    for (const timer of [this.waitTimer, this.lingerTimer, this.probeTimer]) if (timer) clearTimeout(timer);
    this.waitTimer = this.lingerTimer = this.probeTimer = undefined;
  }

  private newScheduler(): ReplayScheduler {
    return new ReplayScheduler({
      batchSize: this.sink.batchSize,
      maxInflight: this.sink.maxInflight,
      backlogBatchesPerLive: this.opts.backlogBatchesPerLive,
      maxBacklogPerSecond: this.opts.maxBacklogPerSecond,
    });
  }

  private onUp(): void {
    if (this.stopped || this.isUp) return;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    this.generation += 1;
    this.isUp = true;
    this.retryMs = this.opts.retryMs ?? 1000;
    this.scheduler = this.newScheduler();
    this.uncarriedReplayed = 0;
    const cursor = this.outbox.cursor(this.sink.name);
    const head = this.outbox.newestId;
    this.scheduler.resume(cursor, head, this.opts.clock.now());
    if (head > cursor) this.log.info('sink up: replaying what it has not acknowledged (marked historical)', { backlogIds: head - cursor, fromId: cursor + 1, toId: head });
    this.pump();
  }

  private onDown(reason: string): void {
    if (!this.isUp) return;
    this.isUp = false;
    this.generation += 1;
    let buffered: number | undefined;
    try {
      buffered = this.outbox.stats().sinks[this.sink.name]?.buffered;
    } catch {
      buffered = undefined;
    }
    this.log.warn('sink down: items are kept in the outbox until it is back', { reason, buffered });
    this.wakeDrainers();
    // A sink that reconnects by itself (MQTT) says `up` first; one that cannot tell (HTTP) is found by probing.
    this.scheduleProbe();
  }

  private schedulePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /** Reads and delivers as long as the scheduler allows; never blocks. */
  private pump(): void {
    if (this.waitTimer) clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
    // This pump reads every live item waiting: a linger window opened for them is over (left running, it would
    // cut short the window of the next item kicked).
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    const generation = this.generation;
    while (this.isUp && !this.stopped && generation === this.generation) {
      const decision = this.scheduler.plan(this.outbox.newestId, this.opts.clock.now());
      if (decision.type === 'idle' || decision.type === 'full') return;
      if (decision.type === 'wait') {
        this.waitTimer = setTimeout(() => this.pump(), decision.ms);
        return;
      }
      this.read(decision, generation);
    }
  }

  private read(plan: ReadPlan, generation: number): void {
    let items: OutboxItem[];
    try {
      items = this.outbox.next(this.sink.name, plan.limit, { after: plan.after, upTo: plan.upTo });
    } catch (err) {
      // The outbox is closed or the file failed: nothing sensible to deliver; the next up starts over.
      this.log.error('reading the outbox failed', { err });
      this.onDown('outbox read failed');
      return;
    }
    this.scheduler.issued(
      plan,
      items.map((i) => i.id),
    );
    const carried: OutboxItem[] = [];
    for (const item of items) {
      if (this.sink.kinds.has(item.kind as OutboxKind)) carried.push(item);
      else {
        // Acknowledged for the sink, not replayed to it: keep it out of the sink's `replayed` counter.
        if (plan.historical) this.uncarriedReplayed += 1;
        this.acked(item.id, generation);
      }
    }
    if (carried.length === 0) return;
    let failed = false;
    try {
      this.sink.deliver(carried, plan.historical, {
        acked: (id) => this.acked(id, generation),
        failed: (err) => {
          if (failed) return;
          failed = true;
          this.failed(err, generation);
        },
      });
    } catch (err) {
      this.failed(err, generation);
    }
  }

  private acked(id: number, generation: number): void {
    // An acknowledgement from an earlier connection is still a delivery, but that connection's scheduler is
    // gone: the item is read again after the cursor (a duplicate consumers drop by seq).
    if (generation !== this.generation || this.stopped) return;
    const advance = this.scheduler.acked(id);
    if (advance !== null) {
      // The scheduler counts every historical id it had in flight; uncarried ones were never delivered.
      advance.replayed = Math.max(0, advance.replayed - this.uncarriedReplayed);
      this.uncarriedReplayed = 0;
      // Acknowledgements come in bursts (a whole InfluxDB batch, PUBACKs of a replay): one outbox transaction
      // per burst, not per item. Delaying the durable cursor by a tick only risks a duplicate after a crash.
      this.pendingAck = { upTo: advance.upTo, replayed: (this.pendingAck?.replayed ?? 0) + advance.replayed };
      if (!this.ackQueued) {
        this.ackQueued = true;
        queueMicrotask(() => this.flushAck());
      }
    }
    this.schedulePump();
  }

  private pendingAck: { upTo: number; replayed: number } | undefined;
  /** Historical items of kinds the sink does not carry, acked since the scheduler's last advance. */
  private uncarriedReplayed = 0;
  private ackQueued = false;

  private flushAck(): void {
    this.ackQueued = false;
    const ack = this.pendingAck;
    this.pendingAck = undefined;
    if (ack === undefined || this.stopped) return;
    try {
      this.outbox.ack(this.sink.name, ack.upTo, { replayed: ack.replayed });
    } catch (err) {
      this.log.warn('recording a delivery failed', { upTo: ack.upTo, err });
    }
    this.wakeDrainers();
  }

  private failed(err: unknown, generation: number): void {
    if (generation !== this.generation || this.stopped) return;
    this.onDown(`delivery failed: ${err instanceof Error ? err.message : String(err)}`);
  }

  /** Asks the sink, with backoff, whether its peer answers again. */
  private scheduleProbe(delayMs?: number): void {
    if (this.stopped || this.probeTimer) return;
    const delay = delayMs ?? this.retryMs;
    if (delayMs === undefined) this.retryMs = Math.min(this.retryMs * 2, this.opts.maxRetryMs ?? 30_000);
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      if (this.isUp || this.stopped) return;
      this.sink.probe().then(
        (ok) => {
          if (this.isUp || this.stopped) return;
          if (ok) this.onUp();
          else this.scheduleProbe();
        },
        () => this.scheduleProbe(),
      );
    }, delay);
  }

  private wakeDrainers(): void {
    for (const wake of this.drainWaiters.splice(0)) wake();
  }
}
