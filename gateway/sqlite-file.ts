/**
 * The SQLite files the gateway writes for durability (state and outbox, docs/operations.md) are opened the same
 * way: WAL with synchronous=NORMAL (a committed transaction survives kill -9; a power loss may lose the last
 * ones, never the file's consistency), a busy timeout, and an integrity check before anything is trusted.
 */
import Database from 'better-sqlite3';

/** Opens `file` with the durability settings; throws (the file closed) when the integrity check fails. */
export function openDurableDatabase(file: string): Database.Database {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 2000');
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new Error(`integrity check failed: ${String(check)}`);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
