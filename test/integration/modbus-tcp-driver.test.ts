/**
 * The Modbus TCP driver against a real protocol peer (test/helpers/modbus-test-server.ts) over real
 * sockets on 127.0.0.1. Expected values are written out by hand.
 */
import { createServer } from 'node:net';
import t from 'tap';
import { systemClock } from '../../gateway/clock.js';
import type { ModbusPointConfig as PointConfig, ModbusTcpDeviceConfig } from '../../drivers/device-config.js';
import type { Reading, ReadErrorCode } from '../../drivers/reading.js';
import { ModbusTcpDriver } from '../../drivers/modbus/tcp-driver.js';
import { ModbusTestServer } from '../helpers/modbus-test-server.js';

type Batch = Reading[];

/** Collects the batches a driver delivers and lets a test await the one it is interested in. */
class Recorder {
  readonly batches: Batch[] = [];
  private readonly waiters = new Set<(batch: Batch) => void>();

  readonly sink = (batch: Batch): void => {
    this.batches.push(batch);
    for (const waiter of [...this.waiters]) waiter(batch);
  };

  /** The first batch from now on that matches. */
  next(matches: (batch: Batch) => boolean, timeoutMs: number, what: string): Promise<Batch> {
    return new Promise<Batch>((resolve, reject) => {
      const waiter = (batch: Batch): void => {
        if (!matches(batch)) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(batch);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** Resolves once `done()` holds after some batch. */
  until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (done()) return Promise.resolve();
    return this.next(() => done(), timeoutMs, what).then(() => undefined);
  }
}

const allGood = (batch: Batch): boolean => batch.every((r) => r.quality === 'good');
const allCode =
  (...codes: ReadErrorCode[]) =>
  (batch: Batch): boolean =>
    batch.every((r) => r.quality === 'bad' && r.error !== undefined && codes.includes(r.error.code));

function pt(name: string, fields: Partial<PointConfig> & Pick<PointConfig, 'address' | 'type'>): PointConfig {
  return { name, function: 'holding', wordOrder: 'ABCD', scale: 1, offset: 0, priority: 'fast', ...fields };
}

function device(
  id: string,
  port: number,
  unitId: number,
  points: PointConfig[],
  timing: { pollIntervalMs?: number; timeoutMs?: number; slowPollIntervalMs?: number; maxGap?: number } = {},
): ModbusTcpDeviceConfig {
  return {
    id,
    protocol: 'modbus-tcp',
    host: '127.0.0.1',
    port,
    unitId,
    pollIntervalMs: timing.pollIntervalMs ?? 100,
    slowPollIntervalMs: timing.slowPollIntervalMs ?? 1000,
    timeoutMs: timing.timeoutMs ?? 300,
    maxGap: timing.maxGap ?? 8,
    maxRegisters: 125,
    binds: { customer: id },
    points,
  };
}

/** A port on which nothing listens (bound once by the OS, then released). */
async function unusedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Starts a driver and registers its stop with the test, so no timer or socket outlives it. */
async function startDriver(
  t: { teardown(fn: () => unknown): void },
  config: ModbusTcpDeviceConfig,
): Promise<{ driver: ModbusTcpDriver; recorder: Recorder }> {
  const driver = new ModbusTcpDriver(config, { clock: systemClock });
  const recorder = new Recorder();
  t.teardown(() => driver.stop());
  await driver.start(recorder.sink);
  return { driver, recorder };
}

const float32 = (value: number): [number, number] => {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, value);
  return [view.getUint16(0), view.getUint16(2)];
};

t.test('modbus tcp driver', async (t) => {
  const server = await ModbusTestServer.start();
  t.teardown(() => server.stop());

  t.test('stop() ends a poll in flight at once and leaves nothing running', async (t) => {
    // First subtest, so the baseline holds only what tap itself keeps open.
    const resources = (): string[] =>
      process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'TCPSocketWrap');
    server.setMode(30, { kind: 'silent' });
    const baseline = resources().length;
    const driver = new ModbusTcpDriver(device('meter-stop', server.port, 30, [pt('v', { address: 0, type: 'uint16' })], { timeoutMs: 60_000 }), {
      clock: systemClock,
    });
    const recorder = new Recorder();
    const requested = server.nextRequest((r) => r.unitId === 30, 2000);
    await driver.start(recorder.sink);
    await requested;

    const stopStarted = Date.now();
    await driver.stop();
    t.ok(Date.now() - stopStarted < 200, 'stop did not wait for the 60 s request timeout');
    t.equal(recorder.batches.length, 0, 'no batch delivered for the aborted poll');
    t.equal(driver.getStats().polls, 1);
    await driver.stop(); // idempotent

    // Closed handles leave the list on the next turns of the event loop.
    const deadline = Date.now() + 2000;
    while (resources().length > baseline && Date.now() < deadline) {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    t.ok(resources().length <= baseline, `no timer or socket left: ${resources().join(',')}`);
  });

  t.test('reads typed, scaled points in as few requests as the map allows', async (t) => {
    // Holding: float32 ABCD raw 2305 (0.1 V), uint16 5000 (0.01 Hz), int32 CDAB -1234 (0.1 W).
    server.setRegisters(1, 'holding', 0, [...float32(2305), 5000, 0, 0xfb2e, 0xffff]);
    // Input: float32 BADC 49.98 at 0 (bytes swapped in each word), gap, int16 -5 at 10.
    const [hi, lo] = float32(49.98);
    const swap = (w: number): number => ((w & 0xff) << 8) | (w >>> 8);
    server.setRegisters(1, 'input', 0, [swap(hi), swap(lo), 0, 0, 0, 0, 0, 0, 0, 0, 0xfffb]);

    const before = Date.now();
    const { driver, recorder } = await startDriver(
      t,
      device('meter-values', server.port, 1, [
        pt('voltage', { address: 0, type: 'float32', scale: 0.1, unit: 'V' }),
        pt('frequency', { address: 2, type: 'uint16', scale: 0.01, unit: 'Hz' }),
        pt('power', { address: 4, type: 'int32', wordOrder: 'CDAB', scale: 0.1, unit: 'W' }),
        pt('inFrequency', { function: 'input', address: 0, type: 'float32', wordOrder: 'BADC' }),
        pt('temperature', { function: 'input', address: 10, type: 'int16', offset: 100 }),
      ]),
    );
    const batch = await recorder.next(() => true, 2000, 'first batch');
    const after = Date.now();

    t.same(
      batch.map((r) => [r.deviceId, r.point, r.quality]),
      [
        ['meter-values', 'voltage', 'good'],
        ['meter-values', 'frequency', 'good'],
        ['meter-values', 'power', 'good'],
        ['meter-values', 'inFrequency', 'good'],
        ['meter-values', 'temperature', 'good'],
      ],
    );
    const values = batch.map((r) => r.value ?? Number.NaN);
    t.ok(Math.abs((values[0] as number) - 230.5) < 1e-9, `voltage ${values[0]}`);
    t.ok(Math.abs((values[1] as number) - 50) < 1e-9, `frequency ${values[1]}`);
    t.ok(Math.abs((values[2] as number) - -123.4) < 1e-9, `power ${values[2]}`);
    t.equal(values[3], Math.fround(49.98));
    t.equal(values[4], 95);
    for (const r of batch) {
      t.equal(r.sourceTs, r.gatewayTs);
      t.ok(r.gatewayTs >= before && r.gatewayTs <= after, 'stamped at the response');
      t.notOk('error' in r && r.error !== undefined);
    }
    // One FC 3 request for holding 0..5 and one FC 4 request for input 0..10 (gap of 8 bridged).
    t.same(server.requestsFor(1).slice(0, 2), [
      { unitId: 1, functionCode: 3, address: 0, count: 6 },
      { unitId: 1, functionCode: 4, address: 0, count: 11 },
    ]);
    const stats = driver.getStats();
    t.equal(stats.goodPolls, stats.polls);
    t.equal(stats.consecutiveErrors, 0);
    t.not(stats.lastGoodAt, null);
  });

  t.test('an exception answer fails only its block, with the exception code', async (t) => {
    server.setRegisters(2, 'holding', 0, float32(2305));
    const { recorder } = await startDriver(
      t,
      device('meter-exception', server.port, 2, [
        pt('voltage', { address: 0, type: 'float32', scale: 0.1 }),
        // Nothing at 100: the server answers exception 2 (Illegal Data Address).
        pt('missing', { address: 100, type: 'uint16' }),
      ]),
    );
    const [voltage, missing] = await recorder.next(() => true, 2000, 'first batch');
    t.equal(voltage?.quality, 'good');
    t.ok(Math.abs((voltage?.value ?? 0) - 230.5) < 1e-9);
    t.equal(missing?.quality, 'bad');
    t.equal(missing?.value, null);
    t.equal(missing?.error?.code, 'MODBUS_EXCEPTION');
    t.match(missing?.error?.message, /exception 2 \(Illegal Data Address\)/);
    t.equal(missing?.error?.retryable, false);

    // A device answering every request with exception 6 (busy): all bad, retryable.
    server.setMode(2, { kind: 'exception', code: 6 });
    const busy = await recorder.next(allCode('MODBUS_EXCEPTION'), 2000, 'busy batch');
    t.match(busy[0]?.error?.message, /exception 6 \(Server Device Busy\)/);
    t.equal(busy[0]?.error?.retryable, true);

    // A malformed answer is a BAD_RESPONSE, and the next good answer is read normally.
    server.setMode(2, { kind: 'malformed' });
    await recorder.next(allCode('BAD_RESPONSE'), 2000, 'bad response batch');
    server.setMode(2, { kind: 'normal' });
    await recorder.next((b) => b[0]?.quality === 'good', 2000, 'good again');
  });

  t.test('slow points are read every slowPollIntervalMs, fast ones every poll', async (t) => {
    server.setRegisters(50, 'holding', 0, [230]);
    server.setRegisters(50, 'holding', 100, [0, 4321]);
    const { driver, recorder } = await startDriver(
      t,
      device('meter-priorities', server.port, 50, [pt('v', { address: 0, type: 'uint16' }), pt('kwh', { address: 100, type: 'uint32', priority: 'slow' })], {
        pollIntervalMs: 50,
        slowPollIntervalMs: 300,
      }),
    );
    await recorder.until(() => recorder.batches.length >= 16, 5000, '16 polls');
    const full = recorder.batches.filter((b) => b.length === 2);
    const fast = recorder.batches.filter((b) => b.length === 1);
    t.same(recorder.batches[0]?.map((r) => [r.point, r.value]), [
      ['v', 230],
      ['kwh', 4321],
    ], 'the first poll reads everything');
    t.ok(fast.every((b) => b[0]?.point === 'v' && b[0]?.value === 230), 'fast polls read the fast point');
    const times = full.map((b) => b[0]?.gatewayTs ?? 0);
    for (let i = 1; i < times.length; i++) {
      const gap = (times[i] as number) - (times[i - 1] as number);
      t.ok(gap >= 250 && gap <= 400, `full polls ${gap} ms apart`);
    }
    t.ok(full.length >= 2 && full.length <= 4, `${full.length} full polls in ${recorder.batches.length}`);
    const stats = driver.getStats();
    t.equal(stats.slowPolls, server.requestsFor(50).filter((r) => r.address === 100).length);
    t.equal(stats.requests, server.requestsFor(50).length);
  });

  t.test('coils and discrete inputs are read with FC 1 and FC 2', async (t) => {
    server.setBits(51, 'coil', 0, [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    server.setBits(51, 'discrete', 20, [0, 1]);
    const { recorder } = await startDriver(
      t,
      device('ftu-bits', server.port, 51, [
        pt('breakerClosed', { function: 'coil', address: 0, type: 'bit' }),
        pt('lockout', { function: 'coil', address: 9, type: 'bit' }),
        pt('faultA', { function: 'discrete', address: 20, type: 'bit' }),
        pt('faultB', { function: 'discrete', address: 21, type: 'bit' }),
      ]),
    );
    const batch = await recorder.next(() => true, 2000, 'first batch');
    t.same(
      batch.map((r) => [r.point, r.quality, r.value]),
      [
        ['breakerClosed', 'good', 1],
        ['lockout', 'good', 1],
        ['faultA', 'good', 0],
        ['faultB', 'good', 1],
      ],
    );
    t.same(server.requestsFor(51).slice(0, 2), [
      { unitId: 51, functionCode: 1, address: 0, count: 10 },
      { unitId: 51, functionCode: 2, address: 20, count: 2 },
    ]);
  });

  t.test('a block refused with exception 2 is read point by point, and the split is kept', async (t) => {
    // Registers 0 and 2 exist, 1 does not: the planned block 0..2 fails.
    server.setRegisters(52, 'holding', 0, [11]);
    server.setRegisters(52, 'holding', 2, [22]);
    const { recorder } = await startDriver(
      t,
      device('meter-gappy', server.port, 52, [pt('a', { address: 0, type: 'uint16' }), pt('b', { address: 2, type: 'uint16' })]),
    );
    const first = await recorder.next(() => true, 2000, 'first batch');
    t.same(
      first.map((r) => [r.point, r.quality, r.value]),
      [
        ['a', 'good', 11],
        ['b', 'good', 22],
      ],
    );
    await recorder.until(() => recorder.batches.length >= 3, 2000, 'three batches');
    t.ok(recorder.batches.every(allGood));
    t.same(
      server
        .requestsFor(52)
        .slice(0, 7)
        .map((r) => `${r.address}+${r.count}`),
      ['0+3', '0+1', '2+1', '0+1', '2+1', '0+1', '2+1'],
    );
  });

  t.test('a silent unit gives TIMEOUT readings, not zeros, and the connection is reopened', async (t) => {
    server.setMode(3, { kind: 'silent' });
    const timeoutMs = 150;
    const { driver, recorder } = await startDriver(
      t,
      device(
        'meter-silent',
        server.port,
        3,
        [pt('voltage', { address: 0, type: 'float32' }), pt('energy', { function: 'input', address: 0, type: 'uint32' })],
        { pollIntervalMs: 100, timeoutMs },
      ),
    );
    const batch = await recorder.next(() => true, 2000, 'first batch');
    const started = driver.getStats().lastPollStartedAt ?? 0;
    t.same(
      batch.map((r) => [r.point, r.quality, r.value, r.error?.code, r.error?.retryable]),
      [
        ['voltage', 'bad', null, 'TIMEOUT', true],
        ['energy', 'bad', null, 'TIMEOUT', true],
      ],
    );
    const elapsed = (batch[0]?.gatewayTs ?? 0) - started;
    t.ok(elapsed >= timeoutMs - 5 && elapsed < timeoutMs + 150, `timed out after ${elapsed} ms`);
    // After the first block timed out the second was not even asked for.
    t.equal(server.requestsFor(3).length, 1);

    // Three consecutive timeouts close the (possibly half-open) socket and open a new one.
    await recorder.until(() => driver.getStats().connects >= 2, 3000, 'a second connection');
    const stats = driver.getStats();
    t.ok(stats.skippedTicks > 0, 'ticks falling in a running poll are skipped, not queued');
    t.equal(stats.goodPolls, 0);
    t.equal(stats.consecutiveErrors, stats.polls);
  });

  t.test('a device refusing connections is reported as CONNECTION_REFUSED', async (t) => {
    const port = await unusedPort();
    const { driver, recorder } = await startDriver(t, device('meter-nowhere', port, 1, [pt('v', { address: 0, type: 'uint16' })]));
    const batch = await recorder.next(() => true, 2000, 'first batch');
    t.equal(batch[0]?.error?.code, 'CONNECTION_REFUSED');
    t.match(batch[0]?.error?.message, /ECONNREFUSED/);
    // Backing off: several polls report the device down with a single connect attempt.
    await recorder.until(() => recorder.batches.length >= 3, 2000, 'three batches');
    const refusedBatches = recorder.batches.filter(allCode('CONNECTION_REFUSED')).length;
    t.equal(refusedBatches, recorder.batches.length);
    t.equal(driver.getStats().connects, 0);
  });

  t.test('a stopped server gives CONNECTION_* readings and the driver reconnects when it is back', async (t) => {
    const own = await ModbusTestServer.start();
    t.teardown(() => own.stop());
    own.setRegisters(1, 'holding', 0, [1234]);
    const { driver, recorder } = await startDriver(t, device('meter-restart', own.port, 1, [pt('v', { address: 0, type: 'uint16' })]));
    const good = await recorder.next(allGood, 2000, 'good batch');
    t.equal(good[0]?.value, 1234);

    // A connection closed by the device while idle is reopened by the next poll without a bad batch.
    own.dropConnections();
    await recorder.until(() => own.connectionsAccepted >= 2, 2000, 'a new connection');
    const afterDrop = await recorder.next(() => true, 2000, 'batch after the drop');
    t.ok(recorder.batches.every(allGood), 'no bad batch for an idle disconnect');
    t.equal(afterDrop[0]?.value, 1234);

    await own.stop();
    const lost = await recorder.next(allCode('CONNECTION_LOST', 'CONNECTION_REFUSED'), 2000, 'connection error');
    t.equal(lost[0]?.value, null);
    // After the 500 ms backoff the reconnect attempt is refused.
    await recorder.next(allCode('CONNECTION_REFUSED'), 3000, 'refused reconnect');

    own.setRegisters(1, 'holding', 0, [4321]);
    await own.listen();
    const back = await recorder.next(allGood, 8000, 'good batch after restart');
    t.equal(back[0]?.value, 4321);
    t.ok(driver.getStats().connects >= 3);
    t.ok(own.connectionsAccepted >= 3);
  });

  t.test('a connection lost mid-request gives CONNECTION_LOST and backs off without traffic', async (t) => {
    server.setMode(40, { kind: 'hangup' });
    const { driver, recorder } = await startDriver(
      t,
      device('meter-hangup', server.port, 40, [pt('v', { address: 0, type: 'uint16' })], { pollIntervalMs: 100 }),
    );
    const lost = await recorder.next(() => true, 2000, 'first batch');
    t.equal(lost[0]?.error?.code, 'CONNECTION_LOST');
    t.equal(lost[0]?.value, null);
    // The first backoff step is 500 ms (±10 %): the next polls report the device down from memory.
    const seen = recorder.batches.length;
    await recorder.until(() => recorder.batches.length >= seen + 3, 2000, 'three more batches');
    t.ok(recorder.batches.every(allCode('CONNECTION_LOST')), 'every batch says the connection is lost');
    t.equal(server.requestsFor(40).length, 1, 'no request while backing off');
    t.equal(driver.getStats().connects, 1, 'no connect while backing off');
    // Then it tries again.
    await server.nextRequest((r) => r.unitId === 40, 2000);
    t.equal(driver.getStats().connects, 2);
  });

  t.test('one silent device does not slow ten healthy ones on the same server', async (t) => {
    const intervalMs = 200;
    const healthy: ModbusTcpDriver[] = [];
    const recorders = new Map<string, Recorder>();
    for (let unit = 11; unit <= 20; unit++) {
      server.setRegisters(unit, 'holding', 0, [unit, 0, 0, 0]);
      const { driver, recorder } = await startDriver(
        t,
        device(`meter-${unit}`, server.port, unit, [pt('v', { address: 0, type: 'uint16' }), pt('w', { address: 2, type: 'uint32' })], {
          pollIntervalMs: intervalMs,
          timeoutMs: 400,
        }),
      );
      healthy.push(driver);
      recorders.set(driver.id, recorder);
    }
    server.setMode(21, { kind: 'silent' });
    const silent = await startDriver(
      t,
      device('meter-21', server.port, 21, [pt('v', { address: 0, type: 'uint16' })], { pollIntervalMs: intervalMs, timeoutMs: 400 }),
    );

    const enough = (): boolean => [...recorders.values()].every((r) => r.batches.length >= 12);
    await Promise.all([...recorders.values()].map((r) => r.until(enough, 10_000, '12 polls of every healthy device')));
    await silent.recorder.until(() => silent.recorder.batches.length >= 2, 5000, 'silent device batches');

    let maxGap = 0;
    for (const [id, recorder] of recorders) {
      const times = recorder.batches.map((b) => b[0]?.gatewayTs ?? 0);
      t.ok(recorder.batches.every(allGood), `${id} all good`);
      for (let i = 1; i < times.length; i++) maxGap = Math.max(maxGap, (times[i] as number) - (times[i - 1] as number));
    }
    t.ok(maxGap < 350, `largest gap between two polls of a healthy device: ${maxGap} ms`);
    t.ok(silent.recorder.batches.every(allCode('TIMEOUT')), 'the silent device reports timeouts');
  });

});
