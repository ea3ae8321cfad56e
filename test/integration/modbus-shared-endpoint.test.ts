/**
 * Many Modbus TCP devices behind one endpoint (a gateway or data concentrator): one connection, one
 * scheduler, per-unit-id backoff. Against the independent test peer (test/helpers/modbus-test-server.ts)
 * and the simulator, over real sockets on 127.0.0.1. Timing assertions are bounds, as in dead-meter.test.ts.
 */
import t from 'tap';
import { systemClock } from '../../gateway/clock.js';
import { parseSiteConfig, SiteConfigError } from '../../gateway/config/load-site.js';
import type { ModbusPointConfig, ModbusTcpDeviceConfig } from '../../drivers/device-config.js';
import type { Reading } from '../../drivers/reading.js';
import { ModbusTcpDriver } from '../../drivers/modbus/tcp-driver.js';
import { ModbusTcpEndpointDriver, type ModbusTcpEndpointDriverOptions } from '../../drivers/modbus/tcp-endpoint-driver.js';
import { createDrivers } from '../../gateway/runtime/driver-factory.js';
import { silentLogger } from '../../gateway/log.js';
import { Simulator } from '../../simulators/simulator.js';
import { METER_PORT, simSite } from '../fixtures/sim-site.js';
import { withBoundPorts } from '../helpers/demo-stack.js';
import { ModbusTestServer } from '../helpers/modbus-test-server.js';

type Batch = Reading[];

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function pt(name: string, address: number): ModbusPointConfig {
  return { name, function: 'holding', address, type: 'uint16', wordOrder: 'ABCD', scale: 1, offset: 0, priority: 'fast' };
}

/** Two points far apart: two requests per poll. */
function meter(unitId: number, port: number, timing: { pollIntervalMs: number; timeoutMs: number }): ModbusTcpDeviceConfig {
  return {
    id: `m${unitId}`,
    protocol: 'modbus-tcp',
    host: '127.0.0.1',
    port,
    unitId,
    slowPollIntervalMs: 60_000,
    maxGap: 8,
    maxRegisters: 125,
    binds: { customer: `C${unitId}` },
    points: [pt('u', 0), pt('f', 100)],
    ...timing,
  };
}

/** Batches per device, with their arrival time. */
class Recorder {
  readonly byDevice = new Map<string, Array<{ at: number; batch: Batch }>>();
  readonly sink = (batch: Batch): void => {
    const id = batch[0]?.deviceId ?? '?';
    const list = this.byDevice.get(id) ?? [];
    list.push({ at: Date.now(), batch });
    this.byDevice.set(id, list);
  };
  of(id: string): Array<{ at: number; batch: Batch }> {
    return this.byDevice.get(id) ?? [];
  }
  async until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(10);
    }
  }
}

const good = (batch: Batch): boolean => batch.every((r) => r.quality === 'good');

async function startEndpoint(
  t: { teardown(fn: () => unknown): void },
  devices: ModbusTcpDeviceConfig[],
  opts: Partial<ModbusTcpEndpointDriverOptions> = {},
): Promise<{ driver: ModbusTcpEndpointDriver; recorder: Recorder }> {
  const driver = new ModbusTcpEndpointDriver(devices, { clock: systemClock, ...opts });
  const recorder = new Recorder();
  t.teardown(() => driver.stop());
  await driver.start(recorder.sink);
  return { driver, recorder };
}

function serveUnits(server: ModbusTestServer, units: number[]): void {
  for (const unit of units) {
    server.setRegisters(unit, 'holding', 0, [unit]);
    server.setRegisters(unit, 'holding', 100, [5000 + unit]);
  }
}

t.test('construction checks the devices against the endpoint', async (t) => {
  const timing = { pollIntervalMs: 100, timeoutMs: 100 };
  t.throws(() => new ModbusTcpEndpointDriver([], { clock: systemClock }), /at least one device/);
  t.throws(() => new ModbusTcpEndpointDriver([meter(1, 502, timing), meter(2, 503, timing)], { clock: systemClock }), /m2 is on 127\.0\.0\.1:503, not 127\.0\.0\.1:502/);
  t.throws(() => new ModbusTcpEndpointDriver([meter(1, 502, timing), { ...meter(1, 502, timing), id: 'twin' }], { clock: systemClock }), /m1 and twin both use unit id 1/);
  const driver = new ModbusTcpEndpointDriver([meter(1, 502, timing), { ...meter(2, 502, timing), host: '127.0.0.1' }], { clock: systemClock });
  t.equal(driver.id, '127.0.0.1:502');
  t.same(driver.deviceIds, ['m1', 'm2']);
});

