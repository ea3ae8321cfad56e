/**
 * What the gateway keeps across a restart, including a kill -9: the engine's state (active outages,
 * switch positions, self-healing in progress, planned outages), the next event sequence number, and the
 * durable outbox (docs/outbox.md): everything not yet delivered to each sink.
 *
 * One SQLite file (`<stateDir>/feederwatch-state.db`, better-sqlite3) in WAL mode with synchronous=NORMAL:
 * a committed transaction is in the WAL file when `save` returns, so it survives the death of the process
 * (kill -9, a crash, the OOM killer); only a power loss or kernel crash may lose the last transactions
 * (SQLite's own guarantee for WAL + NORMAL), and the database stays consistent even then.
 *
 * Rule of use: `save` (engine state + next seq + the batch's events appended to the outbox, ONE transaction)
 * before anything else sees the events, so no event ever goes out with a sequence number the store does not
 * know, and no stored sequence number lacks its event.
 *
 * A file that cannot be opened, fails SQLite's integrity check or has an unknown schema (its own or the
 * outbox's) is moved aside (`feederwatch-state.db.bad-<time>`) and the gateway starts fresh, saying so in the
 * log. An engine state of another format is set aside as JSON, while the sequence numbers continue.
 *
 * Schema history: version 1 kept undelivered events in `pending_events` (MQTT only); version 2 keeps them in
 * the outbox. A version-1 file is migrated when opened: its undelivered events are appended to the outbox for
 * every configured sink, in sequence order, and `pending_events` is dropped, in one transaction.
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { EngineState } from '../engine/engine-state.js';
import type { DomainEvent } from '../engine/events.js';
import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import { Outbox, type OutboxInput } from '../publish/outbox.js';
import { openDurableDatabase } from '../sqlite-file.js';

export const STATE_FILE = 'feederwatch-state.db';
/** Version of the table layout (SQLite `user_version`); another value is an incompatible file. */
const SCHEMA_VERSION = 2;
/** The EngineState format this gateway reads. */
const ENGINE_FORMAT = 1;

export interface StoredState {
  /** null when none was stored yet or the stored one was unusable (then set aside). */
  engine: EngineState | null;
  /** The sequence number the next event must get. */
  nextSeq: number;
  /** When the state was last saved (ISO time). */
  savedAt: string;
}

export interface StateStoreOptions {
  logger: Logger;
  /** Time source for file names and `savedAt` (tests). */
  now?: () => number;
  /** The outbox in the same file: its bounds, clock and the sinks configured now. */
  outbox?: {
    sinks: readonly string[];
    /** Kinds each sink carries (for its `buffered` counter). */
    sinkKinds?: Readonly<Record<string, readonly string[]>>;
    maxBytes?: number;
    maxAgeMs?: number;
    clock?: Clock;
  };
}

/** The outbox item of a domain event (kind `event`, key the event type). */
export function eventItem(event: DomainEvent): OutboxInput {
  return { kind: 'event', key: event.type, payload: JSON.stringify(event), ts: Date.parse(event.ts) || 0 };
}

interface StateRow {
  engine: string | null;
  next_seq: number;
  saved_at: string;
}

export class StateStore {
  readonly file: string;
  /** The durable outbox, in this file (docs/outbox.md). */
  readonly outbox: Outbox;
  private readonly db: Database.Database;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly saveTx: (engine: EngineState | null, nextSeq: number, items: readonly OutboxInput[]) => void;
  private closed = false;

  /** Opens (or creates) the store in `stateDir`; a broken file is set aside and a fresh one created. */
  static open(stateDir: string, opts: StateStoreOptions): StateStore {
    return new StateStore(stateDir, opts);
  }

  private constructor(
    readonly stateDir: string,
    private readonly opts: StateStoreOptions,
  ) {
    this.log = opts.logger.child({ module: 'state' });
    this.now = opts.now ?? Date.now;
    mkdirSync(stateDir, { recursive: true });
    this.file = join(stateDir, STATE_FILE);
    const { db, outbox } = this.openOrSetAside();
    this.db = db;
    this.outbox = outbox;

    const upsert = this.db.prepare(
      `INSERT INTO state (id, engine, next_seq, saved_at) VALUES (1, @engine, @nextSeq, @savedAt)
       ON CONFLICT(id) DO UPDATE SET engine = COALESCE(@engine, engine), next_seq = @nextSeq, saved_at = @savedAt`,
    );
    this.saveTx = this.db.transaction((engine: EngineState | null, nextSeq: number, items: readonly OutboxInput[]) => {
      upsert.run({ engine: engine === null ? null : JSON.stringify(engine), nextSeq, savedAt: new Date(this.now()).toISOString() });
      if (items.length > 0) this.outbox.append(items);
    });
  }

  /** What was stored, or null for a new (or freshly replaced) store. */
  load(): StoredState | null {
    const row = this.db.prepare('SELECT engine, next_seq, saved_at FROM state WHERE id = 1').get() as StateRow | undefined;
    if (row === undefined) return null;
    return { engine: this.parseEngine(row.engine), nextSeq: row.next_seq, savedAt: row.saved_at };
  }

