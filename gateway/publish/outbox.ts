/**
 * The durable outbox: store-and-forward on disk for the northbound sinks (MQTT, InfluxDB), docs/outbox.md.
 *
 * Everything to deliver is appended once (`append`, one transaction per batch) and gets an id that only ever
 * grows (SQLite AUTOINCREMENT: never reused, even after every item was deleted). Each sink has its own durable
 * cursor, the highest id it acknowledged; `next(sink)` reads after that cursor in id order, so a sink that is
 * down only holds back itself. An item is deleted once every registered sink acknowledged it.
 *
 * Acknowledgements are cumulative: `ack(sink, uptoId)` means "everything up to uptoId is delivered". The cursor
 * is monotonic (a lower id is ignored, a higher id than was ever appended is clamped). Acks that arrive out of
 * order (several QoS 1 messages in flight) are turned into a contiguous watermark by the caller: the
 * ReplayScheduler (replay-scheduler.ts) does exactly that.
 *
 * Bounds: `maxBytes` (logical size: UTF-8 bytes of kind + key + payload of the stored items) is enforced on
 * every append by deleting the oldest items (id order); `maxAgeMs` (time since the item was appended, by the
 * injected clock) on every append and by `prune()`, which the owner calls periodically. Each item dropped that
 * a sink had not acknowledged counts as dropped for that sink, with its reason (bytes or age). Per sink the
 * counters are: buffered (items after its cursor, still stored), replayed (caller-reported: historical items
 * acknowledged) and dropped.bytes / dropped.age. Counters are stored with the cursors, so they survive a restart.
 *
 * Durability: WAL with synchronous=NORMAL, like the state store: a committed append is in the WAL in the OS
 * cache when `append` returns and survives kill -9 of the process; a power loss may lose the last
 * transactions, never the consistency of the file.
 *
 * Two ways to open it:
 * - `Outbox.open(file, opts)`: its own file; a file that cannot be opened, fails `quick_check`, is not an
 *   outbox or has an unknown outbox schema is renamed `<file>.bad-<time>` (with -wal/-shm), an error is
 *   logged and a fresh outbox starts.
 * - `Outbox.onDatabase(db, opts)`: its tables (`outbox_*`) inside a database the caller owns (the state
 *   store's file), so that "save the engine state + next seq" and "append the batch's events" commit in ONE
 *   transaction: better-sqlite3 nests `append` inside the caller's `db.transaction(...)` as a savepoint.
 *   Unknown outbox tables throw `OutboxSchemaError`; setting the file aside is then the owner's call.
 */
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { systemClock, type Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { openDurableDatabase } from '../sqlite-file.js';

export const OUTBOX_FILE = 'feederwatch-outbox.db';
/** Version of the outbox tables, kept in `outbox_meta` (not `user_version`, which belongs to the file's owner). */
export const OUTBOX_SCHEMA_VERSION = 1;

export interface OutboxInput {
  /** What the item is (`event`, `reading`, `feederState`, ...); sinks pick by kind. */
  kind: string;
  /** Optional routing or coalescing key (MQTT topic, device id, ...). */
  key?: string;
  /** The serialized item (JSON, line protocol, ...). */
  payload: string;
  /** The item's own time (ms since the epoch), e.g. the event's `ts`; not used by the bounds. */
  ts: number;
}

export interface OutboxItem {
  id: number;
  kind: string;
  key: string | null;
  payload: string;
  ts: number;
  /** When it was appended (injected clock, ms); `maxAgeMs` is measured from here. */
  appendedAt: number;
}

export type DropReason = 'bytes' | 'age';

export interface SinkStats {
  /** Highest id acknowledged. */
  cursor: number;
  /** Items after the cursor still stored (not yet acknowledged), of the kinds the sink carries. */
  buffered: number;
  /** Historical items acknowledged (reported by the caller with `ack`). */
  replayed: number;
  /** Items (of the kinds it carries) this sink had not acknowledged when a bound removed them. */
  dropped: Record<DropReason, number>;
}

export interface OutboxStats {
  items: number;
  /** Logical bytes stored (what `maxBytes` bounds). */
  bytes: number;
  /** Highest id ever handed out (0: none). */
  lastId: number;
  oldestAppendedAt: number | null;
  maxBytes: number;
  maxAgeMs: number;
  sinks: Record<string, SinkStats>;
}

export interface OutboxOptions {
  logger: Logger;
  clock?: Clock;
  /** Bound on the logical bytes stored; the oldest items go first. Default 256 MiB. */
  maxBytes?: number;
  /** Bound on the time an item may wait (since append). Default 7 days. */
  maxAgeMs?: number;
}

export interface RegisterSinkOptions {
  /**
   * Where a sink that is new to this outbox starts: `next` (default) receives what is appended from now on;
   * `oldest` also receives every item still stored. A sink already registered keeps its cursor.
   */
  from?: 'next' | 'oldest';
  /**
   * The kinds this sink carries: its `buffered` counter counts only those (the sender acknowledges the others
   * for it without delivering them). Not stored: given again at every registration. Absent: every kind.
   */
  kinds?: readonly string[];
}

export interface NextOptions {
  /** Read after this id instead of the sink's cursor (the caller's read position while items are in flight). */
  after?: number;
  /** Read no item above this id. */
  upTo?: number;
}

export interface AckOptions {
  /** How many of the acknowledged items were delivered as historical (replayed); added to the counter. */
  replayed?: number;
}

export class OutboxSchemaError extends Error {
  override readonly name = 'OutboxSchemaError';
}

const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
const DEFAULT_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
/** At most one drop warning per reason in this period (the counters hold the exact figures). */
const DROP_LOG_PERIOD_MS = 60_000;

interface SinkRow {
  name: string;
  cursor: number;
  replayed: number;
  dropped_bytes: number;
  dropped_age: number;
}

interface ItemRow {
  id: number;
  kind: string;
  key: string | null;
  payload: string;
  ts: number;
  at: number;
}

export class Outbox {
  readonly file: string | null;
  readonly maxBytes: number;
  readonly maxAgeMs: number;
  private readonly db: Database.Database;
  private readonly ownsDb: boolean;
  private readonly log: Logger;
  private readonly clock: Clock;
  /** Durable cursors, mirrored in memory. */
  private readonly cursors = new Map<string, number>();
  /** Kinds carried per sink (JSON array, for the `buffered` count). */
  private readonly sinkKinds = new Map<string, string>();
  private count = 0;
  private bytes = 0;
  private lastId = 0;
  private readonly lastDropLog: Record<DropReason, number> = { bytes: -Infinity, age: -Infinity };
  private closed = false;

  private readonly stmt: {
    insert: Database.Statement;
    next: Database.Statement;
    setCursor: Database.Statement;
    addReplayed: Database.Statement;
    addDropped: Record<DropReason, Database.Statement>;
    countBetween: Database.Statement;
    countKindsAfter: Database.Statement;
    countKindsBetween: Database.Statement;
    countKindsOlderAfter: Database.Statement;
    sumUpTo: Database.Statement;
    deleteUpTo: Database.Statement;
    oldestAt: Database.Statement;
    oldestIds: Database.Statement;
    sumOlder: Database.Statement;
    countOlderAfter: Database.Statement;
    deleteOlder: Database.Statement;
  };
  private readonly appendTx: (items: readonly OutboxInput[]) => number[];
  private readonly ackTx: (sink: string, upTo: number, replayed: number) => void;
  private readonly pruneAgeTx: () => number;

  /** Opens (or creates) an outbox in its own file; an unusable file is set aside and a fresh one created. */
  static open(file: string, opts: OutboxOptions): Outbox {
    const log = opts.logger.child({ module: 'outbox' });
    const now = (opts.clock ?? systemClock).now();
    mkdirSync(dirname(file), { recursive: true });
    const existed = existsSync(file);
    let db: Database.Database;
    try {
      db = openOwnFile(file);
    } catch (err) {
      if (!existed) throw err;
      const aside = `${file}.bad-${stamp(now)}`;
      for (const suffix of ['', '-wal', '-shm']) {
        if (existsSync(file + suffix)) renameSync(file + suffix, aside + suffix);
      }
      log.error('outbox file unusable: kept aside, starting with an empty outbox (undelivered items in it are not sent)', {
        file,
        keptAs: aside,
        err,
      });
      db = openOwnFile(file);
    }
    return new Outbox(db, true, file, opts);
  }

  /**
   * The outbox's tables inside a database the caller owns (and closes): appends can then join the caller's
   * transactions. Throws OutboxSchemaError on outbox tables of another version.
   */
  static onDatabase(db: Database.Database, opts: OutboxOptions): Outbox {
    ensureSchema(db);
    return new Outbox(db, false, null, opts);
  }

  private constructor(db: Database.Database, ownsDb: boolean, file: string | null, opts: OutboxOptions) {
    this.db = db;
    this.ownsDb = ownsDb;
    this.file = file;
    this.log = opts.logger.child({ module: 'outbox' });
    this.clock = opts.clock ?? systemClock;
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.maxAgeMs = opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    if (!(this.maxBytes > 0) || !(this.maxAgeMs > 0)) throw new RangeError('maxBytes and maxAgeMs must be positive');

    this.stmt = {
      insert: db.prepare('INSERT INTO outbox_items (kind, key, payload, ts, at, bytes) VALUES (?, ?, ?, ?, ?, ?)'),
      next: db.prepare('SELECT id, kind, key, payload, ts, at FROM outbox_items WHERE id > ? AND id <= ? ORDER BY id LIMIT ?'),
      setCursor: db.prepare('UPDATE outbox_sinks SET cursor = ? WHERE name = ?'),
      addReplayed: db.prepare('UPDATE outbox_sinks SET replayed = replayed + ? WHERE name = ?'),
      addDropped: {
        bytes: db.prepare('UPDATE outbox_sinks SET dropped_bytes = dropped_bytes + ? WHERE name = ?'),
        age: db.prepare('UPDATE outbox_sinks SET dropped_age = dropped_age + ? WHERE name = ?'),
      },
      countBetween: db.prepare('SELECT count(*) AS n FROM outbox_items WHERE id > ? AND id <= ?').pluck(),
      countKindsAfter: db.prepare('SELECT count(*) AS n FROM outbox_items WHERE id > ? AND kind IN (SELECT value FROM json_each(?))').pluck(),
      sumUpTo: db.prepare('SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM outbox_items WHERE id <= ?'),
      deleteUpTo: db.prepare('DELETE FROM outbox_items WHERE id <= ?'),
      oldestAt: db.prepare('SELECT min(at) FROM outbox_items').pluck(),
      oldestIds: db.prepare('SELECT id, bytes FROM outbox_items ORDER BY id'),
      sumOlder: db.prepare('SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM outbox_items WHERE at < ?'),
      countOlderAfter: db.prepare('SELECT count(*) FROM outbox_items WHERE at < ? AND id > ?').pluck(),
      countKindsBetween: db.prepare('SELECT count(*) FROM outbox_items WHERE id > ? AND id <= ? AND kind IN (SELECT value FROM json_each(?))').pluck(),
      countKindsOlderAfter: db.prepare('SELECT count(*) FROM outbox_items WHERE at < ? AND id > ? AND kind IN (SELECT value FROM json_each(?))').pluck(),
      deleteOlder: db.prepare('DELETE FROM outbox_items WHERE at < ?'),
    };

    this.reload();

    this.appendTx = db.transaction((items: readonly OutboxInput[]) => {
      this.pruneAge();
      const at = this.clock.now();
      const ids: number[] = [];
      for (const item of items) {
        const size = itemBytes(item);
        const info = this.stmt.insert.run(item.kind, item.key ?? null, item.payload, item.ts, at, size);
        const id = Number(info.lastInsertRowid);
        ids.push(id);
        this.lastId = id;
        this.count += 1;
        this.bytes += size;
      }
      this.pruneBytes();
      return ids;
    });
    this.ackTx = db.transaction((sink: string, upTo: number, replayed: number) => {
      if (upTo > (this.cursors.get(sink) ?? 0)) {
        this.stmt.setCursor.run(upTo, sink);
        this.cursors.set(sink, upTo);
      }
      if (replayed > 0) this.stmt.addReplayed.run(replayed, sink);
      this.collect();
    });
    this.pruneAgeTx = db.transaction(() => this.pruneAge());
  }

  /**
   * Stores the items in one transaction and returns their ids (ascending, in the given order). Bounds are
   * applied in the same transaction: a batch larger than `maxBytes` drops its own oldest items.
   * Inside a caller's transaction (onDatabase) that later rolls back, call `reload()`.
   */
  append(items: ReadonlyArray<OutboxInput>): number[] {
    this.assertOpen();
    if (items.length === 0) return [];
    try {
      return this.appendTx(items);
    } catch (err) {
      this.reload();
      throw err;
    }
  }

  /** Adds a sink (see RegisterSinkOptions.from); a known sink keeps its cursor and counters. */
  registerSink(name: string, opts: RegisterSinkOptions = {}): void {
    this.assertOpen();
    if (opts.kinds !== undefined) this.sinkKinds.set(name, JSON.stringify(opts.kinds));
    else this.sinkKinds.delete(name);
    if (this.cursors.has(name)) return;
    const cursor = opts.from === 'oldest' ? 0 : this.lastId;
    this.db.prepare('INSERT INTO outbox_sinks (name, cursor, replayed, dropped_bytes, dropped_age) VALUES (?, ?, 0, 0, 0)').run(name, cursor);
    this.cursors.set(name, cursor);
  }

  /** Removes a sink no longer configured (it would hold every item until the bounds drop it). */
  unregisterSink(name: string): void {
    this.assertOpen();
    if (!this.cursors.has(name)) return;
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM outbox_sinks WHERE name = ?').run(name);
      this.cursors.delete(name);
      this.sinkKinds.delete(name);
      this.collect();
    })();
  }

  sinks(): string[] {
    return [...this.cursors.keys()];
  }

  /** The sink's durable cursor: the highest id it acknowledged. */
  cursor(sink: string): number {
    return this.requireSink(sink);
  }

  /** Highest id ever handed out by `append` (0: none). */
  get newestId(): number {
    return this.lastId;
  }

  /**
   * Up to `limit` items for `sink` in id order, after its cursor (or `opts.after`) and up to `opts.upTo`.
   * Items removed by a bound are simply not there: ids may have gaps.
   */
  next(sink: string, limit: number, opts: NextOptions = {}): OutboxItem[] {
    this.assertOpen();
    const after = opts.after ?? this.requireSink(sink);
    const upTo = opts.upTo ?? this.lastId;
    if (limit <= 0 || upTo <= after) return [];
    return (this.stmt.next.all(after, upTo, Math.floor(limit)) as ItemRow[]).map((r) => ({
      id: r.id,
      kind: r.kind,
      key: r.key,
      payload: r.payload,
      ts: r.ts,
      appendedAt: r.at,
    }));
  }

  /**
   * Everything up to `uptoId` is delivered to `sink`: its cursor moves there (never back; clamped to the
   * newest id), items every sink acknowledged are deleted. Cumulative: acks must be contiguous (see the
   * ReplayScheduler for acks that arrive out of order).
   */
  ack(sink: string, uptoId: number, opts: AckOptions = {}): void {
    this.assertOpen();
    this.requireSink(sink);
    this.ackTx(sink, Math.min(Math.floor(uptoId), this.lastId), Math.max(0, Math.floor(opts.replayed ?? 0)));
  }

  /** Applies the age bound now (call it periodically: appends apply it too, but a quiet gateway appends rarely). */
  prune(): number {
    this.assertOpen();
    return this.pruneAgeTx();
  }

  stats(): OutboxStats {
    this.assertOpen();
    const sinks: Record<string, SinkStats> = {};
    for (const row of this.db.prepare('SELECT name, cursor, replayed, dropped_bytes, dropped_age FROM outbox_sinks ORDER BY name').all() as SinkRow[]) {
      sinks[row.name] = {
        cursor: row.cursor,
        buffered: (this.sinkKinds.has(row.name)
          ? this.stmt.countKindsAfter.get(row.cursor, this.sinkKinds.get(row.name))
          : this.stmt.countBetween.get(row.cursor, Number.MAX_SAFE_INTEGER)) as number,
        replayed: row.replayed,
        dropped: { bytes: row.dropped_bytes, age: row.dropped_age },
      };
    }
    return {
      items: this.count,
      bytes: this.bytes,
      lastId: this.lastId,
      oldestAppendedAt: (this.stmt.oldestAt.get() as number | null) ?? null,
      maxBytes: this.maxBytes,
      maxAgeMs: this.maxAgeMs,
      sinks,
    };
  }

  /** Closes the file when the outbox owns it (onDatabase: the owner closes). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsDb) this.db.close();
  }

  /** Deletes the items every registered sink acknowledged (nothing without sinks). */
  private collect(): void {
    if (this.cursors.size === 0 || this.count === 0) return;
    const min = Math.min(...this.cursors.values());
    const gone = this.stmt.sumUpTo.get(min) as { n: number; b: number };
    if (gone.n === 0) return;
    this.stmt.deleteUpTo.run(min);
    this.count -= gone.n;
    this.bytes -= gone.b;
  }

  /** Drops the oldest items (id order) until the stored bytes fit `maxBytes`. */
  private pruneBytes(): void {
    if (this.bytes <= this.maxBytes) return;
    const excess = this.bytes - this.maxBytes;
    let freed = 0;
    let cut = 0;
    for (const row of this.stmt.oldestIds.iterate() as IterableIterator<{ id: number; bytes: number }>) {
      freed += row.bytes;
      cut = row.id;
      if (freed >= excess) break;
    }
    this.dropUpTo(cut, 'bytes');
  }

  private dropUpTo(cut: number, reason: DropReason): void {
    const perSink = new Map<string, number>();
    for (const [sink, cursor] of this.cursors) {
      const kinds = this.sinkKinds.get(sink);
      // Only what the sink carries counts as lost for it (the others it would have skipped anyway).
      const n = cursor >= cut ? 0 : ((kinds === undefined ? this.stmt.countBetween.get(cursor, cut) : this.stmt.countKindsBetween.get(cursor, cut, kinds)) as number);
      if (n > 0) perSink.set(sink, n);
    }
    const gone = this.stmt.sumUpTo.get(cut) as { n: number; b: number };
    this.stmt.deleteUpTo.run(cut);
    this.count -= gone.n;
    this.bytes -= gone.b;
    this.countDrops(reason, perSink, gone.n);
  }

  /** Drops the items appended more than `maxAgeMs` ago. */
  private pruneAge(): number {
    const oldest = this.stmt.oldestAt.get() as number | null;
    const cutoff = this.clock.now() - this.maxAgeMs;
    if (oldest === null || oldest >= cutoff) return 0;
    const perSink = new Map<string, number>();
    for (const [sink, cursor] of this.cursors) {
      const kinds = this.sinkKinds.get(sink);
      const n = (kinds === undefined ? this.stmt.countOlderAfter.get(cutoff, cursor) : this.stmt.countKindsOlderAfter.get(cutoff, cursor, kinds)) as number;
      if (n > 0) perSink.set(sink, n);
    }
    const gone = this.stmt.sumOlder.get(cutoff) as { n: number; b: number };
    this.stmt.deleteOlder.run(cutoff);
    this.count -= gone.n;
    this.bytes -= gone.b;
    this.countDrops('age', perSink, gone.n);
    return gone.n;
  }

  private countDrops(reason: DropReason, perSink: Map<string, number>, items: number): void {
    for (const [sink, n] of perSink) this.stmt.addDropped[reason].run(n, sink);
    if (perSink.size === 0) return;
    const now = this.clock.now();
    if (now - this.lastDropLog[reason] < DROP_LOG_PERIOD_MS) return;
    this.lastDropLog[reason] = now;
    this.log.warn(reason === 'bytes' ? 'outbox full: oldest undelivered items dropped' : 'outbox items too old: dropped undelivered', {
      reason,
      items,
      perSink: Object.fromEntries(perSink),
      maxBytes: this.maxBytes,
      maxAgeMs: this.maxAgeMs,
    });
  }

  /**
   * Re-reads cursors and totals from the database. Only needed with `onDatabase` when a caller's transaction
   * that contained an `append` or `ack` rolled back (the in-memory mirror then ran ahead of the file).
   */
  reload(): void {
    this.assertOpen();
    this.cursors.clear();
    for (const row of this.db.prepare('SELECT name, cursor FROM outbox_sinks').all() as Array<Pick<SinkRow, 'name' | 'cursor'>>) {
      this.cursors.set(row.name, row.cursor);
    }
    const totals = this.db.prepare('SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM outbox_items').get() as { n: number; b: number };
    this.count = totals.n;
    this.bytes = totals.b;
    const seq = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox_items'").pluck().get() as number | undefined;
    this.lastId = seq ?? 0;
  }

  private requireSink(sink: string): number {
    const cursor = this.cursors.get(sink);
    if (cursor === undefined) throw new Error(`outbox: unknown sink ${JSON.stringify(sink)} (registerSink first)`);
    return cursor;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('outbox is closed');
  }
}

