import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import { ManualClock } from '../../gateway/clock.js';
import { silentLogger, type LogFields, type Logger } from '../../gateway/log.js';
import { OUTBOX_FILE, Outbox, itemBytes, type OutboxInput, type OutboxOptions } from '../../gateway/publish/outbox.js';

const T0 = Date.parse('2024-05-01T08:00:00.000Z');

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'fw-outbox-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function open(t: Test, dir: string, opts: Partial<OutboxOptions> = {}): Outbox {
  const box = Outbox.open(join(dir, OUTBOX_FILE), { logger: silentLogger, clock: new ManualClock(T0), ...opts });
  t.teardown(() => box.close());
  return box;
}

/** Items whose logical size is exactly 10 bytes each: kind 'ev' (2) + payload of 8. */
function items(from: number, n: number): OutboxInput[] {
  return Array.from({ length: n }, (_, i) => ({ kind: 'ev', payload: `p${String(from + i).padStart(7, '0')}`, ts: T0 + from + i }));
}

function recordingLogger(): { logger: Logger; lines: Array<{ level: string; msg: string; fields?: LogFields }> } {
  const lines: Array<{ level: string; msg: string; fields?: LogFields }> = [];
  const logger: Logger = {
    debug: (msg, fields) => lines.push({ level: 'debug', msg, fields }),
    info: (msg, fields) => lines.push({ level: 'info', msg, fields }),
    warn: (msg, fields) => lines.push({ level: 'warn', msg, fields }),
    error: (msg, fields) => lines.push({ level: 'error', msg, fields }),
    child: () => logger,
  };
  return { logger, lines };
}

t.test('append returns ascending ids; next reads in order from the cursor', async (t) => {
  const box = open(t, tempDir(t));
  box.registerSink('mqtt');
  t.same(box.append([]), []);
  const ids = box.append([
    { kind: 'event', key: 'feederwatch/v1/demo/events', payload: '{"seq":1}', ts: T0 },
    { kind: 'reading', payload: 'meter v=230', ts: T0 + 1 },
  ]);
  t.same(ids, [1, 2]);
  t.same(box.append(items(3, 3)), [3, 4, 5]);
  const got = box.next('mqtt', 10);
  t.same(got.map((i) => i.id), [1, 2, 3, 4, 5]);
  t.same(got[0], { id: 1, kind: 'event', key: 'feederwatch/v1/demo/events', payload: '{"seq":1}', ts: T0, appendedAt: T0 });
  t.equal(got[1]?.key, null);
  t.same(box.next('mqtt', 2).map((i) => i.id), [1, 2], 'limit');
  t.same(box.next('mqtt', 2, { after: 2 }).map((i) => i.id), [3, 4], 'read position after in-flight items');
  t.same(box.next('mqtt', 10, { after: 1, upTo: 3 }).map((i) => i.id), [2, 3], 'upper bound');
  box.ack('mqtt', 3);
  t.same(box.next('mqtt', 10).map((i) => i.id), [4, 5], 'from the cursor after ack');
  t.equal(box.stats().items, 2, 'acked by the only sink: deleted');
  box.ack('mqtt', 1);
  t.equal(box.cursor('mqtt'), 3, 'cursor never goes back');
  box.ack('mqtt', 99);
  t.equal(box.cursor('mqtt'), 5, 'ack beyond the newest id is clamped');
  t.equal(box.stats().items, 0);
  t.same(box.append(items(6, 1)), [6], 'ids are never reused after deletion');
  t.throws(() => box.next('nope', 1), /unknown sink/);
  t.throws(() => box.ack('nope', 1), /unknown sink/);
});

