import net from 'node:net';
import t from 'tap';
import { ManualClock } from '../../gateway/clock.js';
import { Simulator, type SimulatorEndpoints } from '../../simulators/simulator.js';
import { FTU_PORT, METER_PORT, simSite } from '../fixtures/sim-site.js';

// Unit ids on the FTU endpoint: 1 A-CB, 2 A-R1, 3 A-SW1, 4 TIE-AB, 5 B-CB, 6 B-SW1 (input registers, single bit).
// Unit ids on the meter endpoint: 11 CA11, 12 CA12, 13 CA21, 14 CA31, 15 CA32, 16 CA41, 17 CB11, 18 CB21, 19 CB22.

const NO_ANSWER_MS = 300;

/** A deliberately small Modbus TCP client: frames requests, matches responses by transaction id, times out. */
class RawModbusClient {
  private buffer = Buffer.alloc(0);
  private nextTid = 1;
  private readonly waiting = new Map<number, (pdu: Buffer) => void>();

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      while (this.buffer.length >= 7 && this.buffer.length >= 6 + this.buffer.readUInt16BE(4)) {
        const total = 6 + this.buffer.readUInt16BE(4);
        const frame = this.buffer.subarray(0, total);
        this.buffer = this.buffer.subarray(total);
        this.waiting.get(frame.readUInt16BE(0))?.(frame.subarray(7));
      }
    });
  }

  static connect(port: number): Promise<RawModbusClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(new RawModbusClient(socket)));
      socket.once('error', reject);
    });
  }

  /** The MBAP frame for a request; the transaction id it carries is returned too. */
  frame(unit: number, pdu: number[]): { tid: number; bytes: Buffer } {
    const tid = this.nextTid++;
    const bytes = Buffer.alloc(7 + pdu.length);
    bytes.writeUInt16BE(tid, 0);
    bytes.writeUInt16BE(0, 2);
    bytes.writeUInt16BE(pdu.length + 1, 4);
    bytes.writeUInt8(unit, 6);
    Buffer.from(pdu).copy(bytes, 7);
    return { tid, bytes };
  }

  /** Resolves with the response PDU, or 'timeout' when nothing came back in time. */
  awaitResponse(tid: number, timeoutMs = NO_ANSWER_MS): Promise<Buffer | 'timeout'> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(tid);
        resolve('timeout');
      }, timeoutMs);
      this.waiting.set(tid, (pdu) => {
        clearTimeout(timer);
        this.waiting.delete(tid);
        resolve(pdu);
      });
    });
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  request(unit: number, pdu: number[]): Promise<Buffer | 'timeout'> {
    const { tid, bytes } = this.frame(unit, pdu);
    const response = this.awaitResponse(tid);
    this.write(bytes);
    return response;
  }

  /** FC 3 (holding) or 4 (input): the registers, `{exception}` or 'timeout'. */
  async read(unit: number, address: number, quantity: number, fc: 3 | 4 = 3): Promise<number[] | { exception: number } | 'timeout'> {
    const pdu = await this.request(unit, [fc, address >> 8, address & 0xff, quantity >> 8, quantity & 0xff]);
    if (pdu === 'timeout') return pdu;
    if (pdu[0] === (fc | 0x80)) return { exception: pdu[1] as number };
    const registers: number[] = [];
    for (let i = 0; i < (pdu[1] as number) / 2; i++) registers.push(pdu.readUInt16BE(2 + 2 * i));
    return registers;
  }

  close(): void {
    this.socket.destroy();
  }
}

function float32(high: number, low: number): number {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(high, 0);
  b.writeUInt16BE(low, 2);
  return b.readFloatBE(0);
}

function registersOf(reply: number[] | { exception: number } | 'timeout'): number[] {
  if (!Array.isArray(reply)) throw new Error(`expected registers, got ${JSON.stringify(reply)}`);
  return reply;
}

