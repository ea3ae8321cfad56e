/**
 * The fairness rule of a sink's sender loop (docs/outbox.md): when a sink comes back after an outage (or at
 * start, with items stored before the restart), what it had not acknowledged is its backlog, replayed in id
 * order and marked historical, while what is appended from then on (live) keeps flowing: replay never starves
 * live data. Pure logic: no I/O, no clock of its own (`now` is passed in), so every decision is unit-tested.
 *
 * The rule:
 * - on `resume(cursor, head)` the backlog is (cursor, head]; live is everything above head;
 * - live first: when live items wait, at most `backlogBatchesPerLive` backlog batches go out before the next
 *   live batch; when no live item waits, backlog batches go back to back;
 * - the backlog may be capped in items per second (`maxBacklogPerSecond`, a token bucket of one batch) so
 *   a replay does not saturate a slow uplink; live is never rate-capped;
 * - at most `maxInflight` items handed out and not yet acknowledged (backpressure);
 * - backlog items are `historical: true`, live ones false.
 *
 * Acknowledgements may arrive in any order (QoS 1 PUBACKs of several messages in flight; live acks before
 * backlog acks). `acked(id)` turns them into the contiguous watermark the outbox's cumulative `ack` needs: the
 * highest id W such that every id <= W this sink was or will be handed out is acknowledged. Until the backlog
 * is through, the watermark stays in the backlog, so a crash during replay sends again the live items acked
 * since (at least once; consumers drop repeated `seq`).
 */

export interface ReplaySchedulerOptions {
  /** Most items per read. */
  batchSize: number;
  /** Backlog batches allowed between two live batches while live items wait (>= 1). Default 1. */
  backlogBatchesPerLive?: number;
  /** Cap on backlog items per second (token bucket holding one batch). Default: no cap. */
  maxBacklogPerSecond?: number;
  /** Most items handed out and not yet acknowledged. Default: no limit. */
  maxInflight?: number;
}

/** Read `outbox.next(sink, limit, { after, upTo })`, hand the items to the sink, then call `issued`. */
export interface ReadPlan {
  type: 'read';
  source: 'live' | 'backlog';
  after: number;
  upTo: number;
  limit: number;
  historical: boolean;
}

export type Decision =
  | ReadPlan
  /** The backlog is rate-capped and no live item waits: ask again after this long. */
  | { type: 'wait'; ms: number }
  /** `maxInflight` items are in flight: ask again after an ack. */
  | { type: 'full' }
  /** Nothing to send: ask again when something is appended. */
  | { type: 'idle' };

/** What to pass to `outbox.ack(sink, upTo, { replayed })`. */
export interface AckAdvance {
  upTo: number;
  replayed: number;
}

export class ReplayScheduler {
  private readonly batchSize: number;
  private readonly backlogBatchesPerLive: number;
  private readonly ratePerMs: number;
  private readonly maxInflight: number;
  /** Last backlog id handed out (or skipped); the backlog is done when it reaches backlogEnd. */
  private backlogPos = 0;
  private backlogEnd = 0;
  /** Last live id handed out (or skipped). */
  private livePos = 0;
  private watermark = 0;
  private readonly inflight = new Map<number, boolean>();
  /**
   * Ids handed out per source, in the order handed out (ascending within a source), with acknowledged ones
   * skipped lazily at the head: the lowest id in flight is the smaller of the two heads, found in O(1)
   * amortized instead of a scan of everything in flight per acknowledgement.
   */
  private readonly issuedIds: Record<'backlog' | 'live', { ids: number[]; head: number }> = { backlog: { ids: [], head: 0 }, live: { ids: [], head: 0 } };
  private backlogRun = 0;
  private tokens = 0;
  private refilledAt = 0;
  private replayedSinceAck = 0;
  private resumed = false;

  constructor(opts: ReplaySchedulerOptions) {
    if (!(opts.batchSize >= 1)) throw new RangeError('batchSize must be >= 1');
    this.batchSize = Math.floor(opts.batchSize);
    this.backlogBatchesPerLive = Math.max(1, Math.floor(opts.backlogBatchesPerLive ?? 1));
    const rate = opts.maxBacklogPerSecond ?? Infinity;
    if (!(rate > 0)) throw new RangeError('maxBacklogPerSecond must be > 0');
    this.ratePerMs = rate / 1000;
    this.maxInflight = opts.maxInflight ?? Infinity;
    if (!(this.maxInflight >= 1)) throw new RangeError('maxInflight must be >= 1');
  }