t.test('one sink down does not hold back another; items go once every sink acked', async (t) => {
  const box = open(t, tempDir(t));
  box.registerSink('mqtt');
  box.registerSink('influx');
  box.append(items(1, 100));
  // influx is down: mqtt reads and acks everything.
  let delivered = 0;
  for (let batch = box.next('mqtt', 30); batch.length > 0; batch = box.next('mqtt', 30)) {
    delivered += batch.length;
    box.ack('mqtt', batch[batch.length - 1]?.id ?? 0);
  }
  t.equal(delivered, 100, 'mqtt got everything while influx is down');
  let s = box.stats();
  t.equal(s.sinks.mqtt?.buffered, 0);
  t.equal(s.sinks.influx?.buffered, 100);
  t.equal(s.items, 100, 'kept for influx');
  box.append(items(101, 10));
  t.same(box.next('mqtt', 100).map((i) => i.id), Array.from({ length: 10 }, (_, i) => 101 + i), 'mqtt keeps receiving live items');
  // influx returns, reads from its own cursor, in order.
  const backlog = box.next('influx', 1000);
  t.same(backlog.map((i) => i.id), Array.from({ length: 110 }, (_, i) => i + 1));
  box.ack('influx', 60);
  s = box.stats();
  t.equal(s.items, 50, 'acked by both: 1..60 deleted, 61..110 wait for one or the other');
  t.equal(s.bytes, 500);
  box.ack('influx', 110);
  t.equal(box.stats().items, 10, '101..110 still wait for mqtt');
  box.ack('mqtt', 110);
  t.equal(box.stats().items, 0);
  t.equal(box.stats().bytes, 0);
});

t.test('sinks: new ones start at the next item unless asked otherwise; unregistering releases items', async (t) => {
  const box = open(t, tempDir(t));
  box.registerSink('a');
  box.append(items(1, 5));
  box.registerSink('late');
  box.registerSink('all', { from: 'oldest' });
  t.same(box.next('late', 10), [], 'a new sink gets what is appended from now on');
  t.equal(box.next('all', 10).length, 5);
  box.ack('a', 5);
  box.ack('all', 5);
  t.equal(box.stats().items, 0, '"late" had nothing to ack before 5');
  box.append(items(6, 3));
  box.ack('a', 8);
  box.ack('all', 8);
  t.equal(box.stats().items, 3, 'held by "late"');
  box.registerSink('a');
  t.equal(box.cursor('a'), 8, 'registering again keeps the cursor');
  box.unregisterSink('late');
  t.same(box.sinks().sort(), ['a', 'all']);
  t.equal(box.stats().items, 0, 'released');
});


t.test('registerSink kinds: buffered counts only the kinds the sink carries', async (t) => {
  const box = open(t, tempDir(t));
  box.registerSink('mqtt', { kinds: ['event', 'feederState'] });
  box.registerSink('influx', { kinds: ['event', 'reading'] });
  box.registerSink('all');
  const ids = box.append([
    { kind: 'event', payload: 'e1', ts: T0 },
    { kind: 'reading', payload: 'r2', ts: T0 },
    { kind: 'feederState', payload: 'f3', ts: T0 },
    { kind: 'reading', payload: 'r4', ts: T0 },
    { kind: 'notice', payload: 'n5', ts: T0 },
  ]);
  t.same(ids, [1, 2, 3, 4, 5]);
  let s = box.stats();
  t.equal(s.sinks.mqtt?.buffered, 2, 'mqtt: event 1, feederState 3');
  t.equal(s.sinks.influx?.buffered, 3, 'influx: event 1, readings 2 and 4');
  t.equal(s.sinks.all?.buffered, 5, 'no kinds: every item');
  box.ack('mqtt', 2);
  box.ack('influx', 4);
  s = box.stats();
  t.equal(s.sinks.mqtt?.buffered, 1, 'mqtt: feederState 3 left');
  t.equal(s.sinks.influx?.buffered, 0, 'influx: only notice 5 left, not carried');
  t.equal(s.items, 5, '"all" still holds every item');
});

