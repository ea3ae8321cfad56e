/**
 * One Modbus TCP connection to a gateway or data concentrator, shared by every unit id behind it: MBAP
 * framing on a raw socket (Modbus Messaging on TCP/IP Implementation Guide v1.0b), written here rather than
 * with modbus-serial because a shared connection needs what modbus-serial does not give safely:
 *
 * - Several requests in flight, matched by transaction id. modbus-serial numbers transactions modulo 256 and
 *   matches an answer on the id alone, so a late answer of a timed-out request can be taken for the answer of
 *   a later one. Here ids run over the whole 16-bit space, an id is never reused while its request is
 *   pending, and an answer is accepted only if its transaction id, unit id and function code all match a
 *   pending request: anything else (a late answer after a timeout, a stray frame) is counted and dropped.
 * - A timeout per request (each device has its own `timeoutMs`) on one connection.
 * - Immediate notice of a lost connection, with every pending request failed at once (CONNECTION_LOST).
 *
 * Connection life cycle: opened on demand with a bounded connect time; a failed connect, or a connection
 * lost while requests were pending, starts the endpoint's reconnect backoff (500 ms doubling to 30 s by
 * default), during which every request fails at once with the error that started it. A connection closed
 * while idle (gateways close idle connections) is reopened by the next request without a failure.
 * `timeoutsBeforeReconnect` consecutive timeouts with no answer of any unit in between close the
 * connection and open a new one (a half-open socket to a gateway that lost power answers nothing).
 *
 * Failures reject with a ModbusRequestError carrying the stable code (docs/errors.md), like every requester.
 */
import { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { DriverLogger } from '../driver-logger.js';
import type { ReadError } from '../reading.js';
import type { Backoff } from './backoff.js';
import { badResponseError, connectionLostError, connectionRefusedError, modbusExceptionError, timeoutError, toReadError } from './errors.js';
import { ModbusRequestError } from './requester.js';
import type { ScheduledChannel } from './unit-scheduler.js';

export interface MbapChannelOptions {
  host: string;
  port: number;
  connectTimeoutMs: number;
  /** Reconnect backoff of the endpoint. */
  backoff: Backoff;
  /** Consecutive timeouts (no answer from any unit in between) after which the connection is reopened. */
  timeoutsBeforeReconnect: number;
  logger?: DriverLogger | undefined;
  /** Fields naming the endpoint in log lines. */
  logFields: Record<string, unknown>;
}

export interface MbapChannelStats {
  connects: number;
  requests: number;
  failures: number;
  /** Answers that matched no pending request (late answers after a timeout, stray frames): dropped. */
  staleAnswers: number;
  /** Most requests in flight at once so far. */
  maxInFlight: number;
}

type Expect = { kind: 'registers'; quantity: number } | { kind: 'bits'; quantity: number } | { kind: 'echo'; bytes: Buffer };

interface Pending {
  unitId: number;
  functionCode: number;
  expect: Expect;
  timeoutMs: number;
  timer: NodeJS.Timeout;
  resolve(value: Uint16Array | Uint8Array | undefined): void;
  reject(error: ReadError): void;
}

const MBAP_LENGTH = 7;
/** Largest MBAP length field: unit id + a 253-byte PDU. */
const MAX_MBAP_LENGTH = 254;

export class MbapChannel implements ScheduledChannel {
  private readonly host: string;
  private readonly port: number;
  private readonly connectTimeoutMs: number;
  private readonly backoff: Backoff;
  private readonly timeoutsBeforeReconnect: number;
  private readonly logger: DriverLogger | undefined;
  private readonly logFields: Record<string, unknown>;
  private readonly counters: MbapChannelStats = { connects: 0, requests: 0, failures: 0, staleAnswers: 0, maxInFlight: 0 };

  private socket: Socket | null = null;
  private connecting: Promise<Socket> | null = null;
  private abortConnect: (() => void) | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextTransactionId = 0;
  private received: Buffer | null = null;
  private closedForGood = false;
  /** Monotonic time before which no connect is attempted. */
  private reconnectAt = 0;
  private downError: ReadError = Object.freeze(connectionRefusedError('not connected yet'));
  private consecutiveTimeouts = 0;

  constructor(opts: MbapChannelOptions) {
    this.host = opts.host;
    this.port = opts.port;
    this.connectTimeoutMs = opts.connectTimeoutMs;
    this.backoff = opts.backoff;
    this.timeoutsBeforeReconnect = opts.timeoutsBeforeReconnect;
    this.logger = opts.logger;
    this.logFields = opts.logFields;
  }

  get stats(): MbapChannelStats {
    return { ...this.counters };
  }

  get connected(): boolean {
    return this.socket !== null;
  }

  readRegisters(unitId: number, fn: 'holding' | 'input', address: number, quantity: number, timeoutMs: number): Promise<Uint16Array> {
    const pdu = Buffer.allocUnsafe(5);
    pdu[0] = fn === 'holding' ? 3 : 4;
    pdu.writeUInt16BE(address, 1);
    pdu.writeUInt16BE(quantity, 3);
    return this.transact(unitId, pdu, timeoutMs, { kind: 'registers', quantity }) as Promise<Uint16Array>;
  }

  readBits(unitId: number, fn: 'coil' | 'discrete', address: number, quantity: number, timeoutMs: number): Promise<Uint8Array> {
    const pdu = Buffer.allocUnsafe(5);
    pdu[0] = fn === 'coil' ? 1 : 2;
    pdu.writeUInt16BE(address, 1);
    pdu.writeUInt16BE(quantity, 3);
    return this.transact(unitId, pdu, timeoutMs, { kind: 'bits', quantity }) as Promise<Uint8Array>;
  }

  async writeRegister(unitId: number, address: number, value: number, timeoutMs: number): Promise<void> {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`register value must be 0..65535, got ${value}`);
    const pdu = Buffer.allocUnsafe(5);
    pdu[0] = 6;
    pdu.writeUInt16BE(address, 1);
    pdu.writeUInt16BE(value, 3);
    // A successful FC 6 answer echoes the request.
    await this.transact(unitId, pdu, timeoutMs, { kind: 'echo', bytes: pdu });
  }

  async writeRegisters(unitId: number, address: number, values: readonly number[], timeoutMs: number): Promise<void> {
    if (values.length < 1 || values.length > 123) throw new RangeError(`FC 16 writes 1..123 registers, got ${values.length}`);
    const pdu = Buffer.allocUnsafe(6 + 2 * values.length);
    pdu[0] = 16;
    pdu.writeUInt16BE(address, 1);
    pdu.writeUInt16BE(values.length, 3);
    pdu[5] = 2 * values.length;
    values.forEach((value, i) => {
      if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`register value must be 0..65535, got ${value}`);
      pdu.writeUInt16BE(value, 6 + 2 * i);
    });
    // A successful FC 16 answer repeats function, address and quantity.
    await this.transact(unitId, pdu, timeoutMs, { kind: 'echo', bytes: pdu.subarray(0, 5) });
  }

  /** Fails what is pending and refuses everything from now on. */
  close(): void {
    this.closedForGood = true;
    this.abortConnect?.();
    const socket = this.socket;
    if (socket !== null) this.dropSocket(socket, Object.freeze(connectionLostError('driver stopped')));
  }

  /** One request: connects if needed, sends, resolves with the decoded answer or rejects with a ModbusRequestError. */
  private async transact(unitId: number, pdu: Buffer, timeoutMs: number, expect: Expect): Promise<Uint16Array | Uint8Array | undefined> {
    try {
      const socket = this.socket ?? (await this.connectOrThrow());
      this.counters.requests++;
      return await new Promise<Uint16Array | Uint8Array | undefined>((resolve, reject) => {
        const transactionId = this.allocateTransactionId();
        const frame = Buffer.allocUnsafe(MBAP_LENGTH + pdu.length);
        frame.writeUInt16BE(transactionId, 0);
        frame.writeUInt16BE(0, 2);
        frame.writeUInt16BE(pdu.length + 1, 4);
        frame[6] = unitId;
        pdu.copy(frame, MBAP_LENGTH);
        const pending: Pending = {
          unitId,
          functionCode: pdu[0] as number,
          expect,
          timeoutMs,
          timer: setTimeout(() => this.onTimeout(transactionId, pending), timeoutMs),
          resolve,
          reject: (error) => reject(new ModbusRequestError(error)),
        };
        this.pending.set(transactionId, pending);
        if (this.pending.size > this.counters.maxInFlight) this.counters.maxInFlight = this.pending.size;
        socket.write(frame);
      });
    } catch (err) {
      this.counters.failures++;
      throw err;
    }
  }

  private allocateTransactionId(): number {
    // Never reuse an id whose request is still pending (at most as many as are in flight are skipped).
    do {
      this.nextTransactionId = (this.nextTransactionId + 1) & 0xffff;
    } while (this.pending.has(this.nextTransactionId));
    return this.nextTransactionId;
  }

  private onTimeout(transactionId: number, pending: Pending): void {
    if (this.pending.get(transactionId) !== pending) return;
    this.pending.delete(transactionId);
    pending.reject(timeoutError(pending.timeoutMs));
    this.consecutiveTimeouts++;
    const socket = this.socket;
    if (socket !== null && this.consecutiveTimeouts >= this.timeoutsBeforeReconnect) {
      this.logger?.debug('modbus endpoint not answering, reopening the connection', { ...this.logFields, timeouts: this.consecutiveTimeouts });
      this.consecutiveTimeouts = 0;
      this.dropSocket(socket, Object.freeze(connectionLostError(`${this.timeoutsBeforeReconnect} consecutive timeouts, connection reopened`)));
      // The timeouts already spaced the attempts out: reconnect at the next request.
      this.reconnectAt = 0;
    }
  }

  private onData(chunk: Buffer): void {
    let buffer = this.received === null ? chunk : Buffer.concat([this.received, chunk]);
    while (buffer.length >= MBAP_LENGTH) {
      const length = buffer.readUInt16BE(4);
      if (length < 2 || length > MAX_MBAP_LENGTH || buffer.readUInt16BE(2) !== 0) {
        // The stream cannot be re-synchronised: fail what is pending and start a new connection.
        this.received = null;
        const socket = this.socket;
        if (socket !== null) this.lose(socket, `unparseable MBAP header (length ${length})`);
        return;
      }
      const total = 6 + length;
      if (buffer.length < total) break;
      this.onFrame(buffer.readUInt16BE(0), buffer[6] as number, buffer.subarray(MBAP_LENGTH, total));
      buffer = buffer.subarray(total);
    }
    this.received = buffer.length === 0 ? null : buffer;
  }

  private onFrame(transactionId: number, unitId: number, pdu: Buffer): void {
    const pending = this.pending.get(transactionId);
    const functionCode = pdu[0] as number;
    if (pending === undefined || pending.unitId !== unitId || (functionCode & 0x7f) !== pending.functionCode) {
      this.counters.staleAnswers++;
      return;
    }
    this.pending.delete(transactionId);
    clearTimeout(pending.timer);
    // Any answer shows the connection and the gateway are alive.
    this.consecutiveTimeouts = 0;
    this.backoff.reset();
    if ((functionCode & 0x80) !== 0) {
      pending.reject(pdu.length >= 2 ? modbusExceptionError(pdu[1] as number) : badResponseError('exception answer without a code'));
      return;
    }
    const { expect } = pending;
    if (expect.kind === 'echo') {
      if (pdu.length === expect.bytes.length && pdu.equals(expect.bytes)) pending.resolve(undefined);
      else pending.reject(badResponseError(`write answer does not echo the request (${pdu.toString('hex')})`));
      return;
    }
    const byteCount = pdu[1] ?? -1;
    const expected = expect.kind === 'registers' ? 2 * expect.quantity : Math.ceil(expect.quantity / 8);
    if (byteCount !== expected || pdu.length !== 2 + byteCount) {
      pending.reject(badResponseError(`expected ${expected} data bytes, got byte count ${byteCount} in ${pdu.length - 2} bytes`));
      return;
    }
    if (expect.kind === 'registers') {
      const registers = new Uint16Array(expect.quantity);
      for (let i = 0; i < registers.length; i++) registers[i] = ((pdu[2 + 2 * i] as number) << 8) | (pdu[3 + 2 * i] as number);
      pending.resolve(registers);
    } else {
      // Bit i is bit (i % 8) of data byte i / 8, LSB first.
      const bits = new Uint8Array(expect.quantity);
      for (let i = 0; i < bits.length; i++) bits[i] = ((pdu[2 + (i >> 3)] as number) >> (i & 7)) & 1;
      pending.resolve(bits);
    }
  }

  /** A socket to send on, or a ModbusRequestError: stopped, backing off, or the connect failed. */
  private connectOrThrow(): Promise<Socket> {
    if (this.closedForGood) return Promise.reject(new ModbusRequestError(connectionLostError('driver stopped')));
    if (performance.now() < this.reconnectAt) return Promise.reject(new ModbusRequestError(this.downError));
    // Concurrent requests wait for the same connect.
    this.connecting ??= this.connect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private connect(): Promise<Socket> {
    const { host, port, connectTimeoutMs } = this;
    return new Promise<Socket>((resolve, reject) => {
      const socket = new Socket();
      let settled = false;
      const finish = (error: ReadError | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.abortConnect = null;
        socket.removeListener('error', onError);
        if (error !== null) {
          socket.destroy();
          reject(new ModbusRequestError(this.closedForGood ? error : this.markDown(error, 'connect failed')));
          return;
        }
        this.adopt(socket);
        resolve(socket);
      };
      const onError = (err: Error): void => finish(toReadError(err, 'connect', connectTimeoutMs));
      const timer = setTimeout(() => finish(connectionRefusedError(`no answer from ${host}:${port} within ${connectTimeoutMs} ms`)), connectTimeoutMs);
      this.abortConnect = () => finish(connectionLostError('driver stopped'));
      socket.once('error', onError);
      socket.once('connect', () => finish(null));
      socket.setNoDelay(true);
      socket.connect({ host, port });
    });
  }

  /** Watches a connected socket for as long as it lives. */
  private adopt(socket: Socket): void {
    this.socket = socket;
    this.received = null;
    this.consecutiveTimeouts = 0;
    this.counters.connects++;
    this.logger?.debug('modbus endpoint connected', { ...this.logFields });
    let lastError: string | null = null;
    // Keepalive finds a gateway that vanished without a FIN even when no request is outstanding.
    socket.setKeepAlive(true, 10_000);
    socket.on('data', (chunk: Buffer) => {
      if (this.socket === socket) this.onData(chunk);
    });
    socket.on('error', (err: Error) => {
      lastError = `${(err as NodeJS.ErrnoException).code ?? 'error'} ${err.message}`;
    });
    socket.on('close', () => {
      if (this.socket === socket) this.lose(socket, lastError ?? 'closed by the gateway');
    });
  }

  /**
   * The connection died under us (peer closed, reset, keepalive failure, unparseable stream). Lost with
   * requests pending, the endpoint is treated as down and retried after the backoff. Lost while idle, the
   * next request reconnects at once: gateways commonly close idle connections.
   */
  private lose(socket: Socket, detail: string): void {
    const duringRequest = this.pending.size > 0;
    const error = Object.freeze(connectionLostError(detail));
    this.dropSocket(socket, error);
    if (this.closedForGood) return;
    if (duringRequest) {
      this.markDown(error, 'connection lost');
    } else {
      this.reconnectAt = 0;
      this.logger?.info('modbus endpoint connection closed while idle, reconnecting at the next request', { ...this.logFields, detail });
    }
  }

  /** Closes the socket (on purpose or after loss) and fails every pending request with `error`. */
  private dropSocket(socket: Socket, error: ReadError): void {
    if (this.socket === socket) {
      this.socket = null;
      this.received = null;
    }
    socket.destroy();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const request of pending) {
      clearTimeout(request.timer);
      request.reject(error);
    }
  }

  /** Records that the endpoint is unreachable and when to try again; returns the error to report. */
  private markDown(error: ReadError, why: string): ReadError {
    const delay = this.backoff.next();
    this.reconnectAt = performance.now() + delay;
    this.downError = Object.freeze({ ...error });
    const log = this.backoff.attempts === 1 ? this.logger?.warn : this.logger?.debug;
    log?.call(this.logger, `modbus endpoint unreachable: ${why}`, { ...this.logFields, code: error.code, message: error.message, retryInMs: delay });
    return this.downError;
  }
}
