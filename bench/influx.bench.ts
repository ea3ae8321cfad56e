/**
 * InfluxDB write throughput: the gateway's writer against a direct line-protocol post, same server, one run.
 *   direct    HTTP POST /write of hand-made line protocol, 5,000 points per request, one request at a time
 *             (the floor: what the server takes without any gateway code in the way)
 *   gateway   the real path after a poll: readings records appended to the durable outbox (on disk, WAL, as
 *             the state file), the OutboxSender reading them, the InfluxPublisher turning them into points and
 *             writing them with the `influx` package (5,000 per request), cursor moved on every HTTP 204
 *   backlog   the same writer replaying a backlog: everything appended first (InfluxDB "down"), then delivered
 * Points are meter readings (6 float fields, tags device + customer), 2,000 meters, distinct timestamps.
 * Run: npx tsx bench/influx.bench.ts [--points 200000]   (needs influxd: Debian package influxdb)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { systemClock } from '../gateway/clock.js';
import type { DeviceConfig } from '../gateway/config/site-config.js';
import { silentLogger } from '../gateway/log.js';
import { InfluxPublisher, RETENTION_POLICIES } from '../gateway/publish/influx-publisher.js';
import { OUTBOX_FILE, Outbox, type OutboxInput } from '../gateway/publish/outbox.js';
import { OutboxSender } from '../gateway/publish/outbox-sender.js';
import type { ReadingsRecord } from '../gateway/publish/sink.js';
import { startInfluxd } from '../test/helpers/services.js';

const { values: args } = parseArgs({ options: { points: { type: 'string', default: '200000' } } });
const POINTS = Number(args.points);
const METERS = 2000;
const BATCH = 5000;
// Recent enough for the 90-day telemetry policy.
const T0 = Date.now() - 24 * 3600_000;

const meters = Array.from({ length: METERS }, (_, i) => ({ device: `meter-${i}`, customer: `C${100000 + i}` }));
const devices = meters.map((m) => ({ id: m.device, binds: { customer: m.customer } }) as unknown as DeviceConfig);

function record(i: number): ReadingsRecord {
  const m = meters[i % METERS]!;
  const phase = i % 7;
  return { deviceId: m.device, ts: T0 + Math.floor(i / METERS) * 1000, values: { ua: 220 + phase, ub: 221 - phase, uc: 219.5, ia: 3.2 + phase / 10, p: 1800 + phase, pf: 0.97 } };
}

async function post(url: string, db: string, lines: string): Promise<void> {
  const res = await fetch(`${url}/write?db=${db}&rp=${RETENTION_POLICIES.telemetry}&precision=ms`, { method: 'POST', body: lines });
  if (res.status !== 204) throw new Error(`write: ${res.status} ${await res.text()}`);
}

async function query(url: string, db: string, q: string): Promise<unknown> {
  const res = await fetch(`${url}/query?db=${db}&q=${encodeURIComponent(q)}`, { method: 'POST' });
  return res.json();
}

async function direct(url: string): Promise<number> {
  const db = 'bench_direct';
  await query(url, db, `CREATE DATABASE ${db}`);
  await query(url, db, `CREATE RETENTION POLICY ${RETENTION_POLICIES.telemetry} ON ${db} DURATION 90d REPLICATION 1`);
  const started = performance.now();
  for (let from = 0; from < POINTS; from += BATCH) {
    const lines: string[] = [];
    for (let i = from; i < Math.min(POINTS, from + BATCH); i++) {
      const r = record(i);
      const m = meters[i % METERS]!;
      const fields = Object.entries(r.values)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      lines.push(`meter,customer=${m.customer},device=${m.device} ${fields} ${r.ts}`);
    }
    await post(url, db, lines.join('\n'));
  }
  return performance.now() - started;
}

/** Appends in poll-sized batches while the sender delivers (live), or all first (backlog). */
async function throughGateway(url: string, db: string, mode: 'live' | 'backlog'): Promise<{ ms: number; appendMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'fw-influx-bench-'));
  const outbox = Outbox.open(join(dir, OUTBOX_FILE), { logger: silentLogger, maxBytes: 4 * 1024 ** 3 });
  outbox.registerSink('influx', { kinds: ['reading'] });
  const port = Number(new URL(url).port);
  const publisher = new InfluxPublisher({ host: '127.0.0.1', port, protocol: 'http', database: db }, { logger: silentLogger, devices, batchSize: BATCH });
  const sender = new OutboxSender(outbox, publisher, { clock: systemClock, logger: silentLogger, retryMs: 50, maxRetryMs: 200 });
  const items = (from: number, to: number): OutboxInput[] =>
    Array.from({ length: to - from }, (_, k) => {
      const r = record(from + k);
      return { kind: 'reading', key: r.deviceId, payload: JSON.stringify(r), ts: r.ts };
    });
  let appendMs = 0;
  const started = performance.now();
  if (mode === 'backlog') {
    const t = performance.now();
    for (let from = 0; from < POINTS; from += 2000) outbox.append(items(from, Math.min(POINTS, from + 2000)));
    appendMs = performance.now() - t;
    await sender.start();
  } else {
    await sender.start();
    await waitFor(() => sender.up);
    // One poll round of 2,000 meters per append, as the gateway batches readings.
    for (let from = 0; from < POINTS; from += 2000) {
      const t = performance.now();
      outbox.append(items(from, Math.min(POINTS, from + 2000)));
      appendMs += performance.now() - t;
      sender.kick(false);
      await new Promise((r) => setImmediate(r));
    }
  }
  await waitFor(() => outbox.cursor('influx') >= outbox.newestId);
  const ms = performance.now() - started;
  sender.stop();
  await publisher.stop();
  outbox.close();
  rmSync(dir, { recursive: true, force: true });
  const written = publisher.getStats().written;
  if (written !== POINTS) throw new Error(`gateway writer wrote ${written} of ${POINTS} points`);
  return { ms, appendMs };
}

