/**
 * What the gateway keeps across a restart, including a kill -9: the engine's state (active outages,
 * switch positions, self-healing in progress, planned outages), the next event sequence number, and the
 * events handed to the publishers but not yet confirmed delivered (so a kill between storing and
 * delivering loses nothing: they are sent again at start).
 *
 * One SQLite file (`<stateDir>/feederwatch-state.db`, better-sqlite3) in WAL mode with synchronous=NORMAL:
 * a committed transaction is in the WAL file when `save` returns, so it survives the death of the process
 * (kill -9, a crash, the OOM killer); only a power loss or kernel crash may lose the last transactions
 * (SQLite's own guarantee for WAL + NORMAL), and the database stays consistent even then.
 *
 * Rule of use: `save` (engine state + next seq + the batch's events, one transaction) BEFORE the events are
 * published, so no event ever goes out with a sequence number the store does not know.
 *
 * A file that cannot be opened, fails SQLite's integrity check or has an unknown schema is moved aside
 * (`feederwatch-state.db.bad-<time>`) and the gateway starts fresh, saying so in the log. An engine state of
 * another format is set aside as JSON, while the sequence numbers continue.
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { EngineState } from '../engine/engine-state.js';
import type { DomainEvent } from '../engine/events.js';
import type { Logger } from '../log.js';

export const STATE_FILE = 'feederwatch-state.db';
/** Version of the table layout (SQLite `user_version`); another value is an incompatible file. */
const SCHEMA_VERSION = 1;
/** The EngineState format this gateway reads. */
const ENGINE_FORMAT = 1;

export interface StoredState {
  /** null when none was stored yet or the stored one was unusable (then set aside). */
  engine: EngineState | null;
  /** The sequence number the next event must get. */
  nextSeq: number;
  /** Highest sequence number confirmed delivered (0: none). */
  lastPublishedSeq: number;
  /** Events stored but not confirmed delivered, in sequence order: publish them again at start. */
  pendingEvents: DomainEvent[];
  /** When the state was last saved (ISO time). */
  savedAt: string;
}

export interface StateStoreOptions {
  logger: Logger;
  /** Time source for file names and `savedAt` (tests). */
  now?: () => number;
}

interface StateRow {
  engine: string | null;
  next_seq: number;
  last_published_seq: number;
  saved_at: string;
}

export class StateStore {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly saveTx: (engine: EngineState | null, nextSeq: number, events: readonly DomainEvent[]) => void;
  private readonly publishedTx: (seq: number) => void;
  private closed = false;

  /** Opens (or creates) the store in `stateDir`; a broken file is set aside and a fresh one created. */
  static open(stateDir: string, opts: StateStoreOptions): StateStore {
    return new StateStore(stateDir, opts);
  }

  private constructor(
    readonly stateDir: string,
    opts: StateStoreOptions,
  ) {
    this.log = opts.logger.child({ module: 'state' });
    this.now = opts.now ?? Date.now;
    mkdirSync(stateDir, { recursive: true });
    this.file = join(stateDir, STATE_FILE);
    this.db = this.openOrSetAside();

    const upsert = this.db.prepare(
      `INSERT INTO state (id, engine, next_seq, last_published_seq, saved_at) VALUES (1, @engine, @nextSeq, 0, @savedAt)
       ON CONFLICT(id) DO UPDATE SET engine = COALESCE(@engine, engine), next_seq = @nextSeq, saved_at = @savedAt`,
    );
    const insertEvent = this.db.prepare('INSERT OR REPLACE INTO pending_events (seq, event) VALUES (?, ?)');
    this.saveTx = this.db.transaction((engine: EngineState | null, nextSeq: number, events: readonly DomainEvent[]) => {
      upsert.run({ engine: engine === null ? null : JSON.stringify(engine), nextSeq, savedAt: new Date(this.now()).toISOString() });
      for (const event of events) insertEvent.run(event.seq, JSON.stringify(event));
    });
    const markPublished = this.db.prepare('UPDATE state SET last_published_seq = MAX(last_published_seq, ?) WHERE id = 1');
    const deleteDelivered = this.db.prepare('DELETE FROM pending_events WHERE seq <= ?');
    this.publishedTx = this.db.transaction((seq: number) => {
      markPublished.run(seq);
      deleteDelivered.run(seq);
    });
  }

  /** What was stored, or null for a new (or freshly replaced) store. */
  load(): StoredState | null {
    const row = this.db.prepare('SELECT engine, next_seq, last_published_seq, saved_at FROM state WHERE id = 1').get() as StateRow | undefined;
    if (row === undefined) return null;
    const pendingEvents: DomainEvent[] = [];
    for (const r of this.db.prepare('SELECT seq, event FROM pending_events ORDER BY seq').all() as Array<{ seq: number; event: string }>) {
      try {
        pendingEvents.push(JSON.parse(r.event) as DomainEvent);
      } catch (err) {
        this.log.error('stored event unreadable; dropped', { seq: r.seq, err });
      }
    }
    return {
      engine: this.parseEngine(row.engine),
      nextSeq: row.next_seq,
      lastPublishedSeq: row.last_published_seq,
      pendingEvents,
      savedAt: row.saved_at,
    };
  }

  /**
   * Stores the engine state (null: keep the stored one), the next sequence number and the events just
   * stamped, in one transaction. Call it before publishing those events.
   */
  save(engine: EngineState | null, nextSeq: number, events: readonly DomainEvent[] = []): void {
    this.saveTx(engine, nextSeq, events);
  }

  /** Every event up to `seq` was delivered: it is no longer sent again at start. */
  markPublished(seq: number): void {
    if (this.closed) return;
    this.publishedTx(seq);
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
  private openOrSetAside(): Database.Database {
    const existed = existsSync(this.file);
    try {
      return this.openChecked();
    } catch (err) {
      if (!existed) throw err;
      const aside = `${this.file}.bad-${stamp(this.now())}`;
      for (const suffix of ['', '-wal', '-shm']) {
        if (existsSync(this.file + suffix)) renameSync(this.file + suffix, aside + suffix);
      }
      this.log.error('state file unusable: kept aside, starting without stored state (outages and sequence numbers start fresh)', {
        file: this.file,
        keptAs: aside,
        err,
      });
      return this.openChecked();
    }
  }

  private openChecked(): Database.Database {
    const db = new Database(this.file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 2000');
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`integrity check failed: ${String(check)}`);
      const version = db.pragma('user_version', { simple: true });
      if (version === 0) {
        const tables = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number };
        if (tables.n > 0) throw new Error('not a feederwatch state file (tables without a schema version)');
        db.exec(`
          CREATE TABLE state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            engine TEXT,
            next_seq INTEGER NOT NULL,
            last_published_seq INTEGER NOT NULL,
            saved_at TEXT NOT NULL
          );
          CREATE TABLE pending_events (seq INTEGER PRIMARY KEY, event TEXT NOT NULL);
        `);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      } else if (version !== SCHEMA_VERSION) {
        throw new Error(`state file schema version ${String(version)}, this version reads ${SCHEMA_VERSION}`);
      }
      return db;
    } catch (err) {
      db.close();
      throw err;
    }
  }
}

/** `2024-05-01T08:00:00.000Z` -> `20240501T080000000Z` (file-name safe). */
function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:.]/g, '');
}
