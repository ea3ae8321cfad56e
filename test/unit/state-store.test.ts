import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import type { EngineState } from '../../gateway/engine/engine-state.js';
import type { DomainEvent } from '../../gateway/engine/events.js';
import { EventSequence } from '../../gateway/engine/sequence.js';
import { silentLogger, type Logger } from '../../gateway/log.js';
import { STATE_FILE, StateStore, eventItem } from '../../gateway/runtime/state-store.js';

const NOW = Date.parse('2024-05-01T08:00:00.000Z');

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'fw-state-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function engineState(switches: Record<string, 'open' | 'closed'> = { 'F1-R1': 'open' }): EngineState {
  return {
    format: 1,
    savedAtMs: NOW,
    switchPositions: switches,
    outages: { switching: [{ id: 'demo-20240501T080000000-F1-R1', startedAtMs: NOW }] },
    selfHealing: null,
    plannedOutages: [],
  };
}

function event(seq: number): DomainEvent {
  return {
    id: `demo:${seq}`,
    seq,
    siteId: 'demo',
    ts: new Date(NOW + seq).toISOString(),
    type: 'device.availability',
    deviceId: 'ftu-1',
    state: 'online',
    previousState: 'unknown',
    lastGoodAt: new Date(NOW).toISOString(),
    consecutiveErrors: 0,
    error: null,
  } as DomainEvent;
}

/** Collects error lines, to check that a broken file is reported. */
function recordingLogger(): { logger: Logger; errors: string[] } {
  const errors: string[] = [];
  const logger: Logger = {
    ...silentLogger,
    error: (msg: string) => {
      errors.push(msg);
    },
    child: () => logger,
  };
  return { logger, errors };
}

const SINKS = { sinks: ['mqtt', 'influx'] };

/** The seqs of the events the outbox holds for a sink, in delivery order. */
function outboxSeqs(store: StateStore, sink: string): number[] {
  return store.outbox.next(sink, 1000).map((item) => (JSON.parse(item.payload) as DomainEvent).seq);
}

t.test('a new store has no state; what is saved is loaded again after reopening, events in the outbox', async (t) => {
  const dir = tempDir(t);
  const store = StateStore.open(dir, { logger: silentLogger, now: () => NOW, outbox: SINKS });
  t.equal(store.file, join(dir, STATE_FILE));
  t.equal(store.load(), null, 'nothing stored yet');
  store.save(engineState(), 4, [event(1), event(2), event(3)].map(eventItem));
  store.close();

  const again = StateStore.open(dir, { logger: silentLogger, outbox: SINKS });
  const loaded = again.load();
  t.same(loaded?.engine, engineState());
  t.equal(loaded?.nextSeq, 4);
  t.equal(loaded?.savedAt, new Date(NOW).toISOString());
  t.same(outboxSeqs(again, 'mqtt'), [1, 2, 3], 'undelivered events kept in order for MQTT');
  t.same(outboxSeqs(again, 'influx'), [1, 2, 3], 'and for InfluxDB');
  again.close();
});

t.test('delivered events are forgotten per sink; a null engine state keeps the stored one', async (t) => {
  const dir = tempDir(t);
  const store = StateStore.open(dir, { logger: silentLogger, outbox: SINKS });
  const ids = [event(1), event(2)].map(eventItem);
  store.save(engineState(), 3, ids);
  store.outbox.ack('mqtt', store.outbox.newestId - 1);
  store.save(null, 4, [eventItem(event(3))]);
  const loaded = store.load();
  t.same(loaded?.engine, engineState(), 'engine state kept');
  t.equal(loaded?.nextSeq, 4);
  t.same(outboxSeqs(store, 'mqtt'), [2, 3], 'MQTT confirmed event 1');
  t.same(outboxSeqs(store, 'influx'), [1, 2, 3], 'InfluxDB confirmed nothing: its cursor is its own');
  store.close();
  const again = StateStore.open(dir, { logger: silentLogger, outbox: SINKS });
  t.same(outboxSeqs(again, 'mqtt'), [2, 3], 'cursors survive a restart');
  again.close();
});