  /**
   * Stores the engine state (null: keep the stored one), the next sequence number and appends the batch's
   * outbox items (the events just stamped), in one transaction. Call it before anything sees those events.
   */
  save(engine: EngineState | null, nextSeq: number, items: readonly OutboxInput[] = []): void {
    try {
      this.saveTx(engine, nextSeq, items);
    } catch (err) {
      // The outbox's in-memory mirror may have run ahead of the rolled-back transaction.
      this.outbox.reload();
      throw err;
    }
  }

  /** Keeps a rejected engine state next to the database (for a post-mortem) and forgets it. */
  setAsideEngineState(engineJson: string, reason: string): string {
    const aside = join(this.stateDir, `engine-state.rejected-${stamp(this.now())}.json`);
    writeFileSync(aside, engineJson);
    this.db.prepare('UPDATE state SET engine = NULL WHERE id = 1').run();
    this.log.error('stored engine state rejected; the engine starts fresh, sequence numbers continue', { reason, keptAs: aside });
    return aside;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.outbox.close();
    this.db.close();
  }

  private parseEngine(json: string | null): EngineState | null {
    if (json === null) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (err) {
      this.setAsideEngineState(json, `not JSON: ${String(err)}`);
      return null;
    }
    const format = typeof parsed === 'object' && parsed !== null ? (parsed as { format?: unknown }).format : undefined;
    if (format !== ENGINE_FORMAT) {
      this.setAsideEngineState(json, `engine state format ${JSON.stringify(format)}, this version reads ${ENGINE_FORMAT}`);
      return null;
    }
    return parsed as EngineState;
  }

  /** Opens the file and checks it; on any failure moves it (with its WAL) aside and creates a fresh one. */
  private openOrSetAside(): { db: Database.Database; outbox: Outbox } {
    const existed = existsSync(this.file);
    try {
      return this.openChecked();
    } catch (err) {
      if (!existed) throw err;
      const aside = `${this.file}.bad-${stamp(this.now())}`;
      for (const suffix of ['', '-wal', '-shm']) {
        if (existsSync(this.file + suffix)) renameSync(this.file + suffix, aside + suffix);
      }
      this.log.error('state file unusable: kept aside, starting without stored state (outages, sequence numbers and undelivered items start fresh)', {
        file: this.file,
        keptAs: aside,
        err,
      });
      return this.openChecked();
    }
  }

  private openChecked(): { db: Database.Database; outbox: Outbox } {
    const db = openDurableDatabase(this.file);
    try {
      const version = db.pragma('user_version', { simple: true });
      if (version === 0) {
        const tables = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number };
        if (tables.n > 0) throw new Error('not a feederwatch state file (tables without a schema version)');
        db.exec(`
          CREATE TABLE state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            engine TEXT,
            next_seq INTEGER NOT NULL,
            saved_at TEXT NOT NULL
          );
        `);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      } else if (version !== 1 && version !== SCHEMA_VERSION) {
        throw new Error(`state file schema version ${String(version)}, this version reads 1 and ${SCHEMA_VERSION}`);
      }
      // Outbox tables of another version (OutboxSchemaError) make the file unusable like any other mismatch.
      const outbox = Outbox.onDatabase(db, {
        logger: this.opts.logger,
        clock: this.opts.outbox?.clock,
        maxBytes: this.opts.outbox?.maxBytes,
        maxAgeMs: this.opts.outbox?.maxAgeMs,
      });
      const sinks = this.opts.outbox?.sinks ?? [];
      for (const sink of sinks) outbox.registerSink(sink, { kinds: this.opts.outbox?.sinkKinds?.[sink] });
      // A sink no longer configured would hold every item until the bounds drop it.
      for (const sink of outbox.sinks()) if (!sinks.includes(sink)) outbox.unregisterSink(sink);
      if (version === 1) this.migrateFromVersion1(db, outbox);
      return { db, outbox };
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Version 1 -> 2: undelivered events move from `pending_events` to the outbox, in one transaction. */
  private migrateFromVersion1(db: Database.Database, outbox: Outbox): void {
    let moved = 0;
    db.transaction(() => {
      const lastPublished = (db.prepare('SELECT last_published_seq FROM state WHERE id = 1').pluck().get() as number | undefined) ?? 0;
      const items: OutboxInput[] = [];
      for (const r of db.prepare('SELECT seq, event FROM pending_events WHERE seq > ? ORDER BY seq').all(lastPublished) as Array<{ seq: number; event: string }>) {
        try {
          items.push(eventItem(JSON.parse(r.event) as DomainEvent));
        } catch (err) {
          this.log.error('stored event unreadable; dropped during migration', { seq: r.seq, err });
        }
      }
      outbox.append(items);
      moved = items.length;
      db.exec('DROP TABLE pending_events; ALTER TABLE state DROP COLUMN last_published_seq;');
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
    outbox.reload();
    this.log.info('state file migrated to schema version 2: undelivered events moved to the outbox', { events: moved });
  }
}

/** `2024-05-01T08:00:00.000Z` -> `20240501T080000000Z` (file-name safe). */
function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:.]/g, '');
}
