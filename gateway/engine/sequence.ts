/**
 * Hands out the site-wide event sequence: gap-free, strictly increasing, one per domain event.
 * Shared by every producer of domain events so consumers see one ordered stream.
 */
export class EventSequence {
  constructor(
    private readonly siteId: string,
    private nextSeq: number = 1,
  ) {}

  /** Returns the envelope fields of the next event. */
  next(): { id: string; seq: number; siteId: string } {
    const seq = this.nextSeq++;
    return { id: `${this.siteId}:${seq}`, seq, siteId: this.siteId };
  }

  /** The sequence number the next event will get (for persistence). */
  peek(): number {
    return this.nextSeq;
  }

  /**
   * Continues a stored sequence after a restart (before any event is stamped). Never goes back: a number
   * once handed out is not handed out again.
   */
  restore(nextSeq: number): void {
    if (!Number.isSafeInteger(nextSeq) || nextSeq < 1) throw new RangeError(`invalid stored next sequence number ${nextSeq}`);
    if (nextSeq > this.nextSeq) this.nextSeq = nextSeq;
  }
}
