/**
 * A meter whose communication link is cut is a communication fault: it goes offline (device.availability),
 * produces no outage, reports `bad` readings rather than 0 V, and does not slow the polling of the others.
 */
import t from 'tap';
import type { DomainEvent } from '../../gateway/engine/events.js';
import type { Reading } from '../../drivers/reading.js';
import { control, eventually, startDemoStack } from '../helpers/demo-stack.js';
import { startMosquitto } from '../helpers/services.js';

t.test('a dead meter: offline, no outage, the other devices keep their cadence', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const stack = await startDemoStack({ mqttUrl: broker.url });
  t.teardown(() => stack.stop());

  const events: DomainEvent[] = [];
  stack.gateway.onEvents((batch) => events.push(...batch));
  const polls = new Map<string, Array<{ at: number; good: boolean; readings: readonly Reading[] }>>();
  stack.gateway.onReadings((deviceId, readings) => {
    const list = polls.get(deviceId) ?? [];
    list.push({ at: Date.now(), good: readings.some((r) => r.quality === 'good'), readings });
    polls.set(deviceId, list);
  });

  await eventually('every device online', async () => (stack.gateway.status().devices.every((d) => d.state === 'online') ? true : undefined), 10_000);
  await control(stack.controlUrl, 'POST', '/meters/C10101/link', { up: false });
  // Taken once the simulator confirmed the cut: a poll that started before may still be (partly) answered.
  const cutAt = Date.now();

  const offline = await eventually(
    'meter-c10101 offline',
    async () => events.find((e) => e.type === 'device.availability' && e.deviceId === 'meter-c10101' && e.state === 'offline'),
    15_000,
  );
  // Degraded first when a poll straddled the cut (its first block answered, the next timed out).
  t.match(offline, { type: 'device.availability', deviceId: 'meter-c10101', state: 'offline', previousState: /^(online|degraded)$/, consecutiveErrors: 3 });
  // Keep watching a while longer with the meter dead.
  await new Promise((r) => setTimeout(r, 3000));
  const windowEnd = Date.now();

  t.same(
    events.filter((e) => e.type !== 'device.availability'),
    [],
    'no outage event of any kind',
  );
  t.same(stack.gateway.status().activeOutages, [], 'no active outage');

  // Polls that started after the cut (Modbus readings carry the poll's request time).
  const deadPolls = (polls.get('meter-c10101') ?? []).filter((p) => (p.readings[0]?.requestTs ?? p.at) >= cutAt);
  t.ok(deadPolls.length >= 3, `the dead meter was polled ${deadPolls.length} times`);
  for (const poll of deadPolls) {
    for (const r of poll.readings) {
      if (r.quality !== 'bad' || r.value !== null || r.error?.code !== 'TIMEOUT') {
        t.fail(`dead meter reading ${r.point} should be bad with TIMEOUT and no value, got ${JSON.stringify(r)}`);
      }
    }
  }

  // The others: gaps between consecutive good polls stay near their interval (1000 ms meters, 500 ms FTUs).
  // The demo's meters share one concentrator endpoint (one request at a time), so a meter due while the dead
  // meter's request times out waits for it once: the bound is the interval + that 500 ms timeout + 100 ms.
  // Backoff makes such waits rare (1 s, 2 s, 4 s ... apart); that it does is measured on the same scheduler in
  // the RTU acceptance test (rtu-bus.test.ts, with a control run without backoff).
  let worst = { deviceId: '', gap: 0, interval: 0 };
  for (const device of stack.site.devices) {
    if (device.id === 'meter-c10101' || device.protocol === 'opcua') continue;
    const times = (polls.get(device.id) ?? []).filter((p) => p.at >= cutAt && p.at <= windowEnd).map((p) => p.at);
    const goodCount = (polls.get(device.id) ?? []).filter((p) => p.at >= cutAt && p.at <= windowEnd && p.good).length;
    t.equal(goodCount, times.length, `${device.id}: every poll good`);
    const span = windowEnd - cutAt;
    t.ok(times.length >= Math.floor(span / device.pollIntervalMs) - 2, `${device.id}: ${times.length} polls in ${span} ms at ${device.pollIntervalMs} ms`);
    for (let i = 1; i < times.length; i++) {
      const gap = (times[i] ?? 0) - (times[i - 1] ?? 0);
      if (gap - device.pollIntervalMs > worst.gap - worst.interval) worst = { deviceId: device.id, gap, interval: device.pollIntervalMs };
    }
  }
  t.ok(worst.gap <= worst.interval + 600, `worst gap between polls of a healthy device: ${worst.gap} ms (${worst.deviceId}, interval ${worst.interval} ms)`);

  await control(stack.controlUrl, 'POST', '/meters/C10101/link', { up: true });
  const back = await eventually(
    'meter-c10101 back online',
    async () => events.find((e) => e.type === 'device.availability' && e.deviceId === 'meter-c10101' && e.state === 'online' && e.previousState === 'offline'),
    10_000,
  );
  t.ok(back, 'online again after the link returns');
});