t.test('a sink no longer configured is removed; a new one starts with what comes next', async (t) => {
  const dir = tempDir(t);
  const store = StateStore.open(dir, { logger: silentLogger, outbox: SINKS });
  store.save(engineState(), 3, [event(1), event(2)].map(eventItem));
  store.close();
  const again = StateStore.open(dir, { logger: silentLogger, outbox: { sinks: ['mqtt', 'other'] } });
  t.same(again.outbox.sinks().sort(), ['mqtt', 'other']);
  t.same(outboxSeqs(again, 'mqtt'), [1, 2]);
  t.same(outboxSeqs(again, 'other'), [], 'a new sink does not receive the past');
  again.close();
});

t.test('a failing save appends nothing: state and events commit together or not at all', async (t) => {
  const dir = tempDir(t);
  const store = StateStore.open(dir, { logger: silentLogger, outbox: SINKS });
  store.save(engineState(), 2, [eventItem(event(1))]);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  t.throws(() => store.save(cyclic as unknown as EngineState, 3, [eventItem(event(2))]), /circular/i);
  t.equal(store.load()?.nextSeq, 2, 'state not moved');
  t.same(outboxSeqs(store, 'mqtt'), [1], 'event 2 not appended');
  store.save(engineState(), 3, [eventItem(event(2))]);
  t.same(outboxSeqs(store, 'mqtt'), [1, 2], 'the outbox works on after the rollback');
  store.close();
});

t.test('a version-1 file is migrated: its undelivered events move to the outbox', async (t) => {
  const dir = tempDir(t);
  // The layout version 1 wrote (gateway before the outbox), built by hand.
  const db = new Database(join(dir, STATE_FILE));
  db.exec(`
    CREATE TABLE state (id INTEGER PRIMARY KEY CHECK (id = 1), engine TEXT, next_seq INTEGER NOT NULL,
                        last_published_seq INTEGER NOT NULL, saved_at TEXT NOT NULL);
    CREATE TABLE pending_events (seq INTEGER PRIMARY KEY, event TEXT NOT NULL);
  `);
  db.prepare('INSERT INTO state VALUES (1, ?, 6, 2, ?)').run(JSON.stringify(engineState()), new Date(NOW).toISOString());
  for (const seq of [2, 3, 4, 5]) db.prepare('INSERT INTO pending_events VALUES (?, ?)').run(seq, JSON.stringify(event(seq)));
  db.pragma('user_version = 1');
  db.close();

  const store = StateStore.open(dir, { logger: silentLogger, outbox: SINKS });
  const loaded = store.load();
  t.equal(loaded?.nextSeq, 6, 'the sequence continues');
  t.same(loaded?.engine, engineState());
  t.same(outboxSeqs(store, 'mqtt'), [3, 4, 5], 'events after last_published_seq (2) are to be sent, in order');
  t.same(outboxSeqs(store, 'influx'), [3, 4, 5]);
  store.close();
  const check = new Database(join(dir, STATE_FILE), { readonly: true });
  t.equal(check.pragma('user_version', { simple: true }), 2);
  t.equal(check.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'pending_events'").pluck().get(), 0, 'pending_events dropped');
  check.close();
});

t.test('WAL mode with synchronous NORMAL', async (t) => {
  const dir = tempDir(t);
  StateStore.open(dir, { logger: silentLogger }).close();
  const db = new Database(join(dir, STATE_FILE), { readonly: true });
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(db.pragma('user_version', { simple: true }), 2);
  db.close();
});

t.test('a corrupt file is kept aside and the store starts fresh', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, STATE_FILE), 'this is not an SQLite database, just some bytes '.repeat(200));
  const { logger, errors } = recordingLogger();
  const store = StateStore.open(dir, { logger, now: () => NOW });
  t.equal(store.load(), null, 'fresh');
  t.match(errors[0], /state file unusable/);
  const aside = readdirSync(dir).filter((f) => f.startsWith(`${STATE_FILE}.bad-`));
  t.same(aside, [`${STATE_FILE}.bad-20240501T080000000Z`], 'bad file kept');
  t.match(readFileSync(join(dir, aside[0] ?? '')).toString(), /not an SQLite database/);
  store.save(engineState(), 2);
  t.equal(store.load()?.nextSeq, 2, 'the fresh store works');
  store.close();
});