/** Logical size of an item: what `maxBytes` bounds. */
export function itemBytes(item: OutboxInput): number {
  return Buffer.byteLength(item.kind) + (item.key === undefined ? 0 : Buffer.byteLength(item.key)) + Buffer.byteLength(item.payload);
}

function openOwnFile(file: string): Database.Database {
  const db = openDurableDatabase(file);
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    if (tables.length > 0 && !tables.includes('outbox_meta')) throw new OutboxSchemaError('not a feederwatch outbox file (tables without outbox_meta)');
    ensureSchema(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Creates the outbox tables when missing; throws OutboxSchemaError on another version. */
function ensureSchema(db: Database.Database): void {
  const hasMeta = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'outbox_meta'").pluck().get() as number;
  if (hasMeta > 0) {
    const version = db.prepare("SELECT v FROM outbox_meta WHERE k = 'schema'").pluck().get() as number | undefined;
    if (version !== OUTBOX_SCHEMA_VERSION) {
      throw new OutboxSchemaError(`outbox schema version ${String(version)}, this version reads ${OUTBOX_SCHEMA_VERSION}`);
    }
    return;
  }
  db.transaction(() => {
    db.exec(`
      CREATE TABLE outbox_meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
      CREATE TABLE outbox_items (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        key TEXT,
        payload TEXT NOT NULL,
        ts INTEGER NOT NULL,
        at INTEGER NOT NULL,
        bytes INTEGER NOT NULL
      );
      CREATE INDEX outbox_items_at ON outbox_items (at);
      CREATE TABLE outbox_sinks (
        name TEXT PRIMARY KEY,
        cursor INTEGER NOT NULL,
        replayed INTEGER NOT NULL,
        dropped_bytes INTEGER NOT NULL,
        dropped_age INTEGER NOT NULL
      );
    `);
    db.prepare("INSERT INTO outbox_meta (k, v) VALUES ('schema', ?)").run(OUTBOX_SCHEMA_VERSION);
  })();
}

/** `2024-05-01T08:00:00.000Z` -> `20240501T080000000Z` (file-name safe). */
function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:.]/g, '');
}