t.test('one dead unit id behind the endpoint: the others keep their interval over one connection', async (t) => {
  const server = await ModbusTestServer.start();
  t.teardown(() => server.stop());
  const intervalMs = 200;
  const timeoutMs = 150;
  const healthy = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  serveUnits(server, healthy);
  server.setMode(11, { kind: 'silent' });
  const devices = [...healthy, 11].map((unit) => meter(unit, server.port, { pollIntervalMs: intervalMs, timeoutMs }));
  const { driver, recorder } = await startEndpoint(t, devices);

  const windowMs = 4000;
  const started = Date.now();
  await sleep(windowMs);
  const ended = Date.now();

  t.equal(server.connectionsAccepted, 1, 'one TCP connection for the eleven devices');
  let worst = { id: '', gap: 0 };
  for (const unit of healthy) {
    const polls = recorder.of(`m${unit}`);
    t.ok(polls.every((p) => good(p.batch)), `m${unit}: every poll good`);
    t.same(polls[0]?.batch.map((r) => r.value), [unit, 5000 + unit], `m${unit}: its own registers`);
    t.ok(polls.length >= Math.floor((ended - started) / intervalMs) - 2, `m${unit}: ${polls.length} polls in ${ended - started} ms`);
    for (let i = 1; i < polls.length; i++) {
      const gap = (polls[i]?.at ?? 0) - (polls[i - 1]?.at ?? 0);
      if (gap > worst.gap) worst = { id: `m${unit}`, gap };
    }
  }
  // A queue stuck behind the dead unit's timeouts on every poll would fall behind by 150 ms per 200 ms:
  // gaps of seconds and skipped ticks. With the unit backed off it costs at most one timeout now and then.
  t.ok(worst.gap <= intervalMs + timeoutMs + 150, `worst gap between polls of a healthy device: ${worst.gap} ms (${worst.id})`);

  const dead = recorder.of('m11');
  t.ok(dead.length >= Math.floor((ended - started) / intervalMs) - 3, `the dead unit still delivers a batch per interval (${dead.length})`);
  t.ok(
    dead.every((p) => p.batch.every((r) => r.quality === 'bad' && r.value === null && r.error?.code === 'TIMEOUT')),
    'its readings are bad with TIMEOUT, never a value',
  );
  // Backoff 1 s, 2 s, 4 s: about three requests in four seconds instead of twenty.
  const deadRequests = server.requestsFor(11).length;
  t.ok(deadRequests >= 2 && deadRequests <= 4, `requests to the dead unit: ${deadRequests}`);
  const stats = driver.stats.devices['m11'];
  t.ok((stats?.backedOffPolls ?? 0) > (stats?.linePolls ?? 0), `polls answered from backoff (${stats?.backedOffPolls}) outnumber line polls (${stats?.linePolls})`);
  t.equal(driver.stats.devices['m1']?.skippedTicks, 0, 'no healthy device skipped a tick');
});

t.test('exception 0x0B (gateway target device failed to respond) backs the unit off like silence', async (t) => {
  const server = await ModbusTestServer.start();
  t.teardown(() => server.stop());
  serveUnits(server, [1, 2]);
  server.setMode(2, { kind: 'exception', code: 11 });
  const timing = { pollIntervalMs: 100, timeoutMs: 300 };
  const { driver, recorder } = await startEndpoint(t, [meter(1, server.port, timing), meter(2, server.port, timing)], {
    deviceBackoff: { initialMs: 600, maxMs: 600, jitter: 0 },
  });
  await sleep(2000);
  const offline = recorder.of('m2');
  t.ok(offline.length >= 15, `a batch per interval (${offline.length})`);
  for (const { batch } of offline) {
    for (const r of batch) {
      if (r.quality !== 'bad' || r.error?.code !== 'MODBUS_EXCEPTION' || r.error.exceptionCode !== 11) t.fail(`m2 ${r.point}: ${JSON.stringify(r)}`);
    }
  }
  t.match(offline[0]?.batch[0]?.error?.message, /exception 11 \(Gateway Target Device Failed to Respond\)/);
  // One request per poll on the line (the second block is not asked after 0x0B), one line poll per 600 ms.
  const requests = server.requestsFor(2);
  t.ok(requests.every((r) => r.address === 0), 'only the first block is asked');
  t.ok(requests.length >= 3 && requests.length <= 5, `requests to the offline unit in 2 s: ${requests.length} (20 without backoff)`);
  t.ok((driver.stats.devices['m2']?.silentPolls ?? 0) >= 3);
  t.ok(recorder.of('m1').every((p) => good(p.batch)), 'the other unit is unaffected');

  // Back online: the next line poll after the backoff answers, and the backoff ends.
  server.setMode(2, { kind: 'normal' });
  await recorder.until(() => recorder.of('m2').some((p) => good(p.batch)), 2000, 'm2 good again');
  t.equal(driver.stats.devices['m2']?.backoffMs, 0);
});