async function waitFor(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((r) => setTimeout(r, 5));
}

async function count(url: string, db: string): Promise<number> {
  const body = (await query(url, db, `SELECT count("ua") FROM "${RETENTION_POLICIES.telemetry}"."meter"`)) as { results: Array<{ series?: Array<{ values: number[][] }> }> };
  return body.results[0]?.series?.[0]?.values[0]?.[1] ?? 0;
}

const rate = (ms: number): number => Math.round((POINTS / ms) * 1000);
const fmt = (n: number): string => n.toLocaleString('en-US');

const influx = await startInfluxd();
try {
  console.log(`influx bench: ${fmt(POINTS)} meter points (6 fields), ${METERS} meters, ${BATCH} points per request, node ${process.version}`);
  // Warm-up: the first writes to a new database create shards.
  await direct(influx.url);
  await query(influx.url, 'bench_direct', 'DROP DATABASE bench_direct');
  const directMs = await direct(influx.url);
  const live = await throughGateway(influx.url, 'bench_gateway', 'live');
  const backlog = await throughGateway(influx.url, 'bench_backlog', 'backlog');
  for (const db of ['bench_direct', 'bench_gateway', 'bench_backlog']) {
    const n = await count(influx.url, db);
    if (n !== POINTS) throw new Error(`${db}: ${n} points stored, expected ${POINTS}`);
  }
  const rows = [
    ['direct line protocol', directMs, 0],
    ['gateway writer, live', live.ms, live.appendMs],
    ['gateway writer, backlog replay', backlog.ms, backlog.appendMs],
  ] as const;
  console.log('\n| path | points/s | vs direct | of which outbox append |');
  console.log('|---|---|---|---|');
  for (const [name, ms, appendMs] of rows) {
    console.log(`| ${name} | ${fmt(rate(ms))} | ${(directMs / ms).toFixed(2)} | ${appendMs > 0 ? `${Math.round(appendMs)} ms` : '-'} |`);
  }
  console.log(`\nevery database holds all ${fmt(POINTS)} points (checked with count()).`);
} finally {
  await influx.stop();
}