t.test('a database of another schema version is kept aside', async (t) => {
  const dir = tempDir(t);
  const db = new Database(join(dir, STATE_FILE));
  db.exec('CREATE TABLE something (x INTEGER)');
  db.pragma('user_version = 99');
  db.close();
  const { logger, errors } = recordingLogger();
  const store = StateStore.open(dir, { logger });
  t.equal(store.load(), null);
  t.equal(errors.length, 1);
  t.ok(readdirSync(dir).some((f) => f.startsWith(`${STATE_FILE}.bad-`)));
  store.close();
});

t.test('an engine state of another format is set aside; the sequence continues', async (t) => {
  const dir = tempDir(t);
  const store = StateStore.open(dir, { logger: silentLogger });
  store.save({ ...engineState(), format: 2 } as unknown as EngineState, 42);
  store.close();
  const { logger, errors } = recordingLogger();
  const again = StateStore.open(dir, { logger, now: () => NOW });
  const loaded = again.load();
  t.equal(loaded?.engine, null, 'engine starts fresh');
  t.equal(loaded?.nextSeq, 42, 'sequence numbers continue');
  t.match(errors[0], /engine state rejected/);
  const aside = readdirSync(dir).filter((f) => f.startsWith('engine-state.rejected-'));
  t.equal(aside.length, 1);
  t.match(JSON.parse(readFileSync(join(dir, aside[0] ?? '')).toString()), { format: 2 });
  t.equal(again.load()?.engine, null, 'not offered again');
  again.close();
});

t.test('the sequence continues from a stored number and never goes back', async (t) => {
  const seq = new EventSequence('demo');
  seq.restore(17);
  t.same(seq.next(), { id: 'demo:17', seq: 17, siteId: 'demo' });
  seq.restore(5);
  t.equal(seq.peek(), 18, 'restoring a lower number changes nothing');
  t.throws(() => seq.restore(0));
  t.throws(() => seq.restore(Number.NaN));
});

t.test('a committed save survives kill -9 of the writing process', async (t) => {
  const dir = tempDir(t);
  // A child process saves 200 times, reports each commit, and is killed hard mid-way.
  const script = `
    import { StateStore } from ${JSON.stringify(new URL('../../gateway/runtime/state-store.ts', import.meta.url).href)};
    import { silentLogger } from ${JSON.stringify(new URL('../../gateway/log.ts', import.meta.url).href)};
    const store = StateStore.open(${JSON.stringify(dir)}, { logger: silentLogger });
    for (let i = 2; i <= 200; i++) {
      store.save({ format: 1, savedAtMs: i, switchPositions: {}, outages: [], selfHealing: null, plannedOutages: [] }, i);
      if (i === 100) { process.kill(process.pid, 'SIGKILL'); }
    }
  `;
  const res = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { encoding: 'utf8' });
  t.equal(res.signal, 'SIGKILL', `writer killed (${res.stderr.slice(0, 300)})`);
  t.ok(existsSync(join(dir, `${STATE_FILE}-wal`)), 'the last transactions are in the WAL');
  const store = StateStore.open(dir, { logger: silentLogger });
  const loaded = store.load();
  t.equal(loaded?.nextSeq, 100, 'the last committed save before the kill is there');
  t.equal(loaded?.engine?.savedAtMs, 100);
  store.close();
});
