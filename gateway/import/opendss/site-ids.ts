/**
 * Site ids made from OpenDSS names. Site ids end up in MQTT topic levels, so `/`, `+` and `#` (and white
 * space) are replaced by `_` (docs/config.md, "Ids and references"); a name that clashes after that, or with
 * an id already given, gets `-2`, `-3`... Every change is recorded for the report.
 */
export class IdAllocator {
  private readonly taken = new Set<string>();
  readonly renamed: Array<{ name: string; id: string }> = [];

  /** A unique id for `name`; `name` itself when it is a valid id not taken yet. */
  allocate(name: string): string {
    const clean = name.replace(/[/+#\s]/g, '_') || '_';
    let id = clean;
    for (let n = 2; this.taken.has(id); n++) id = `${clean}-${n}`;
    this.taken.add(id);
    if (id !== name) this.renamed.push({ name, id });
    return id;
  }

  /** Reserves an id that must stay as it is (e.g. a synthesized breaker's). */
  reserve(id: string): void {
    this.taken.add(id);
  }
}