t.test('registerSink kinds: a bound drops count only the kinds the sink carries', async (t) => {
  const clock = new ManualClock(T0);
  const box = open(t, tempDir(t), { clock, maxAgeMs: 60_000 });
  box.registerSink('mqtt', { kinds: ['event'] });
  box.registerSink('influx', { kinds: ['event', 'reading'] });
  // Two readings and one event, both sinks down: every item is kept for both.
  box.append([
    { kind: 'reading', payload: 'r1', ts: T0 },
    { kind: 'event', payload: 'e2', ts: T0 },
    { kind: 'reading', payload: 'r3', ts: T0 },
  ]);
  clock.advance(61_000);
  t.equal(box.prune(), 3, 'all three too old');
  const s = box.stats();
  t.same(s.sinks.mqtt?.dropped, { bytes: 0, age: 1 }, 'mqtt lost one event (the readings were never its own)');
  t.same(s.sinks.influx?.dropped, { bytes: 0, age: 3 }, 'influx lost the event and both readings');
});
t.test('the bytes bound drops the oldest and counts per sink', async (t) => {
  const { logger, lines } = recordingLogger();
  const box = open(t, tempDir(t), { maxBytes: 100, logger });
  t.equal(itemBytes(items(1, 1)[0] as OutboxInput), 10);
  box.registerSink('mqtt');
  box.registerSink('influx');
  box.append(items(1, 10));
  t.equal(box.stats().bytes, 100, 'exactly at the bound: nothing dropped');
  box.ack('mqtt', 4); // mqtt had 1..4; influx nothing
  box.append(items(11, 3)); // 130 bytes: 1..3 go
  let s = box.stats();
  t.equal(s.bytes, 100);
  t.equal(s.items, 10);
  t.same(box.next('influx', 100).map((i) => i.id), [4, 5, 6, 7, 8, 9, 10, 11, 12, 13], 'influx continues after the gap');
  t.same(s.sinks.influx?.dropped, { bytes: 3, age: 0 });
  t.same(s.sinks.mqtt?.dropped, { bytes: 0, age: 0 }, 'mqtt had acked 1..3: nothing lost for it');
  box.append(items(14, 2)); // 4 and 5 go: 4 was acked by mqtt, 5 was not
  s = box.stats();
  t.same(s.sinks.influx?.dropped, { bytes: 5, age: 0 });
  t.same(s.sinks.mqtt?.dropped, { bytes: 1, age: 0 });
  t.equal(s.sinks.influx?.buffered, 10);
  t.equal(s.sinks.mqtt?.buffered, 10);
  // A batch larger than the bound drops its own oldest items too.
  const ids = box.append(items(16, 12));
  t.equal(ids.length, 12);
  s = box.stats();
  t.equal(s.items, 10);
  t.same(box.next('mqtt', 100).map((i) => i.id), ids.slice(2), 'the 10 newest stay');
  t.same(s.sinks.influx?.dropped, { bytes: 17, age: 0 });
  t.same(s.sinks.mqtt?.dropped, { bytes: 13, age: 0 });
  t.equal(lines.filter((l) => l.level === 'warn').length, 1, 'one warning per minute, the counters hold the figures');
});

t.test('the age bound drops what waited longer than maxAgeMs, on append and on prune', async (t) => {
  const clock = new ManualClock(T0);
  const box = open(t, tempDir(t), { clock, maxAgeMs: 60_000 });
  box.registerSink('mqtt');
  box.registerSink('influx');
  box.append(items(1, 4)); // at T0
  clock.advance(30_000);
  box.append(items(5, 2)); // at T0+30s
  box.ack('mqtt', 2);
  clock.advance(30_000); // T0+60s: the first four are exactly 60 s old: kept
  t.equal(box.prune(), 0);
  clock.advance(1);
  t.equal(box.prune(), 4, 'older than 60 s');
  let s = box.stats();
  t.same(s.sinks.influx?.dropped, { bytes: 0, age: 4 });
  t.same(s.sinks.mqtt?.dropped, { bytes: 0, age: 2 });
  t.equal(s.items, 2);
  t.equal(s.oldestAppendedAt, T0 + 30_000);
  clock.advance(30_000);
  box.append(items(7, 1)); // append applies the age bound first
  s = box.stats();
  t.equal(s.items, 1);
  t.same(s.sinks.influx?.dropped, { bytes: 0, age: 6 });
  t.same(s.sinks.mqtt?.dropped, { bytes: 0, age: 4 });
  t.same(box.next('influx', 10).map((i) => i.id), [7]);
});

