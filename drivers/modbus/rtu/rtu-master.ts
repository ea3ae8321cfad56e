/**
 * The Modbus RTU master of one RS-485 line: puts one request on the line, waits for its answer, and only
 * then the next. It implements `ModbusRequester` for the device reader, on any `ByteTransport` (a serial
 * port, a serial device server's socket).
 *
 * Rules of Modbus over Serial Line v1.02 it keeps:
 * - one transaction at a time (2.4.1): requests are queued here, whatever the caller does;
 * - the line is silent for t3.5 before each request (2.5.1.1), counted from the last byte seen on it,
 *   including stray bytes that arrived between transactions;
 * - the response timeout runs from the end of the request's transmission, and an answer from an
 *   unexpected slave does not stop it (2.4.1, master state diagram): it is dropped and the master keeps
 *   listening, so a late answer from the previous device does not fail the current one. Only if nothing
 *   better arrives is the read reported as WRONG_UNIT_ID;
 * - a broadcast (unit 0) gets no answer; the master waits the turnaround delay before the next request.
 *
 * End of a response: as soon as the length its header declares is in (see frame.ts), or after
 * `frameSilenceMs` of silence for a frame that stops short. The silence is deliberately much longer than
 * t3.5: USB serial adapters deliver bytes in bursts (an FTDI chip's latency timer is 16 ms by default),
 * so a shorter one would cut healthy frames. It only costs time on frames that are broken anyway.
 *
 * Failures reject with `ModbusRequestError` carrying a stable code: TIMEOUT, CRC_ERROR, WRONG_UNIT_ID,
 * TRUNCATED_FRAME, MODBUS_EXCEPTION, BAD_RESPONSE, and CONNECTION_REFUSED / CONNECTION_LOST for the
 * transport. A transport that closed is reopened on the next request, with backoff when opening fails.
 */
import type { DriverLogger as RtuLogger } from '../../driver-logger.js';
import { performance } from 'node:perf_hooks';
import type { ReadError, ReadErrorCode } from '../../reading.js';
import { Backoff, type BackoffOptions } from '../backoff.js';
import { connectionLostError, connectionRefusedError, timeoutError } from '../errors.js';
import { type ModbusRequester, ModbusRequestError } from '../requester.js';
import {
  encodeRequest,
  expectedResponseLength,
  MAX_FRAME_LENGTH,
  parseResponse,
  responseLength,
  type RtuRequest,
  type RtuResponse,
  truncatedFrameError,
} from './frame.js';
import { interFrameGapMs, type LineSettings, transmissionTimeMs } from './line-timing.js';
import type { ByteTransport } from './transport.js';

/** The logging surface of the RTU parts (a pino child logger fits). */
export type { DriverLogger as RtuLogger } from '../../driver-logger.js';

export interface RtuMasterOptions {
  /** Baud rate, character format and gap of the line. */
  line: LineSettings;
  logger?: RtuLogger;
  /** Silence that ends a response frame shorter than its header says. Default max(t3.5, 50 ms). */
  frameSilenceMs?: number;
  /** Wait after a broadcast before the next request (the slaves' turnaround delay, 2.4.1). Default 100 ms. */
  broadcastTurnaroundMs?: number;
  /** Backoff between failed attempts to open the transport. Default 500 ms doubling to 30 s. */
  reopenBackoff?: BackoffOptions;
  /** Monotonic milliseconds; performance.now() by default. */
  now?: () => number;
}

export interface RtuMasterStats {
  /** Transactions started (the transport was open and the request went out). */
  requests: number;
  /** Transactions answered with a good frame (data, write confirmation). */
  answered: number;
  /** Failed transactions by code, including those that never reached the line (transport down). */
  failures: Partial<Record<ReadErrorCode, number>>;
  bytesSent: number;
  bytesReceived: number;
  /** Bytes received outside any transaction, or after the answer: late or unsolicited traffic. */
  strayBytes: number;
  /** Answers from another unit that were dropped while waiting. */
  foreignFrames: number;
  /** Wire time of all bytes sent and received, at the line's character time. */
  wireTimeMs: number;
  /** Times the transport was opened. */
  opens: number;
}

