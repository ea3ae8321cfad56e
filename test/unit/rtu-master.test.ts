/**
 * The RTU master against a scripted byte stream: what it writes when, how it delimits and classifies what
 * comes back. The simulator over a real pty is exercised in test/integration/rtu-master.test.ts.
 */
import { performance } from 'node:perf_hooks';
import t from 'tap';
import { withCrc } from '../../drivers/modbus/rtu/crc.js';
import { RtuMaster } from '../../drivers/modbus/rtu/rtu-master.js';
import type { ByteTransport, TransportEvents } from '../../drivers/modbus/rtu/transport.js';
import { ModbusRequestError } from '../../drivers/modbus/requester.js';

const LINE = { baudRate: 9600, parity: 'none', dataBits: 8, stopBits: 1 } as const; // t3.5 = 3.646 ms

const bytes = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A line whose far end is a script: `answer` sees each request and may push bytes back. */
class ScriptedLine implements ByteTransport {
  readonly description = 'scripted';
  isOpen = false;
  opens = 0;
  failOpen: Error | null = null;
  readonly writes: Array<{ at: number; frame: Buffer }> = [];
  /** When bytes were handed to the master. */
  readonly deliveries: number[] = [];
  answer: (request: Buffer, line: ScriptedLine) => void = () => undefined;
  private events: TransportEvents | null = null;

  async open(events: TransportEvents): Promise<void> {
    this.opens++;
    if (this.failOpen !== null) throw this.failOpen;
    this.events = events;
    this.isOpen = true;
  }

  async write(frame: Buffer): Promise<void> {
    if (!this.isOpen) throw new Error('not open');
    this.writes.push({ at: performance.now(), frame: Buffer.from(frame) });
    this.answer(frame, this);
  }

  async close(): Promise<void> {
    this.isOpen = false;
  }

  /** Bytes from the far end, now or after `ms`. */
  push(data: Buffer, ms = 0): void {
    const send = (): void => {
      this.deliveries.push(performance.now());
      this.events?.data(data);
    };
    if (ms === 0) queueMicrotask(send);
    else setTimeout(send, ms);
  }

  /** The far end goes away. */
  drop(reason: string): void {
    this.isOpen = false;
    this.events?.closed(reason);
  }
}

/** Answers FC 3 with registers equal to address + i, from the unit asked. */
function registerEcho(request: Buffer, line: ScriptedLine, delayMs = 2): void {
  const unit = request[0] as number;
  const address = request.readUInt16BE(2);
  const quantity = request.readUInt16BE(4);
  const body = Buffer.alloc(3 + 2 * quantity);
  body[0] = unit;
  body[1] = 3;
  body[2] = 2 * quantity;
  for (let i = 0; i < quantity; i++) body.writeUInt16BE(address + i, 3 + 2 * i);
  line.push(withCrc(body), delayMs);
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (err) {
    return err instanceof ModbusRequestError ? err.readError.code : `not a ModbusRequestError: ${String(err)}`;
  }
}

t.test('one request at a time, t3.5 of silence before each', async (t) => {
  const line = new ScriptedLine();
  line.answer = (request, l) => registerEcho(request, l, 5);
  const master = new RtuMaster(line, { line: LINE });
  const results = await Promise.all([
    master.readRegisters(1, 'holding', 0, 2, 200),
    master.readRegisters(2, 'holding', 10, 1, 200),
    master.readRegisters(3, 'holding', 20, 3, 200),
  ]);
  t.same(results.map((r) => Array.from(r)), [[0, 1], [10], [20, 21, 22]]);
  t.equal(line.writes.length, 3);
  for (let i = 1; i < 3; i++) {
    const silence = (line.writes[i]?.at ?? 0) - (line.deliveries[i - 1] ?? 0);
    t.ok(silence >= 3.6, `request ${i + 1} starts ${silence.toFixed(2)} ms after the previous answer (t3.5 = 3.65 ms)`);
  }
  t.equal(master.stats.requests, 3);
  t.equal(master.stats.answered, 3);
  t.equal(master.stats.bytesSent, 24);
  t.equal(master.stats.bytesReceived, 9 + 7 + 11);
});

