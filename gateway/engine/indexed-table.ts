/**
 * A map from the sections (or transformers) of the topology to values, held in an array indexed by each
 * element's dense index (`SectionInfo.index`), for state that is written and cleared on every switching
 * event (which outage a dark section is in, since when).
 *
 * Why not a `Map`: a Map that grows and shrinks replaces its hash table, and V8 keeps the replaced table,
 * with the values it held, as garbage in the old generation until the next full collection. Every young
 * object such a dead table points to survives the minor collections (it is reached through the old-to-new
 * remembered set) and is promoted. Measured on the 100,000-customer bench (docs/scale.md): with Maps, the
 * outage records and their 5,000-customer payloads of every breaker open/close survived this way, about
 * 120 kB a pair, and each minor GC copied ~3 MB (2-10 ms pauses, the p99 of the event path). An array
 * slot overwritten with `undefined` keeps nothing alive.
 *
 * Iteration is in index (configuration) order, not insertion order.
 */
export class IndexedTable<T> {
  private readonly values: Array<T | undefined>;
  private count = 0;

  constructor(
    /** The keys by index. */
    private readonly keys: readonly string[],
    private readonly indexOf: (key: string) => number | undefined,
  ) {
    this.values = new Array<T | undefined>(keys.length).fill(undefined);
  }

  get size(): number {
    return this.count;
  }

  get(key: string): T | undefined {
    const i = this.indexOf(key);
    return i === undefined ? undefined : this.values[i];
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Sets a value (not `undefined`) for a known key; unknown keys are ignored. */
  set(key: string, value: T): void {
    const i = this.indexOf(key);
    if (i === undefined) return;
    if (this.values[i] === undefined) this.count++;
    this.values[i] = value;
  }

  delete(key: string): boolean {
    const i = this.indexOf(key);
    if (i === undefined || this.values[i] === undefined) return false;
    this.values[i] = undefined;
    this.count--;
    return true;
  }

  clear(): void {
    if (this.count === 0) return;
    this.values.fill(undefined);
    this.count = 0;
  }

  *entries(): IterableIterator<[string, T]> {
    if (this.count === 0) return;
    for (let i = 0; i < this.values.length; i++) {
      const value = this.values[i];
      if (value !== undefined) yield [this.keys[i]!, value];
    }
  }

  [Symbol.iterator](): IterableIterator<[string, T]> {
    return this.entries();
  }
}
