/**
 * Device fault modes on the control API (`GET /devices`, `POST /devices/{id}/fault`) and their effect on the
 * Modbus TCP server, seen through a raw socket. The RTU side is in rtu-master.test.ts and mbpoll-peer.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import t, { type Test } from 'tap';
import { ManualClock } from '../../gateway/clock.js';
import { Simulator } from '../../simulators/simulator.js';
import { rtuSite, serialBusPath } from '../fixtures/rtu-site.js';
import { METER_PORT } from '../fixtures/sim-site.js';

async function startSim(t: Test): Promise<{ sim: Simulator; url: string; meterPort: number; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'fw-faults-'));
  const sim = new Simulator(rtuSite({ dir }), { clock: new ManualClock(0), controlPort: 0, portOverride: () => 0 });
  const endpoints = await sim.start();
  t.teardown(async () => {
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return { sim, url: endpoints.controlUrl, meterPort: endpoints.modbusEndpoints.find((e) => e.port === METER_PORT)?.boundPort ?? 0, dir };
}

async function call(url: string, method: string, body?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { method, ...(body !== undefined ? { body } : {}) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** One FC 3 read on a fresh connection: the answer's unit id and PDU, 'timeout' or 'closed'. */
function readOnce(port: number, unitId: number, waitMs = 300): Promise<{ unitId: number; pdu: Buffer; afterMs: number } | 'timeout' | 'closed'> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.write(Buffer.from([0, 1, 0, 0, 0, 6, unitId, 3, 0x20, 0x06, 0, 2]));
    });
    const done = (result: { unitId: number; pdu: Buffer; afterMs: number } | 'timeout' | 'closed'): void => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done('timeout'), waitMs);
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length >= 7 && buffer.length >= 6 + buffer.readUInt16BE(4)) {
        done({ unitId: buffer.readUInt8(6), pdu: buffer.subarray(7, 6 + buffer.readUInt16BE(4)), afterMs: performance.now() - started });
      }
    });
    socket.on('close', () => done('closed'));
    socket.on('error', () => done('closed'));
  });
}

t.test('GET /devices lists every Modbus device with its link and fault', async (t) => {
  const { url, dir } = await startSim(t);
  const { status, body } = await call(`${url}/devices`, 'GET');
  t.equal(status, 200);
  const devices = body['devices'] as Array<Record<string, unknown>>;
  t.equal(devices.length, 15 + 10 + 3, '15 TCP devices, 10 on the serial bus, 3 on the device server');
  t.same(
    devices.map((d) => d['id']),
    [...devices.map((d) => d['id'] as string)].sort(),
    'sorted by id',
  );
  t.same(devices.find((d) => d['id'] === 'rtu-meter-01'), {
    id: 'rtu-meter-01',
    protocol: 'modbus-rtu',
    link: 'rtu-serial',
    unitId: 1,
    endpoint: serialBusPath(dir),
    bus: 'rs485-1',
    fault: { mode: 'none' },
  });
  t.same(devices.find((d) => d['id'] === 'meter-ca11'), {
    id: 'meter-ca11',
    protocol: 'modbus-tcp',
    link: 'tcp',
    unitId: 11,
    endpoint: `127.0.0.1:${METER_PORT}`,
    fault: { mode: 'none' },
  });
  t.match(devices.find((d) => d['id'] === 'gw-meter-01'), { link: 'rtu-over-tcp', endpoint: '127.0.0.1:15140', bus: 'gw-1' });
});

t.test('POST /devices/{id}/fault: answers with the list; clear errors; /reset clears faults', async (t) => {
  const { url } = await startSim(t);
  const set = await call(`${url}/devices/rtu-meter-02/fault`, 'POST', '{"mode":"slow","delayMs":250}');
  t.equal(set.status, 200);
  t.same((set.body['devices'] as Array<Record<string, unknown>>).find((d) => d['id'] === 'rtu-meter-02')?.['fault'], { mode: 'slow', delayMs: 250 });

  t.same(await call(`${url}/devices/nope/fault`, 'POST', '{"mode":"none"}'), {
    status: 404,
    body: { error: 'unknown device "nope"', field: 'device', id: 'nope' },
  });
  t.same(await call(`${url}/devices/meter-ca11/fault`, 'POST', '{"mode":"badCrc"}'), {
    status: 400,
    body: {
      error: 'badCrc applies to Modbus RTU devices only: Modbus TCP frames carry no CRC (TCP checks the stream)',
      field: 'mode',
    },
  });
  t.same(await call(`${url}/devices/meter-ca11/fault`, 'POST', '{"mode":"exception","exceptionCode":0}'), {
    status: 400,
    body: { error: 'field "exceptionCode" must be an integer 1..11, got 0', field: 'exceptionCode' },
  });
  t.match(await call(`${url}/devices/meter-ca11/fault`, 'POST', '{mode}'), { status: 400, body: { error: /^request body is not valid JSON/ } });
  t.match(await call(`${url}/devices/meter-ca11/fault`, 'GET'), { status: 405, body: { error: 'GET is not allowed on /devices/meter-ca11/fault' } });
  t.match(await call(`${url}/devices`, 'POST', '{}'), { status: 405 });

  const reset = await call(`${url}/reset`, 'POST');
  t.equal(reset.status, 200);
  const after = await call(`${url}/devices`, 'GET');
  t.ok((after.body['devices'] as Array<{ fault: { mode: string } }>).every((d) => d.fault.mode === 'none'), 'reset clears every fault');
});

t.test('fault modes on the Modbus TCP server', async (t) => {
  const { url, meterPort } = await startSim(t);
  const normal = await readOnce(meterPort, 11);
  t.ok(typeof normal === 'object' && normal.pdu[0] === 3 && normal.unitId === 11, 'normal answer');
  const fault = (body: string): Promise<unknown> => call(`${url}/devices/meter-ca11/fault`, 'POST', body);

  await fault('{"mode":"noAnswer"}');
  t.equal(await readOnce(meterPort, 11), 'timeout', 'noAnswer: silence');
  t.ok(typeof (await readOnce(meterPort, 12)) === 'object', 'the neighbour on the same endpoint still answers');

  await fault('{"mode":"exception","exceptionCode":6}');
  const exception = await readOnce(meterPort, 11);
  t.same(typeof exception === 'object' ? [...exception.pdu] : exception, [0x83, 6], 'exception 6');

  await fault('{"mode":"wrongUnitId"}');
  const wrong = await readOnce(meterPort, 11);
  t.equal(typeof wrong === 'object' ? wrong.unitId : wrong, 12, 'the answer carries unit id 12');

  await fault('{"mode":"slow","delayMs":200}');
  const slow = await readOnce(meterPort, 11, 1000);
  t.ok(typeof slow === 'object' && slow.afterMs >= 200 && slow.pdu[0] === 3, 'slow: the normal answer, 200 ms late');

  await fault('{"mode":"disconnect"}');
  t.equal(await readOnce(meterPort, 11), 'closed', 'disconnect: the connection is dropped');

  await fault('{"mode":"none"}');
  t.ok(typeof (await readOnce(meterPort, 11)) === 'object', 'back to normal');
});