/** The transaction in progress. */
interface Exchange {
  request: RtuRequest;
  expectedLength: number;
  received: Buffer;
  /** Error of the last answer from another unit, reported if nothing better comes. */
  foreign: ReadError | null;
  settle(outcome: RtuResponse | ReadError): void;
  silenceTimer: NodeJS.Timeout | null;
}

const DEFAULT_BROADCAST_TURNAROUND_MS = 100;
const MIN_FRAME_SILENCE_MS = 50;

function isReadError(outcome: RtuResponse | ReadError): outcome is ReadError {
  return 'code' in outcome;
}

/** Node truncates timer delays to whole milliseconds; round up so a wait is never shorter than asked. */
function sleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, Math.ceil(ms)));
}

export class RtuMaster implements ModbusRequester {
  readonly stats: RtuMasterStats = {
    requests: 0,
    answered: 0,
    failures: {},
    bytesSent: 0,
    bytesReceived: 0,
    strayBytes: 0,
    foreignFrames: 0,
    wireTimeMs: 0,
    opens: 0,
  };
  private readonly transport: ByteTransport;
  private readonly line: LineSettings;
  private readonly logger: RtuLogger | undefined;
  private readonly gapMs: number;
  private readonly frameSilenceMs: number;
  private readonly broadcastTurnaroundMs: number;
  private readonly reopenBackoff: Backoff;
  private readonly now: () => number;

  /** Tail of the request queue: each transaction starts when the previous one has settled. */
  private tail: Promise<unknown> = Promise.resolve();
  private exchange: Exchange | null = null;
  /** Monotonic time from which the next request may start (last activity on the line + t3.5). */
  private lineFreeAt = 0;
  /** Monotonic time before which the transport is not reopened, and why it is down. */
  private reopenAt = 0;
  private downError: ReadError | null = null;
  private closed = false;

  constructor(transport: ByteTransport, opts: RtuMasterOptions) {
    this.transport = transport;
    this.line = opts.line;
    this.logger = opts.logger;
    this.gapMs = interFrameGapMs(opts.line);
    this.frameSilenceMs = opts.frameSilenceMs ?? Math.max(this.gapMs, MIN_FRAME_SILENCE_MS);
    this.broadcastTurnaroundMs = opts.broadcastTurnaroundMs ?? DEFAULT_BROADCAST_TURNAROUND_MS;
    this.reopenBackoff = new Backoff({ initialMs: 500, maxMs: 30_000, seed: transport.description, ...opts.reopenBackoff });
    this.now = opts.now ?? (() => performance.now());
  }

  /** The transport's description (`/dev/ttyUSB0`, `tcp://host:port`). */
  get description(): string {
    return this.transport.description;
  }

  async readRegisters(unitId: number, fn: 'holding' | 'input', address: number, quantity: number, timeoutMs: number): Promise<Uint16Array> {
    const response = await this.request({ unitId, fn: fn === 'holding' ? 3 : 4, address, quantity }, timeoutMs);
    if (response.kind !== 'registers') throw new Error(`internal: expected registers, got ${response.kind}`);
    return response.registers;
  }

  async readBits(unitId: number, fn: 'coil' | 'discrete', address: number, quantity: number, timeoutMs: number): Promise<Uint8Array> {
    const response = await this.request({ unitId, fn: fn === 'coil' ? 1 : 2, address, quantity }, timeoutMs);
    if (response.kind !== 'bits') throw new Error(`internal: expected bits, got ${response.kind}`);
    return response.bits;
  }

  async writeRegister(unitId: number, address: number, value: number, timeoutMs: number): Promise<void> {
    await this.request({ unitId, fn: 6, address, value }, timeoutMs);
  }

  /** FC 16: several holding registers in one request. */
  async writeRegisters(unitId: number, address: number, values: readonly number[], timeoutMs: number): Promise<void> {
    await this.request({ unitId, fn: 16, address, values }, timeoutMs);
  }