t.test('an answer arriving in pieces is complete at the length its header gives', async (t) => {
  const line = new ScriptedLine();
  line.answer = (_request, l) => {
    const frame = bytes('01 03 04 43 5C 00 00 2F A5');
    l.push(frame.subarray(0, 2), 1);
    l.push(frame.subarray(2, 5), 10);
    l.push(frame.subarray(5), 20);
  };
  const master = new RtuMaster(line, { line: LINE });
  t.same(Array.from(await master.readRegisters(1, 'holding', 0, 2, 500)), [0x435c, 0]);
});

t.test('a late answer from another unit is dropped and the right one is taken', async (t) => {
  const line = new ScriptedLine();
  line.answer = (request, l) => {
    l.push(withCrc(bytes('07 03 02 00 63')), 1); // unit 7 answering a request of long ago
    registerEcho(request, l, 10);
  };
  const master = new RtuMaster(line, { line: LINE });
  t.same(Array.from(await master.readRegisters(1, 'holding', 5, 1, 300)), [5]);
  t.equal(master.stats.foreignFrames, 1);
});

t.test('only another unit answering: WRONG_UNIT_ID once the timeout has run', async (t) => {
  const line = new ScriptedLine();
  line.answer = (_request, l) => l.push(withCrc(bytes('07 03 02 00 63')), 1);
  const master = new RtuMaster(line, { line: LINE });
  const started = performance.now();
  t.equal(await codeOf(master.readRegisters(1, 'holding', 0, 1, 100)), 'WRONG_UNIT_ID');
  t.ok(performance.now() - started >= 100, 'the response timeout kept running (2.4.1)');
});

t.test('silence: TIMEOUT after the timeout counted from the end of the request', async (t) => {
  const line = new ScriptedLine();
  const master = new RtuMaster(line, { line: LINE });
  const started = performance.now();
  const failure = master.readRegisters(1, 'holding', 0, 1, 80).catch((err: unknown) => err);
  const err = await failure;
  const elapsed = performance.now() - started;
  t.ok(err instanceof ModbusRequestError);
  t.same((err as ModbusRequestError).readError, { code: 'TIMEOUT', message: 'no response within 80 ms', retryable: true });
  // 8 bytes at 9600 8N1 = 8.3 ms on the wire before the timeout starts.
  t.ok(elapsed >= 88, `waited ${elapsed.toFixed(1)} ms`);
  t.equal(master.stats.failures.TIMEOUT, 1);
});

t.test('a frame that stops short: TRUNCATED_FRAME after the frame silence, before the timeout', async (t) => {
  const line = new ScriptedLine();
  line.answer = (_request, l) => l.push(bytes('01 03 04 43 5C'), 2);
  const master = new RtuMaster(line, { line: LINE, frameSilenceMs: 30 });
  const started = performance.now();
  t.equal(await codeOf(master.readRegisters(1, 'holding', 0, 2, 1000)), 'TRUNCATED_FRAME');
  const elapsed = performance.now() - started;
  t.ok(elapsed < 200, `ended by silence after ${elapsed.toFixed(1)} ms`);
});

t.test('CRC errors, exceptions and malformed answers', async (t) => {
  const line = new ScriptedLine();
  const master = new RtuMaster(line, { line: LINE });
  line.answer = (_r, l) => l.push(bytes('01 03 04 43 5C 00 00 2F A4'));
  t.equal(await codeOf(master.readRegisters(1, 'holding', 0, 2, 200)), 'CRC_ERROR');
  line.answer = (_r, l) => l.push(bytes('01 83 02 C0 F1'));
  const err = await master.readRegisters(1, 'holding', 0, 2, 200).catch((e: unknown) => e);
  t.same((err as ModbusRequestError).readError.exceptionCode, 2);
  line.answer = (_r, l) => l.push(withCrc(bytes('01 04 04 43 5C 00 00')));
  t.equal(await codeOf(master.readRegisters(1, 'holding', 0, 2, 200)), 'BAD_RESPONSE', 'FC 4 answer to FC 3');
  line.answer = (_r, l) => l.push(withCrc(bytes('01 2B 0E 01')));
  t.equal(await codeOf(master.readRegisters(1, 'holding', 0, 2, 200)), 'BAD_RESPONSE', 'unknown function, ended by silence');
  line.answer = (request, l) => registerEcho(request, l);
  t.same(Array.from(await master.readRegisters(1, 'holding', 3, 1, 200)), [3], 'the next request is clean');
});