t.test('endpoint restart: every device reports the connection loss, none is backed off, all recover', async (t) => {
  const server = await ModbusTestServer.start();
  t.teardown(() => server.stop());
  serveUnits(server, [1, 2, 3]);
  const timing = { pollIntervalMs: 100, timeoutMs: 300 };
  const devices = [1, 2, 3].map((unit) => meter(unit, server.port, timing));
  const { driver, recorder } = await startEndpoint(t, devices);
  await recorder.until(() => devices.every((d) => recorder.of(d.id).length >= 3), 3000, 'three polls each');

  await server.stop();
  const stoppedAt = Date.now();
  await sleep(1200);
  for (const d of devices) {
    const during = recorder.of(d.id).filter((p) => p.at > stoppedAt + 50);
    t.ok(during.length >= 8, `${d.id}: still a batch per interval while the endpoint is down (${during.length})`);
    t.ok(
      during.every((p) => p.batch.every((r) => r.quality === 'bad' && (r.error?.code === 'CONNECTION_LOST' || r.error?.code === 'CONNECTION_REFUSED'))),
      `${d.id}: CONNECTION_* readings`,
    );
    t.equal(driver.stats.devices[d.id]?.silentPolls, 0, `${d.id}: not backed off for the endpoint's failure`);
  }

  await server.listen();
  const backAt = Date.now();
  await recorder.until(() => devices.every((d) => recorder.of(d.id).some((p) => p.at > backAt && good(p.batch))), 5000, 'every device good again');
  t.ok(driver.stats.endpoint.connects >= 2, `reconnected (${driver.stats.endpoint.connects} connections)`);
  t.equal(server.openConnections, 1, 'one connection again, not one per device');
  t.same(recorder.of('m3').at(-1)?.batch.map((r) => r.value), [3, 5003]);
});

t.test('maxInFlight 2: a unit hanging in its timeout does not hold the others', async (t) => {
  const server = await ModbusTestServer.start();
  t.teardown(() => server.stop());
  serveUnits(server, [1, 2, 3]);
  server.setMode(4, { kind: 'silent' });
  const timing = { pollIntervalMs: 100, timeoutMs: 1000 };
  const devices = [1, 2, 3, 4].map((unit) => meter(unit, server.port, timing));
  const { driver, recorder } = await startEndpoint(t, devices, { maxInFlight: 2 });
  await recorder.until(() => recorder.of('m4').length >= 1, 3000, 'the silent unit timed out once');
  const from = Date.now() - 1000;
  let worst = 0;
  for (const unit of [1, 2, 3]) {
    const times = recorder.of(`m${unit}`).filter((p) => p.at >= from).map((p) => p.at);
    t.ok(times.length >= 8, `m${unit}: ${times.length} polls during the silent unit's 1 s timeout`);
    for (let i = 1; i < times.length; i++) worst = Math.max(worst, (times[i] as number) - (times[i - 1] as number));
  }
  t.ok(worst < 300, `worst gap of a healthy unit during the timeout: ${worst} ms`);
  t.equal(driver.stats.endpoint.maxInFlight, 2, 'two requests in flight at most, and two were');
  t.equal(server.connectionsAccepted, 1);
});