  /**
   * Queues one transaction. Resolves with the answer; rejects with ModbusRequestError for every failure
   * on the line, and with RangeError for a request that cannot be encoded (nothing is sent then).
   */
  request(request: RtuRequest, timeoutMs: number): Promise<RtuResponse> {
    let frame: Buffer;
    try {
      frame = encodeRequest(request);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!(timeoutMs > 0)) return Promise.reject(new RangeError(`timeoutMs must be > 0, got ${timeoutMs}`));
    const run = this.tail.then(() => this.transact(request, frame, timeoutMs));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Fails the transaction in flight (CONNECTION_LOST), rejects all later ones and closes the transport. */
  async close(): Promise<void> {
    this.closed = true;
    this.exchange?.settle(connectionLostError('master closed'));
    await this.transport.close();
  }

  private fail(error: ReadError): never {
    this.stats.failures[error.code] = (this.stats.failures[error.code] ?? 0) + 1;
    throw new ModbusRequestError(error);
  }

  private async transact(request: RtuRequest, frame: Buffer, timeoutMs: number): Promise<RtuResponse> {
    if (this.closed) this.fail(connectionLostError('master closed'));
    await this.ensureOpen();
    // t3.5 of silence before the request; lineFreeAt moves on if stray bytes arrive meanwhile.
    while (this.now() < this.lineFreeAt) await sleep(this.lineFreeAt - this.now());
    if (this.closed) this.fail(connectionLostError('master closed'));

    const requestWireMs = transmissionTimeMs(frame.length, this.line);
    const outcome = await new Promise<RtuResponse | ReadError>((resolve) => {
      let responseTimer: NodeJS.Timeout | null = null;
      const exchange: Exchange = {
        request,
        expectedLength: expectedResponseLength(request),
        received: Buffer.alloc(0),
        foreign: null,
        silenceTimer: null,
        settle: (result) => {
          if (this.exchange !== exchange) return;
          this.exchange = null;
          if (responseTimer !== null) clearTimeout(responseTimer);
          if (exchange.silenceTimer !== null) clearTimeout(exchange.silenceTimer);
          resolve(result);
        },
      };
      this.exchange = exchange;
      this.stats.requests++;
      this.stats.bytesSent += frame.length;
      this.stats.wireTimeMs += requestWireMs;
      const sentAt = this.now();
      this.transport.write(frame).then(
        () => {
          if (this.exchange !== exchange) return;
          if (request.unitId === 0) {
            // Broadcast: nobody answers; the slaves need their turnaround delay before the next request.
            this.lineFreeAt = sentAt + requestWireMs + this.broadcastTurnaroundMs;
            exchange.settle({ kind: 'written' });
            return;
          }
          // The response timeout counts from the end of the request on the wire (the OS sends it after write()).
          const waitMs = Math.max(0, sentAt + requestWireMs - this.now()) + timeoutMs;
          responseTimer = setTimeout(() => this.onResponseTimeout(exchange, timeoutMs), Math.ceil(waitMs));
        },
        (err: unknown) => {
          exchange.settle(connectionLostError(`write to ${this.transport.description} failed: ${String(err)}`));
          void this.transport.close();
        },
      );
    });

    if (!isReadError(outcome)) {
      this.stats.answered++;
      return outcome;
    }
    if (outcome.code === 'TIMEOUT' || outcome.code === 'TRUNCATED_FRAME') {
      // The line may still carry the tail of a late answer; keep t3.5 after now as well.
      this.lineFreeAt = Math.max(this.lineFreeAt, this.now() + this.gapMs);
    }
    return this.fail(outcome);
  }

  private async ensureOpen(): Promise<void> {
    if (this.transport.isOpen) return;
    if (this.now() < this.reopenAt && this.downError !== null) this.fail(this.downError);
    try {
      await this.transport.open({ data: (chunk) => this.onData(chunk), closed: (reason) => this.onClosed(reason) });
    } catch (err) {
      const error = connectionRefusedError(`${this.transport.description}: ${err instanceof Error ? err.message : String(err)}`);
      const delay = this.reopenBackoff.next();
      this.reopenAt = this.now() + delay;
      this.downError = error;
      const log = this.reopenBackoff.attempts === 1 ? this.logger?.warn : this.logger?.debug;
      log?.call(this.logger, 'rtu line cannot be opened', { line: this.transport.description, message: error.message, retryInMs: delay });
      this.fail(error);
    }
    this.stats.opens++;
    this.reopenBackoff.reset();
    this.downError = null;
    this.lineFreeAt = this.now() + this.gapMs;
    this.logger?.debug('rtu line open', { line: this.transport.description });
  }

  private onClosed(reason: string): void {
    this.logger?.info('rtu line closed, reopening on the next request', { line: this.transport.description, reason });
    // Reopen at once next time: a device server that drops idle connections must not cost a backoff.
    this.reopenAt = 0;
    this.exchange?.settle(connectionLostError(`${this.transport.description}: ${reason}`));
  }

  private onData(chunk: Buffer): void {
    const now = this.now();
    this.stats.bytesReceived += chunk.length;
    this.stats.wireTimeMs += transmissionTimeMs(chunk.length, this.line);
    this.lineFreeAt = Math.max(this.lineFreeAt, now + this.gapMs);
    const exchange = this.exchange;
    if (exchange === null) {
      this.stats.strayBytes += chunk.length;
      this.logger?.debug('rtu bytes outside a transaction dropped', { line: this.transport.description, bytes: chunk.length });
      return;
    }
    exchange.received = exchange.received.length === 0 ? chunk : Buffer.concat([exchange.received, chunk]);
    this.delimit(exchange);
  }

  /** Cuts complete frames off the received bytes; arms the silence timer while a frame is incomplete. */
  private delimit(exchange: Exchange): void {
    if (exchange.silenceTimer !== null) {
      clearTimeout(exchange.silenceTimer);
      exchange.silenceTimer = null;
    }
    while (this.exchange === exchange && exchange.received.length > 0) {
      const length = responseLength(exchange.received);
      if (typeof length !== 'number' || length > MAX_FRAME_LENGTH || exchange.received.length < length) {
        // Incomplete, or no layout to go by: only silence can end it.
        exchange.silenceTimer = setTimeout(() => this.onSilence(exchange), this.frameSilenceMs);
        return;
      }
      const frame = exchange.received.subarray(0, length);
      exchange.received = exchange.received.subarray(length);
      this.conclude(exchange, frame);
    }
  }

  /** A delimited frame: the answer, or an error; answers from other units are dropped and listening goes on. */
  private conclude(exchange: Exchange, frame: Buffer): void {
    const parsed = parseResponse(exchange.request, frame);
    if (!parsed.ok && parsed.error.code === 'WRONG_UNIT_ID') {
      this.stats.foreignFrames++;
      exchange.foreign = parsed.error;
      this.logger?.debug('rtu answer from another unit dropped', { line: this.transport.description, message: parsed.error.message });
      return;
    }
    if (exchange.received.length > 0) this.stats.strayBytes += exchange.received.length;
    exchange.settle(parsed.ok ? parsed.response : parsed.error);
  }

  private onSilence(exchange: Exchange): void {
    exchange.silenceTimer = null;
    if (this.exchange !== exchange || exchange.received.length === 0) return;
    const frame = exchange.received;
    exchange.received = Buffer.alloc(0);
    this.conclude(exchange, frame);
  }

  private onResponseTimeout(exchange: Exchange, timeoutMs: number): void {
    if (this.exchange !== exchange) return;
    if (exchange.received.length > 0) {
      // A frame was still coming in: it stopped short (or is still trickling in far too slowly).
      const declared = responseLength(exchange.received);
      exchange.settle(truncatedFrameError(exchange.received, typeof declared === 'number' ? declared : exchange.expectedLength));
      return;
    }
    exchange.settle(exchange.foreign ?? timeoutError(timeoutMs));
  }
}
