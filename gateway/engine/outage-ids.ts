/**
 * Outage ids: `<siteId>-<yyyyMMddTHHmmssSSS>-<subject>`, the subject being the device that caused the
 * outage or its first customer. Derived only from the observation that started the outage, so replaying the
 * same observations yields the same ids. When an id was already handed out (two outages of the same
 * subject in the same millisecond) `-2`, `-3`... is appended, checking the suffixed id too, since a subject
 * may itself end in `-2`.
 */
export class OutageIds {
  /** Issued ids with the millisecond they stand for; pruned so a long-running gateway does not grow it forever. */
  private readonly issued = new Map<string, number>();
  private newestMs = Number.NEGATIVE_INFINITY;
  private pruneAbove: number;

  constructor(
    private readonly siteId: string,
    /** Ids older than this (relative to the newest one issued) are forgotten once the map is large. */
    private readonly retainMs: number = 3_600_000,
    pruneAbove: number = 4096,
  ) {
    this.pruneAbove = pruneAbove;
  }

  next(atMs: number, subject: string): string {
    const base = `${this.siteId}-${compactTime(atMs)}-${topicSafe(subject)}`;
    let id = base;
    for (let n = 2; this.issued.has(id); n++) id = `${base}-${n}`;
    this.issued.set(id, atMs);
    if (atMs > this.newestMs) this.newestMs = atMs;
    if (this.issued.size > this.pruneAbove) this.prune();
    return id;
  }

  /** Amortised O(1): when little can be forgotten, the next prune waits until the map has doubled. */
  private prune(): void {
    const horizon = this.newestMs - this.retainMs;
    for (const [id, ms] of this.issued) if (ms < horizon) this.issued.delete(id);
    this.pruneAbove = Math.max(this.pruneAbove, this.issued.size * 2);
  }
}

/**
 * An outage id is one MQTT topic level (`outages/<id>`): `/` would add a level, `+` and `#` are wildcards a
 * broker refuses in a published topic (it disconnects the client). Ids are checked by the config loader, but
 * an outage id must be safe whatever its subject.
 */
export function topicSafe(subject: string): string {
  return subject.replace(/[/+#\u0000]/g, '_');
}

/** `2024-05-01T08:00:00.000Z` -> `20240501T080000000` */
export function compactTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:.Z]/g, '');
}