t.test('ack records replayed items; counters and cursors survive a reopen', async (t) => {
  const dir = tempDir(t);
  const clock = new ManualClock(T0);
  const first = Outbox.open(join(dir, OUTBOX_FILE), { logger: silentLogger, clock, maxBytes: 50 });
  first.registerSink('mqtt');
  first.registerSink('influx');
  first.append(items(1, 8)); // 3 dropped for both
  first.ack('mqtt', 6, { replayed: 2 });
  const before = first.stats();
  first.close();
  t.throws(() => first.append(items(9, 1)), /closed/);

  const again = open(t, dir, { clock, maxBytes: 50 });
  const after = again.stats();
  t.same(after, before, 'same items, bytes, cursors and counters');
  t.same(after.sinks.mqtt, { cursor: 6, buffered: 2, replayed: 2, dropped: { bytes: 3, age: 0 } });
  t.same(again.next('influx', 10).map((i) => i.payload), items(4, 5).map((i) => i.payload), 'same items in the same order');
  t.same(again.append(items(9, 1)), [9], 'ids continue');
});

t.test('a corrupt or foreign file is set aside and a fresh outbox starts', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, OUTBOX_FILE);
  writeFileSync(file, Buffer.from('this is not an SQLite database at all, just some bytes '.repeat(100)));
  const { logger, lines } = recordingLogger();
  const box = open(t, dir, { logger });
  box.registerSink('mqtt');
  t.same(box.append(items(1, 1)), [1], 'fresh and usable');
  const aside = readdirSync(dir).filter((f) => f.startsWith(`${OUTBOX_FILE}.bad-`));
  t.same(aside, [`${OUTBOX_FILE}.bad-20240501T080000000Z`]);
  t.match(lines, [{ level: 'error', msg: /outbox file unusable/ }]);

  const dir2 = tempDir(t);
  const foreign = new Database(join(dir2, OUTBOX_FILE));
  foreign.exec('CREATE TABLE something (x)');
  foreign.close();
  const box2 = open(t, dir2);
  t.equal(box2.stats().items, 0);
  t.ok(readdirSync(dir2).some((f) => f.includes('.bad-')), 'a database that is not an outbox is kept aside');

  const dir3 = tempDir(t);
  const other = new Database(join(dir3, OUTBOX_FILE));
  other.exec("CREATE TABLE outbox_meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL); INSERT INTO outbox_meta VALUES ('schema', 99)");
  t.throws(() => Outbox.onDatabase(other, { logger: silentLogger }), { name: 'OutboxSchemaError' }, 'onDatabase leaves the decision to the owner');
  other.close();
  open(t, dir3);
  t.ok(readdirSync(dir3).some((f) => f.includes('.bad-')), 'an unknown outbox schema is kept aside');
});

t.test('onDatabase: an append joins the caller transaction (state + events commit together)', async (t) => {
  const dir = tempDir(t);
  const db = new Database(join(dir, 'state.db'));
  t.teardown(() => db.close());
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE state (id INTEGER PRIMARY KEY, next_seq INTEGER)');
  const box = Outbox.onDatabase(db, { logger: silentLogger, clock: new ManualClock(T0) });
  box.registerSink('mqtt');
  const save = db.transaction((seq: number, fail: boolean) => {
    db.prepare('INSERT OR REPLACE INTO state (id, next_seq) VALUES (1, ?)').run(seq);
    box.append(items(seq, 1));
    if (fail) throw new Error('boom');
  });
  save(1, false);
  t.throws(() => save(2, true));
  box.reload();
  t.equal(db.prepare('SELECT next_seq FROM state').pluck().get(), 1);
  t.same(box.next('mqtt', 10).map((i) => i.id), [1], 'the rolled back append is gone with the state');
  t.equal(box.stats().items, 1);
  box.close();
  t.ok(db.open, 'the owner closes the database');
  const again = Outbox.onDatabase(db, { logger: silentLogger });
  t.equal(again.cursor('mqtt'), 0, 'tables reused');
});