t.test('bytes outside a transaction are dropped, and the gap counts from them', async (t) => {
  const line = new ScriptedLine();
  const master = new RtuMaster(line, { line: LINE });
  line.answer = (request, l) => registerEcho(request, l);
  await master.readRegisters(1, 'holding', 0, 1, 200);
  line.push(bytes('00 11 22'));
  await sleep(5);
  t.equal(master.stats.strayBytes, 3);
  t.same(Array.from(await master.readRegisters(1, 'holding', 1, 1, 200)), [1]);
});

t.test('writes: FC 6 and FC 16 confirmations, broadcast without an answer', async (t) => {
  const line = new ScriptedLine();
  const master = new RtuMaster(line, { line: LINE, broadcastTurnaroundMs: 20 });
  line.answer = (request, l) => {
    if (request[0] === 0) return;
    l.push(withCrc(request.subarray(0, 6)), 2); // FC 6 echoes; FC 16 answers its first 6 bytes
  };
  await master.writeRegister(1, 1, 3, 200);
  await master.writeRegisters(1, 1, [10, 258], 200);
  await master.writeRegister(0, 1, 3, 200);
  const broadcastAt = line.writes[2]?.at ?? 0;
  await master.writeRegister(1, 1, 3, 200);
  t.ok((line.writes[3]?.at ?? 0) - broadcastAt >= 20 + 8, 'turnaround delay after the broadcast');
  t.same(line.writes.map((w) => w.frame.toString('hex')), [
    '010600010003980b',
    '0110000100020400' + '0a01029230',
    '000600010003' + withCrc(bytes('00 06 00 01 00 03')).subarray(6).toString('hex'),
    '010600010003980b',
  ]);
  await t.rejects(master.writeRegister(1, 0, 70000, 200), RangeError, 'a value that does not fit is refused before the wire');
});

t.test('line down: CONNECTION_REFUSED with backoff, CONNECTION_LOST when it drops mid-request', async (t) => {
  const line = new ScriptedLine();
  line.failOpen = new Error('ENOENT: no such file /dev/ttyUSB9');
  const master = new RtuMaster(line, { line: LINE, reopenBackoff: { initialMs: 100, jitter: 0 } });
  t.equal(await codeOf(master.readRegisters(1, 'holding', 0, 1, 200)), 'CONNECTION_REFUSED');
  t.equal(await codeOf(master.readRegisters(1, 'holding', 0, 1, 200)), 'CONNECTION_REFUSED');
  t.equal(line.opens, 1, 'no second open attempt within the backoff');
  line.failOpen = null;
  await sleep(110);
  line.answer = (_request, l) => setTimeout(() => l.drop('device server reset'), 5);
  t.equal(await codeOf(master.readRegisters(1, 'holding', 0, 1, 500)), 'CONNECTION_LOST');
  line.answer = (request, l) => registerEcho(request, l);
  t.same(Array.from(await master.readRegisters(1, 'holding', 4, 1, 200)), [4], 'reopened at once after a drop');
  t.equal(line.opens, 3);
});

t.test('close() fails the request in flight and every later one', async (t) => {
  const line = new ScriptedLine();
  const master = new RtuMaster(line, { line: LINE });
  const pending = codeOf(master.readRegisters(1, 'holding', 0, 1, 5000));
  const queued = codeOf(master.readRegisters(2, 'holding', 0, 1, 5000));
  await sleep(20);
  const started = performance.now();
  await master.close();
  t.equal(await pending, 'CONNECTION_LOST');
  t.equal(await queued, 'CONNECTION_LOST');
  t.ok(performance.now() - started < 100, 'without waiting for the timeout');
  t.equal(line.writes.length, 1);
});