t.test('a late answer after a timeout is dropped, not taken for a later request', async (t) => {
  const site = simSite();
  const sim = new Simulator(site, { clock: systemClock, portOverride: () => 0, controlPort: 0 });
  const endpoints = await sim.start();
  t.teardown(() => sim.stop());
  const meters = withBoundPorts(site.devices, endpoints).filter(
    (d): d is ModbusTcpDeviceConfig => d.protocol === 'modbus-tcp' && site.devices.some((s) => s.id === d.id && s.protocol === 'modbus-tcp' && s.port === METER_PORT),
  );
  t.ok(meters.length >= 3, `${meters.length} meters behind one endpoint`);
  const slow = meters[0] as ModbusTcpDeviceConfig;
  const offline = meters[1] as ModbusTcpDeviceConfig;
  sim.faults.set(slow.id, { mode: 'slow', delayMs: 250 });
  sim.faults.set(offline.id, { mode: 'targetOffline', delayMs: 20 });
  const devices = meters.map((d) => ({ ...d, pollIntervalMs: 100, timeoutMs: 150 }));
  const { driver, recorder } = await startEndpoint(t, devices, { deviceBackoff: { initialMs: 300, maxMs: 300, jitter: 0 } });
  await sleep(2500);

  t.ok(driver.stats.endpoint.staleAnswers >= 2, `late answers dropped: ${driver.stats.endpoint.staleAnswers}`);
  t.ok(recorder.of(slow.id).every((p) => p.batch.every((r) => r.error?.code === 'TIMEOUT')), 'the slow meter times out every time');
  t.ok(
    recorder.of(offline.id).every((p) => p.batch.every((r) => r.error?.code === 'MODBUS_EXCEPTION' && r.error.exceptionCode === 11)),
    'the meter offline behind the concentrator reads exception 0x0B (simulator fault targetOffline)',
  );
  for (const d of devices.slice(2)) {
    const polls = recorder.of(d.id);
    t.ok(polls.length >= 15 && polls.every((p) => good(p.batch)), `${d.id}: ${polls.length} polls, all good, no answer meant for another`);
    const ua = polls.at(-1)?.batch.find((r) => r.point === 'ua')?.value ?? 0;
    t.ok(ua > 200 && ua < 240, `${d.id}: ua ${ua} V`);
  }
});

t.test('createDrivers: shared by endpoint unless dedicated; the setting is modbus-tcp only', async (t) => {
  const yaml = (extra: string): string => `
siteId: shared-test
feeders:
  - id: F1
    breaker: F1-CB
    switches: [{ id: F1-CB, kind: breaker, to: F1-S1, normal: closed }]
    sections: [{ id: F1-S1 }]
    transformers: [{ id: T1, section: F1-S1, areaClass: urban, customers: [C1, C2, C3, C4, C5] }]
buses: [{ id: B1, type: serial, path: /dev/ttyFW0 }]
devices:
  - { id: m1, protocol: modbus-tcp, host: 10.0.0.5, port: 502, unitId: 1, template: chint-dtsu666, binds: { customer: C1 } }
  - { id: m2, protocol: modbus-tcp, host: 10.0.0.5, port: 502, unitId: 2, template: chint-dtsu666, binds: { customer: C2 }, connection: shared }
  - { id: m3, protocol: modbus-tcp, host: 10.0.0.5, port: 502, unitId: 3, template: chint-dtsu666, binds: { customer: C3 }, connection: dedicated }
  - { id: m4, protocol: modbus-tcp, host: 10.0.0.6, port: 502, unitId: 1, template: chint-dtsu666, binds: { customer: C4 } }
${extra}`;
  const site = parseSiteConfig(yaml(''), { env: {} });
  const drivers = await createDrivers(site, { clock: systemClock, logger: silentLogger });
  t.same(
    drivers.map((d) => [d.constructor.name, d.id, d.deviceIds]),
    [
      ['ModbusTcpEndpointDriver', '10.0.0.5:502', ['m1', 'm2']],
      ['ModbusTcpDriver', 'm3', ['m3']],
      ['ModbusTcpDriver', 'm4', ['m4']],
    ],
  );
  t.ok(drivers[1] instanceof ModbusTcpDriver);

  const bad = yaml(`  - { id: m5, protocol: modbus-rtu, bus: B1, unitId: 5, template: chint-dtsu666, binds: { customer: C5 }, connection: shared }
  - { id: m6, protocol: modbus-tcp, host: 10.0.0.7, port: 502, unitId: 1, template: chint-dtsu666, binds: { customer: C5 }, connection: pooled }`);
  try {
    parseSiteConfig(bad, { env: {} });
    t.fail('expected the file to be rejected');
  } catch (err) {
    t.ok(err instanceof SiteConfigError);
    const messages = (err as SiteConfigError).issues.map((i) => `${i.path}: ${i.message}`);
    t.ok(messages.some((m) => m.startsWith('devices[4].connection: does not apply to a modbus-rtu device')), messages.join('\n'));
    t.ok(messages.some((m) => m.startsWith('devices[5].connection: must be one of shared, dedicated')), messages.join('\n'));
  }
});