const OUTBOX_TS = new URL('../../gateway/publish/outbox.ts', import.meta.url).href;
const LOG_TS = new URL('../../gateway/log.ts', import.meta.url).href;

t.test('kill -9 inside an append transaction: the batch is all or nothing, committed ones stay', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, OUTBOX_FILE);
  const script = `
    import Database from 'better-sqlite3';
    import { Outbox } from ${JSON.stringify(OUTBOX_TS)};
    import { silentLogger } from ${JSON.stringify(LOG_TS)};
    const db = new Database(${JSON.stringify(file)});
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const box = Outbox.onDatabase(db, { logger: silentLogger });
    box.registerSink('mqtt');
    for (let b = 0; b < 50; b++) {
      db.transaction(() => {
        box.append(Array.from({ length: 10 }, (_, i) => ({ kind: 'ev', payload: 'b' + b + '-' + i, ts: b })));
        if (b === 30) process.kill(process.pid, 'SIGKILL');
      })();
    }
  `;
  const res = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { encoding: 'utf8' });
  t.equal(res.signal, 'SIGKILL', `writer killed (${res.stderr.slice(0, 300)})`);
  t.ok(existsSync(`${file}-wal`), 'the committed batches are in the WAL');
  const box = open(t, dir);
  const got = box.next('mqtt', 10_000);
  t.equal(got.length, 300, 'batches 0..29 committed, batch 30 (killed mid-transaction) absent');
  t.same(got.map((i) => i.payload), Array.from({ length: 300 }, (_, k) => `b${Math.floor(k / 10)}-${k % 10}`), 'in order');
});

t.test('kill -9 from outside during a stream of appends loses no committed item', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, OUTBOX_FILE);
  // The child appends batches of 7 as fast as it can and reports each committed batch synchronously on stdout;
  // the parent kills it with SIGKILL once it has seen 300 commits (it is then most likely inside a transaction).
  const script = `
    import { writeSync } from 'node:fs';
    import { Outbox } from ${JSON.stringify(OUTBOX_TS)};
    import { silentLogger } from ${JSON.stringify(LOG_TS)};
    const box = Outbox.open(${JSON.stringify(file)}, { logger: silentLogger });
    box.registerSink('mqtt');
    for (let b = 0; ; b++) {
      const ids = box.append(Array.from({ length: 7 }, (_, i) => ({ kind: 'ev', payload: 'b' + b + '-' + i, ts: b })));
      writeSync(1, ids[ids.length - 1] + '\\n');
    }
  `;
  const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const signal = await new Promise<NodeJS.Signals | null>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').length > 300 && !child.killed) child.kill('SIGKILL');
    });
    child.on('exit', (_code, sig) => resolve(sig));
  });
  t.equal(signal, 'SIGKILL', `writer killed (${err.slice(0, 300)})`);
  const reported = out.split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
  const lastCommitted = reported[reported.length - 1] ?? 0;
  t.ok(lastCommitted >= 300 * 7, `at least 300 batches reported committed (${lastCommitted} items)`);
  const box = open(t, dir);
  const got = box.next('mqtt', 1_000_000);
  t.ok(got.length >= lastCommitted, `every reported item is there (${got.length} >= ${lastCommitted})`);
  t.equal(got.length % 7, 0, 'no partial batch');
  t.same(got.map((i) => i.id), Array.from({ length: got.length }, (_, k) => k + 1), 'ids contiguous');
  t.ok(got.every((item, k) => item.payload === `b${Math.floor(k / 7)}-${k % 7}`), 'payloads intact, in order');
});