async function call(base: string, method: string, path: string, body?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, {
    method,
    ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Starts the simulator on free ports and connects one client per endpoint; all undone at teardown. */
async function startSimulator(t: { teardown(fn: () => Promise<void>): void }): Promise<{ sim: Simulator; endpoints: SimulatorEndpoints; ftu: RawModbusClient; meters: RawModbusClient }> {
  const sim = new Simulator(simSite(), { clock: new ManualClock(0), controlPort: 0, portOverride: () => 0 });
  const endpoints = await sim.start();
  const portOf = (configured: number): number => {
    const endpoint = endpoints.modbusEndpoints.find((e) => e.port === configured);
    if (endpoint === undefined) throw new Error(`no endpoint for ${configured}`);
    return endpoint.boundPort;
  };
  const ftu = await RawModbusClient.connect(portOf(FTU_PORT));
  const meters = await RawModbusClient.connect(portOf(METER_PORT));
  t.teardown(async () => {
    ftu.close();
    meters.close();
    await sim.stop();
  });
  return { sim, endpoints, ftu, meters };
}

t.test('one Modbus server per distinct endpoint, bound to free ports', async (t) => {
  const { endpoints } = await startSimulator(t);
  t.same(
    endpoints.modbusEndpoints.map((e) => ({ host: e.host, port: e.port })),
    [
      { host: '127.0.0.1', port: FTU_PORT },
      { host: '127.0.0.1', port: METER_PORT },
    ],
  );
  for (const e of endpoints.modbusEndpoints) t.ok(e.boundPort > 0 && e.boundPort !== e.port, `bound ${e.boundPort}`);
  t.match(endpoints.controlUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
});

t.test('FTU and meter registers in the normal configuration', async (t) => {
  const { ftu, meters } = await startSimulator(t);

  // A-R1: doublePoint 2 = closed, no fault, ia float32 in 0.1 A, uab float32 in V, one block read.
  const r1 = registersOf(await ftu.read(2, 0, 6));
  t.equal(r1[0], 2, 'A-R1 closed (double point)');
  t.equal(r1[1], 0, 'no fault flag');
  const ia = float32(r1[2] as number, r1[3] as number) * 0.1;
  // A-R1 carries TA2, TA3, TA4: three transformers at about 12 A each (+/- 5 %).
  t.ok(ia > 34 && ia < 38, `A-R1 current ${ia} A`);
  t.equal(float32(r1[4] as number, r1[5] as number), 10_000, 'uab 10 kV');

  t.equal(registersOf(await ftu.read(4, 0, 1))[0], 1, 'TIE-AB open (double point)');

  // B-SW1: input registers, single bit, a gap 2..9 reading 0, uab int32 CDAB in 0.1 V: 100000 = 0x0001_86A0.
  t.same(await ftu.read(6, 0, 12, 4), [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x86a0, 0x0001]);

  // Meter CA31: ua float32 at 0x2006 in 0.1 V.
  const ua = registersOf(await meters.read(14, 0x2006, 2));
  const volts = float32(ua[0] as number, ua[1] as number) * 0.1;
  t.ok(volts > 217.8 && volts < 222.2, `CA31 ${volts} V`);

  // A block over the whole map, gaps included: ua 0x2006, ia 0x200C, p 0x2012 (ends at 0x2014).
  const block = registersOf(await meters.read(14, 0x2006, 14));
  t.equal(block.length, 14);
  t.same(block.slice(2, 6), [0, 0, 0, 0], 'gap reads 0');
  const amps = float32(block[6] as number, block[7] as number) * 0.001;
  const watts = float32(block[12] as number, block[13] as number) * 0.1;
  t.ok(amps > 1 && amps < 8, `household current ${amps} A`);
  t.ok(Math.abs(watts - volts * amps * 0.95) < 1, `power ${watts} W = V x I x 0.95`);
});

t.test('Modbus exceptions', async (t) => {
  const { ftu, meters } = await startSimulator(t);
  t.same(await ftu.request(2, [5, 0, 0, 0xff, 0]), Buffer.from([0x85, 1]), 'FC 5: illegal function');
  t.same(await ftu.request(2, [1, 0, 0, 0, 1]), Buffer.from([0x81, 2]), 'FC 1 on a device without coils: illegal data address');
  t.same(await meters.read(14, 0, 2), { exception: 2 }, 'below the meter map');
  t.same(await meters.read(14, 0x2012, 3), { exception: 2 }, 'one register past the end');
  t.same(await meters.read(14, 0x2006, 2, 4), { exception: 2 }, 'no input registers on the meter');
  t.same(await ftu.read(2, 0, 7), { exception: 2 }, 'one past the FTU map');
  t.same(await ftu.read(2, 0, 0), { exception: 3 }, 'quantity 0');
  t.same(await ftu.read(2, 0, 126), { exception: 3 }, 'quantity 126');
  t.same(await ftu.request(2, [3, 0, 0, 0]), Buffer.from([0x83, 3]), 'truncated PDU');
});

t.test('a unit id with no device gets no answer; the connection keeps working', async (t) => {
  const { ftu } = await startSimulator(t);
  t.equal(await ftu.read(99, 0, 1), 'timeout');
  t.equal(registersOf(await ftu.read(1, 0, 1))[0], 2);
});

t.test('framing: two requests in one chunk, one request split across chunks', async (t) => {
  const { ftu } = await startSimulator(t);
  const a = ftu.frame(1, [3, 0, 0, 0, 1]);
  const b = ftu.frame(4, [3, 0, 0, 0, 1]);
  const answers = Promise.all([ftu.awaitResponse(a.tid), ftu.awaitResponse(b.tid)]);
  ftu.write(Buffer.concat([a.bytes, b.bytes]));
  t.same(await answers, [Buffer.from([3, 2, 0, 2]), Buffer.from([3, 2, 0, 1])]);

  const c = ftu.frame(2, [3, 0, 0, 0, 2]);
  const answer = ftu.awaitResponse(c.tid, 1000);
  ftu.write(c.bytes.subarray(0, 4));
  await new Promise((resolve) => setTimeout(resolve, 50));
  ftu.write(c.bytes.subarray(4, 9));
  await new Promise((resolve) => setTimeout(resolve, 50));
  ftu.write(c.bytes.subarray(9));
  t.same(await answer, Buffer.from([3, 4, 0, 2, 0, 0]));
});

t.test('a fault injected through the control API shows on the registers', async (t) => {
  const { endpoints, ftu, meters } = await startSimulator(t);
  const res = await call(endpoints.controlUrl, 'POST', '/faults', '{"section":"A-S3"}');
  t.equal(res.status, 200);
  t.same(res.json['faults'], ['A-S3']);
  t.same(res.json['deenergizedSections'], ['A-S2', 'A-S3', 'A-S4']);

  t.same((registersOf(await ftu.read(1, 0, 2))), [2, 1], 'A-CB closed, flagged');
  t.same((registersOf(await ftu.read(2, 0, 2))), [1, 1], 'A-R1 tripped open, flagged');
  t.same((registersOf(await ftu.read(3, 0, 2))), [2, 1], 'A-SW1 closed, flagged');
  t.same((registersOf(await ftu.read(5, 0, 2))), [2, 0], 'B-CB untouched');
  const sw1 = registersOf(await ftu.read(3, 0, 6));
  t.equal(float32(sw1[4] as number, sw1[5] as number), 0, 'A-SW1 source side dark');

  t.same(await meters.read(14, 0x2006, 2), [0, 0], 'CA31 in A-S3 reads 0 V (float32 0)');
  t.same(await meters.read(16, 0x2006, 2), [0, 0], 'CA41 in A-S4 reads 0 V');
  const ca11 = registersOf(await meters.read(11, 0x2006, 2));
  t.ok(float32(ca11[0] as number, ca11[1] as number) * 0.1 > 217, 'CA11 upstream still supplied');

  const cleared = await call(endpoints.controlUrl, 'DELETE', '/faults/A-S3');
  t.same(cleared.json['faults'], []);
  const reclosed = await call(endpoints.controlUrl, 'POST', '/switches/A-R1', '{"position":"closed"}');
  t.same(reclosed.json['deenergizedSections'], []);
  t.same(registersOf(await ftu.read(2, 0, 2)), [2, 0]);
});

t.test('a cut meter link: that unit never answers, its neighbours do', async (t) => {
  const { endpoints, meters } = await startSimulator(t);
  const res = await call(endpoints.controlUrl, 'POST', '/meters/CA31/link', '{"up":false}');
  t.equal(res.status, 200);
  t.equal((res.json['meterLinks'] as Record<string, boolean>)['CA31'], false);
  const [silent, neighbour] = await Promise.all([meters.read(14, 0x2006, 2), meters.read(15, 0x2006, 2)]);
  t.equal(silent, 'timeout', 'CA31 does not answer');
  t.equal(registersOf(neighbour).length, 2, 'CA32 answers');
  t.equal(await meters.read(14, 0, 1), 'timeout', 'not even an exception');
  await call(endpoints.controlUrl, 'POST', '/meters/CA31/link', '{"up":true}');
  t.equal(registersOf(await meters.read(14, 0x2006, 2)).length, 2, 'answers again');
});

t.test('remote control: FC 6 / FC 16 on the position register operates the switch', async (t) => {
  const { sim, ftu } = await startSimulator(t);
  t.same(await ftu.request(2, [6, 0, 0, 0, 1]), Buffer.from([6, 0, 0, 0, 1]), 'FC 6 echo');
  t.equal(sim.model.state().switches['A-R1']?.position, 'open');
  t.same(sim.model.state().deenergizedSections, ['A-S2', 'A-S3', 'A-S4']);
  t.same(await ftu.request(2, [16, 0, 0, 0, 1, 2, 0, 2]), Buffer.from([16, 0, 0, 0, 1]), 'FC 16 response');
  t.equal(sim.model.state().switches['A-R1']?.position, 'closed');
  t.same(await ftu.request(2, [6, 0, 0, 0, 3]), Buffer.from([0x86, 3]), 'DPI 3 is no command');
  t.same(await ftu.request(2, [6, 0, 2, 0, 1]), Buffer.from([0x86, 2]), 'ia is not writable');
  t.same(await ftu.request(6, [6, 0, 0, 0, 0]), Buffer.from([0x86, 2]), 'B-SW1 position is an input register');
});

t.test('control API errors name what was wrong', async (t) => {
  const { endpoints } = await startSimulator(t);
  const url = endpoints.controlUrl;
  const badJson = await call(url, 'POST', '/faults', '{section: A-S3');
  t.equal(badJson.status, 400);
  t.match(badJson.json['error'], /^request body is not valid JSON: /);

  t.same(await call(url, 'POST', '/faults', '[]'), { status: 400, json: { error: 'request body must be a JSON object' } });
  t.same(await call(url, 'POST', '/faults', '{}'), {
    status: 400,
    json: { error: 'field "section" must be a section id (a non-empty string), got nothing', field: 'section' },
  });
  t.same(await call(url, 'POST', '/faults', '{"section":"NOPE"}'), {
    status: 404,
    json: { error: 'unknown section "NOPE"', field: 'section', id: 'NOPE' },
  });
  t.same(await call(url, 'DELETE', '/faults/NOPE'), {
    status: 404,
    json: { error: 'unknown section "NOPE"', field: 'section', id: 'NOPE' },
  });
  t.same(await call(url, 'POST', '/switches/A-R1', '{"position":"ajar"}'), {
    status: 400,
    json: { error: 'field "position" must be "open" or "closed", got "ajar"', field: 'position' },
  });
  t.same(await call(url, 'POST', '/switches/X-9', '{"position":"open"}'), {
    status: 404,
    json: { error: 'unknown switch "X-9"', field: 'switch', id: 'X-9' },
  });
  t.same(await call(url, 'POST', '/meters/C404/link', '{"up":false}'), {
    status: 404,
    json: { error: 'unknown customer "C404"', field: 'customer', id: 'C404' },
  });
  t.same(await call(url, 'POST', '/meters/CA11/link', '{"up":"no"}'), {
    status: 400,
    json: { error: 'field "up" must be true or false, got "no"', field: 'up' },
  });
  t.same(await call(url, 'GET', '/nothing'), { status: 404, json: { error: 'no such path: /nothing' } });
  t.same(await call(url, 'GET', '/faults'), { status: 405, json: { error: 'GET is not allowed on /faults' } });

  const state = await call(url, 'GET', '/state');
  t.equal(state.status, 200);
  t.same(state.json['faults'], [], 'no failed call changed anything');
  t.same(state.json['deenergizedSections'], []);
});

t.test('reset through the control API', async (t) => {
  const { endpoints } = await startSimulator(t);
  await call(endpoints.controlUrl, 'POST', '/faults', '{"section":"B-S2"}');
  await call(endpoints.controlUrl, 'POST', '/meters/CB21/link', '{"up":false}');
  const res = await call(endpoints.controlUrl, 'POST', '/reset');
  t.same(res.json['faults'], []);
  t.same(res.json['deenergizedSections'], []);
  t.equal((res.json['meterLinks'] as Record<string, boolean>)['CB21'], true);
});

t.test('stop() closes every port', async (t) => {
  const sim = new Simulator(simSite(), { clock: new ManualClock(0), controlPort: 0, portOverride: () => 0 });
  const endpoints = await sim.start();
  await sim.stop();
  for (const e of endpoints.modbusEndpoints) {
    await t.rejects(RawModbusClient.connect(e.boundPort), { code: 'ECONNREFUSED' });
  }
  await t.rejects(fetch(`${endpoints.controlUrl}/state`));
});

t.test('a port already in use fails start() and leaves nothing listening', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const taken = (blocker.address() as net.AddressInfo).port;
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const listening: number[] = [];
  const ignore = (): void => undefined;
  const logger = {
    debug: ignore,
    warn: ignore,
    error: ignore,
    info: (msg: string, fields?: Record<string, unknown>) => {
      if (msg === 'modbus server listening') listening.push(fields?.['port'] as number);
    },
  };
  // The Modbus servers start first on free ports; the control API then fails on the taken port.
  const sim = new Simulator(simSite(), { clock: new ManualClock(0), logger, controlPort: taken, portOverride: () => 0 });
  await t.rejects(sim.start(), { code: 'EADDRINUSE' });
  t.equal(listening.length, 2, 'both Modbus servers had started');
  for (const port of listening) await t.rejects(RawModbusClient.connect(port), { code: 'ECONNREFUSED' });
});