  /**
   * The sink is (back) up: `cursor` is its durable cursor in the outbox, `head` the outbox's newest id now.
   * Whatever was in flight before is forgotten (it is after the cursor, so it is read again).
   */
  resume(cursor: number, head: number, now: number): void {
    this.inflight.clear();
    this.issuedIds.backlog = { ids: [], head: 0 };
    this.issuedIds.live = { ids: [], head: 0 };
    this.backlogPos = cursor;
    this.backlogEnd = Math.max(cursor, head);
    this.livePos = this.backlogEnd;
    this.watermark = cursor;
    this.backlogRun = 0;
    this.tokens = this.bucketSize();
    this.refilledAt = now;
    this.replayedSinceAck = 0;
    this.resumed = true;
  }

  /** Whether backlog remains to be handed out. */
  get replaying(): boolean {
    return this.backlogPos < this.backlogEnd;
  }

  /** Ids of the backlog not yet handed out (an upper bound: some may have been dropped by the outbox bounds). */
  get backlogRemaining(): number {
    return this.backlogEnd - this.backlogPos;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /** What to read next, given the outbox's newest id. */
  plan(newestId: number, now: number): Decision {
    if (!this.resumed) throw new Error('ReplayScheduler: resume() first');
    const room = this.maxInflight - this.inflight.size;
    if (room < 1) return { type: 'full' };
    this.refill(now);
    const liveWaiting = newestId > this.livePos;
    const backlogWaiting = this.replaying;
    const backlogTurn = backlogWaiting && (!liveWaiting || this.backlogRun < this.backlogBatchesPerLive);
    if (backlogTurn) {
      const allowed = Math.floor(this.tokens);
      if (allowed >= 1) {
        return { type: 'read', source: 'backlog', after: this.backlogPos, upTo: this.backlogEnd, limit: Math.min(this.batchSize, room, allowed), historical: true };
      }
      if (!liveWaiting) return { type: 'wait', ms: Math.ceil((1 - this.tokens) / this.ratePerMs) };
    }
    if (liveWaiting) {
      return { type: 'read', source: 'live', after: this.livePos, upTo: newestId, limit: Math.min(this.batchSize, room), historical: false };
    }
    return { type: 'idle' };
  }

  /** The items of `plan` were read (ids ascending) and handed to the sink. */
  issued(plan: ReadPlan, ids: readonly number[]): void {
    const last = ids.length > 0 ? (ids[ids.length - 1] as number) : plan.upTo;
    // Fewer than asked: the range is exhausted up to plan.upTo (missing ids were dropped or deleted).
    const reached = ids.length < plan.limit ? plan.upTo : last;
    for (const id of ids) this.inflight.set(id, plan.historical);
    this.issuedIds[plan.source].ids.push(...ids);
    if (plan.source === 'backlog') {
      this.backlogPos = Math.max(this.backlogPos, reached);
      this.backlogRun += 1;
      this.tokens -= ids.length;
    } else {
      this.livePos = Math.max(this.livePos, reached);
      this.backlogRun = 0;
    }
  }

  /**
   * The sink acknowledged item `id` (any order). Returns the new contiguous watermark to record with
   * `outbox.ack`, or null when it did not move (or the id was not in flight: a duplicate ack).
   */
  acked(id: number): AckAdvance | null {
    const historical = this.inflight.get(id);
    if (historical === undefined) return null;
    this.inflight.delete(id);
    if (historical) this.replayedSinceAck += 1;
    let w = this.replaying ? this.backlogPos : this.livePos;
    const lowest = Math.min(this.lowestInflight('backlog'), this.lowestInflight('live'));
    if (lowest - 1 < w) w = lowest - 1;
    if (w <= this.watermark) return null;
    this.watermark = w;
    const replayed = this.replayedSinceAck;
    this.replayedSinceAck = 0;
    return { upTo: w, replayed };
  }

  /** The lowest id of this source still in flight (Infinity: none); drops acknowledged ids at the head. */
  private lowestInflight(source: 'backlog' | 'live'): number {
    const q = this.issuedIds[source];
    while (q.head < q.ids.length && !this.inflight.has(q.ids[q.head] as number)) q.head += 1;
    if (q.head > 4096 && q.head * 2 > q.ids.length) {
      q.ids = q.ids.slice(q.head);
      q.head = 0;
    }
    return q.head < q.ids.length ? (q.ids[q.head] as number) : Infinity;
  }

  private bucketSize(): number {
    return Number.isFinite(this.ratePerMs) ? Math.max(1, Math.min(this.batchSize, this.ratePerMs * 1000)) : Infinity;
  }

  private refill(now: number): void {
    if (!Number.isFinite(this.ratePerMs)) return;
    const elapsed = Math.max(0, now - this.refilledAt);
    this.refilledAt = now;
    this.tokens = Math.min(this.bucketSize(), this.tokens + elapsed * this.ratePerMs);
  }
}
