/**
 * The stored interruption history: every finished outage (restored, or merged into another), kept for the
 * reliability report. The state database (runtime/state-store.ts) keeps only the engine state and the events
 * not yet delivered, so the history has its own SQLite file, `<stateDir>/reliability.db` (better-sqlite3,
 * WAL, synchronous=NORMAL like the state database).
 *
 * Rule of use: `record(events)` with every batch of domain events the engine emits (other events are
 * ignored); recording the same outage again replaces it (idempotent on replays).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { DomainEvent, Outage } from '../engine/events.js';

export const HISTORY_FILE = 'reliability.db';
const SCHEMA_VERSION = 1;

/** The finished outage an event carries, if it carries one. */
export function finishedOutageOf(event: DomainEvent): Outage | null {
  if (event.type === 'outage.restored') return event.outage;
  if (event.type === 'outage.updated' && event.outage.state === 'merged') return event.outage;
  return null;
}

export class InterruptionHistory {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly insertTx: (outages: readonly Outage[]) => void;

  /** Opens (or creates) `<stateDir>/reliability.db`. */
  static open(stateDir: string): InterruptionHistory {
    mkdirSync(stateDir, { recursive: true });
    return new InterruptionHistory(join(stateDir, HISTORY_FILE));
  }

  /** Opens an existing history without creating one; null when there is none. */
  static openReadOnly(stateDir: string): InterruptionHistory | null {
    try {
      return new InterruptionHistory(join(stateDir, HISTORY_FILE), true);
    } catch {
      return null;
    }
  }

  private constructor(file: string, readonly = false) {
    this.file = file;
    this.db = new Database(file, { readonly, fileMustExist: readonly });
    if (!readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      const version = this.db.pragma('user_version', { simple: true }) as number;
      if (version !== 0 && version !== SCHEMA_VERSION) throw new Error(`${file}: unknown reliability history schema ${version}`);
      this.db.exec(`CREATE TABLE IF NOT EXISTS interruption_history (
        outage_id TEXT PRIMARY KEY,
        site_id TEXT NOT NULL,
        started_at_ms INTEGER NOT NULL,
        restored_at_ms INTEGER NOT NULL,
        state TEXT NOT NULL,
        kind TEXT NOT NULL,
        outage TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS interruption_history_started ON interruption_history (started_at_ms);`);
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }
    const insert = readonly
      ? null
      : this.db.prepare(
          `INSERT OR REPLACE INTO interruption_history (outage_id, site_id, started_at_ms, restored_at_ms, state, kind, outage)
           VALUES (@id, @siteId, @startedAtMs, @restoredAtMs, @state, @kind, @json)`,
        );
    this.insertTx = this.db.transaction((outages: readonly Outage[]) => {
      if (insert === null) throw new Error(`${file}: opened read-only`);
      for (const o of outages) {
        insert.run({
          id: o.id,
          siteId: o.siteId,
          startedAtMs: Date.parse(o.startedAt),
          restoredAtMs: Date.parse(o.restoredAt as string),
          state: o.state,
          kind: o.kind,
          json: JSON.stringify(o),
        });
      }
    });
  }

  /** Stores the outages the events finish (outage.restored; outage.updated with state merged). Returns how many. */
  record(events: readonly DomainEvent[]): number {
    const finished = events.map(finishedOutageOf).filter((o): o is Outage => o !== null && o.restoredAt !== null);
    if (finished.length > 0) this.insertTx(finished);
    return finished.length;
  }

  /** Stores finished outages directly (imports, tests). */
  recordOutages(outages: readonly Outage[]): void {
    this.insertTx(outages.filter((o) => o.state !== 'active' && o.restoredAt !== null));
  }

  /**
   * The stored outages that started in [fromMs, toMs), in start order; without bounds, all. Give the report
   * some margin before the period start (a merge or a momentary window may cross it).
   */
  outages(range: { fromMs?: number; toMs?: number } = {}): Outage[] {
    const rows = this.db
      .prepare('SELECT outage FROM interruption_history WHERE started_at_ms >= ? AND started_at_ms < ? ORDER BY started_at_ms, outage_id')
      .all(range.fromMs ?? Number.MIN_SAFE_INTEGER, range.toMs ?? Number.MAX_SAFE_INTEGER) as Array<{ outage: string }>;
    return rows.map((r) => JSON.parse(r.outage) as Outage);
  }

  /** Forgets outages that started before `beforeMs` (keep at least 2 years for the year-on-year targets). */
  prune(beforeMs: number): number {
    return this.db.prepare('DELETE FROM interruption_history WHERE started_at_ms < ?').run(beforeMs).changes;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
