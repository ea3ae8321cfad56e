/**
 * Outbox throughput on the local disk (WAL, synchronous=NORMAL, the production settings).
 *   append   items/s appending 200-byte JSON events in batches of 1, 10 and 100 (one transaction per batch)
 *   replay   items/s reading + acknowledging a backlog of 100,000 items, batches of 100, one sink
 *            (each ack deletes what it acknowledged), and the same with a second sink still down
 * Run: npx tsx bench/outbox.bench.ts [--items 100000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { silentLogger } from '../gateway/log.js';
import { OUTBOX_FILE, Outbox, type OutboxInput } from '../gateway/publish/outbox.js';

const { values: args } = parseArgs({ options: { items: { type: 'string', default: '100000' } } });
const REPLAY_ITEMS = Number(args.items);
const PAYLOAD = JSON.stringify({ type: 'device.availability', siteId: 'demo', deviceId: 'ftu-001', state: 'online', previousState: 'offline', ts: '2024-05-01T08:00:00.000Z', pad: 'x'.repeat(60) });

function item(i: number): OutboxInput {
  return { kind: 'event', key: 'feederwatch/v1/demo/events', payload: PAYLOAD, ts: i };
}

function fresh(): { box: Outbox; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'fw-outbox-bench-'));
  const box = Outbox.open(join(dir, OUTBOX_FILE), { logger: silentLogger, maxBytes: 4 * 1024 ** 3, maxAgeMs: 30 * 24 * 3600_000 });
  return { box, done: () => (box.close(), rmSync(dir, { recursive: true, force: true })) };
}

function rate(n: number, ms: number): string {
  return `${Math.round((n / ms) * 1000).toLocaleString('en-US')} items/s`;
}

console.log(`outbox bench: payload ${PAYLOAD.length} bytes, node ${process.version}, ${tmpdir()}`);

for (const batch of [1, 10, 100]) {
  const { box, done } = fresh();
  box.registerSink('mqtt');
  const total = batch === 1 ? 20_000 : batch === 10 ? 100_000 : 200_000;
  const batches = Array.from({ length: total / batch }, (_, b) => Array.from({ length: batch }, (_, i) => item(b * batch + i)));
  const t0 = performance.now();
  for (const b of batches) box.append(b);
  const ms = performance.now() - t0;
  console.log(`append  batch ${String(batch).padStart(3)}: ${rate(total, ms).padStart(18)}  (${total} items, ${(ms / (total / batch)).toFixed(3)} ms/transaction)`);
  done();
}

for (const sinks of [['mqtt'], ['mqtt', 'influx']]) {
  const { box, done } = fresh();
  for (const s of sinks) box.registerSink(s);
  for (let i = 0; i < REPLAY_ITEMS; i += 1000) box.append(Array.from({ length: 1000 }, (_, k) => item(i + k)));
  const t0 = performance.now();
  let n = 0;
  for (let batch = box.next('mqtt', 100); batch.length > 0; batch = box.next('mqtt', 100)) {
    n += batch.length;
    box.ack('mqtt', batch[batch.length - 1]?.id ?? 0, { replayed: batch.length });
  }
  const ms = performance.now() - t0;
  const s = box.stats();
  console.log(
    `replay  ${sinks.length === 1 ? 'one sink         ' : 'other sink down  '}: ${rate(n, ms).padStart(18)}  (${n} items read + acked in batches of 100; stored after: ${s.items})`,
  );
  done();
}
