/**
 * Modbus TCP driver for ONE device: its own TCP connection, its own poll timer and its own reconnect
 * backoff, so that a dead or silent device never delays any other device.
 *
 * What is read and how answers become readings is the device reader's (device-reader.ts: block plan,
 * fast/slow points, decoding, exception fallback, one timeout per poll); this file is the channel: the
 * connection (`TcpChannel`, a `ModbusRequester` over modbus-serial) and the poll timer.
 *
 * Poll cycle: fixed-rate ticks every `pollIntervalMs` (within a few ms), the first one delayed by a phase
 * derived from the device id (so a thousand devices do not poll in the same tick). Each tick reads the fast
 * points, and the slow ones too when `slowPollIntervalMs` has passed. A tick that finds the previous poll
 * still running is skipped, never queued: one request in flight per device, and no burst of catch-up polls
 * after a stall. Each poll delivers one batch with one reading per polled point, in configured order.
 *
 * Failures are readings too: every point of a failed block is `bad` with `value: null` and the error, never
 * a 0. While the device is unreachable each poll still delivers a bad batch (so the gateway learns, once per
 * interval, that the device is down) without touching the network until the backoff delay has passed.
 *
 * Timers run on real (monotonic) time; the injected clock stamps the readings and times the slow points.
 */
import type { DriverLogger } from '../driver-logger.js';
import { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import modbusSerial from 'modbus-serial';
import type { Clock } from '../../gateway/clock.js';
import type { ModbusTcpDeviceConfig } from '../device-config.js';
import type { Driver, ReadError, Reading, ReadingSink } from '../reading.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import type { DevicePlan } from './block-plan.js';
import { ModbusDeviceReader } from './device-reader.js';
import { connectionLostError, connectionRefusedError, toReadError } from './errors.js';
import { ModbusRequestError, type ModbusRequester } from './requester.js';
import { staggerOffsetMs } from './stagger.js';

/**
 * modbus-serial is CommonJS and declares `export default ModbusRTU`; under NodeNext the default import is
 * `module.exports`, whose `.default` is the constructor again (index.js sets
 * `module.exports.default = module.exports`), so `.default` is both correctly typed and correct at run time.
 */
const ModbusRTU = modbusSerial.default;
type ModbusClient = InstanceType<typeof ModbusRTU>;

export type { DriverLogger } from '../driver-logger.js';

export interface ModbusTcpDriverOptions {
  /** Stamps the readings (sourceTs, gatewayTs) and the stats, and times the slow points. */
  clock: Clock;
  logger?: DriverLogger;
  /** Reconnect backoff; defaults to 500 ms doubling up to 30 s with ±10 % jitter seeded by the device id. */
  backoff?: BackoffOptions;
  /**
   * Consecutive request timeouts after which the connection is closed and opened again. A serial device
   * server often keeps a half-open socket after its serial side or its peer hangs. Default 3.
   */
  timeoutsBeforeReconnect?: number;
}

export interface ModbusTcpDriverStats {
  /** Polls started (skipped ticks are not polls). */
  polls: number;
  /** Polls that read the slow points too (`all` polls). */
  slowPolls: number;
  /** Polls in which every request was answered with data. */
  goodPolls: number;
  /** Polls in which at least one request failed (timeout, exception, connection down, bad frame). */
  badPolls: number;
  /** Clock time at which the last poll started. */
  lastPollStartedAt: number | null;
  /** Clock time at which the last good poll completed. */
  lastGoodAt: number | null;
  /** Bad polls since the last good one. */
  consecutiveErrors: number;
  /** Ticks skipped because the previous poll was still running. */
  skippedTicks: number;
  /** TCP connections opened so far. */
  connects: number;
  /** Modbus requests sent so far (answered or not). */
  requests: number;
}

const DEFAULT_TIMEOUTS_BEFORE_RECONNECT = 3;
/** Poll phases are multiples of this (see start()). */
const TICK_GRID_MS = 5;

export class ModbusTcpDriver implements Driver {
  readonly id: string;
  readonly deviceIds: readonly string[];
  private readonly device: ModbusTcpDeviceConfig;
  private readonly clock: Clock;
  private readonly logger: DriverLogger | undefined;
  private readonly reader: ModbusDeviceReader;
  private readonly channel: TcpChannel;

  private sink: ReadingSink | null = null;
  private started = false;
  private stopped = false;
  /** The one-shot timer that starts (or re-aligns) the ticks. */
  private timer: NodeJS.Timeout | null = null;
  /** The interval that ticks once started. */
  private ticker: NodeJS.Timeout | null = null;
  /** How far a tick may be from its due time before the interval is re-aligned. */
  private readonly maxDriftMs: number;
  /** Monotonic time (performance.now()) of the next tick. */
  private nextDue = 0;
  private inFlight: Promise<void> | null = null;

  private readonly stats = {
    polls: 0,
    slowPolls: 0,
    goodPolls: 0,
    badPolls: 0,
    lastPollStartedAt: null as number | null,
    lastGoodAt: null as number | null,
    consecutiveErrors: 0,
    skippedTicks: 0,
  };

  /** @throws RangeError for a device that cannot be polled (see ModbusDeviceReader for the point checks). */
  constructor(device: ModbusTcpDeviceConfig, opts: ModbusTcpDriverOptions) {
    if (!(device.pollIntervalMs > 0)) throw new RangeError(`device ${device.id}: pollIntervalMs must be > 0`);
    this.id = device.id;
    this.deviceIds = [device.id];
    this.maxDriftMs = Math.min(Math.max(2, device.pollIntervalMs * 0.05), 50);
    this.device = device;
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.reader = new ModbusDeviceReader(device, opts.logger === undefined ? { clock: opts.clock } : { clock: opts.clock, logger: opts.logger });
    this.channel = new TcpChannel(device, {
      backoff: new Backoff({ seed: device.id, ...opts.backoff }),
      timeoutsBeforeReconnect: opts.timeoutsBeforeReconnect ?? DEFAULT_TIMEOUTS_BEFORE_RECONNECT,
      logger: opts.logger,
    });
  }

  /** The read requests of a fast and of a full poll (for diagnostics and tests). */
  get plan(): DevicePlan {
    return this.reader.plan;
  }

  getStats(): ModbusTcpDriverStats {
    return { ...this.stats, connects: this.channel.connects, requests: this.channel.requests };
  }

  async start(sink: ReadingSink): Promise<void> {
    if (this.started || this.stopped) throw new Error(`driver ${this.id} cannot be started twice`);
    this.started = true;
    this.sink = sink;
    // The device's phase, on a grid of TICK_GRID_MS of the monotonic clock: devices whose phases fall in
    // one grid slot tick in the same event-loop wakeup (one wakeup per slot, not per device), and the
    // slots still spread the devices over the interval.
    const due = performance.now() + staggerOffsetMs(this.id, this.device.pollIntervalMs);
    this.nextDue = Math.ceil(due / TICK_GRID_MS) * TICK_GRID_MS;
    this.align();
  }

  async stop(): Promise<void> {
    if (this.stopped) {
      await this.inFlight;
      return;
    }
    this.stopped = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.ticker !== null) {
      clearInterval(this.ticker);
      this.ticker = null;
    }
    // Fails the connect or request in flight at once, and refuses new ones.
    this.channel.close();
    // Wait for the poll in flight so that no reading arrives after stop().
    await this.inFlight;
    this.sink = null;
  }

  /**
   * (Re)starts the ticks on the fixed-rate schedule: a one-shot timer to `nextDue`, then an interval. An
   * interval rather than a timeout re-armed per tick: timeouts with a different delay every tick each cost
   * an event-loop wakeup of their own (about 8 us of CPU per tick on the 50-device benchmark), while
   * intervals of the same period that fall in the same millisecond share one. Node restarts an interval
   * from the time its callback ran, so it drifts late a little each tick; `onTick` re-aligns it when the
   * drift passes `maxDriftMs`, which keeps the stagger between devices.
   */
  private align(): void {
    if (this.ticker !== null) {
      clearInterval(this.ticker);
      this.ticker = null;
    }
    this.timer = setTimeout(this.onAligned, Math.max(0, this.nextDue - performance.now()));
  }

  private readonly onAligned = (): void => {
    this.timer = null;
    if (this.stopped) return;
    this.ticker = setInterval(this.onTick, this.device.pollIntervalMs);
    this.onTick();
  };

  private readonly onTick = (): void => {
    if (this.stopped) return;
    const now = performance.now();
    const lateness = now - this.nextDue;
    if (this.inFlight !== null) {
      this.stats.skippedTicks++;
    } else {
      const poll = this.poll()
        .catch((err: unknown) => {
          // poll() handles its own failures; reaching this is a bug, but it must not stop polling.
          this.logger?.error('modbus poll failed unexpectedly', { deviceId: this.id, error: String(err) });
        })
        .finally(() => {
          if (this.inFlight === poll) this.inFlight = null;
        });
      this.inFlight = poll;
    }
    // Fixed rate: the next tick is one interval after this one's due time, not after the poll, and after
    // a stall the missed ticks are dropped rather than fired in a burst.
    const interval = this.device.pollIntervalMs;
    this.nextDue += lateness >= 0 ? (Math.floor(lateness / interval) + 1) * interval : interval;
    if (lateness > this.maxDriftMs || lateness < -this.maxDriftMs) this.align();
  };

  private async poll(): Promise<void> {
    const startedAt = this.clock.now();
    this.stats.polls++;
    this.stats.lastPollStartedAt = startedAt;
    const kind = this.reader.dueKind(startedAt);
    if (kind === 'all') this.stats.slowPolls++;

    const failuresBefore = this.channel.failures;
    const down = this.channel.downUntilBackoff();
    // Backing off: the batch says the device is down, and the network is not touched.
    const readings = down !== null ? this.reader.fail(kind, down) : await this.reader.poll(this.channel, kind);
    if (this.stopped) return;

    if (down === null && this.channel.failures === failuresBefore) {
      this.stats.goodPolls++;
      this.stats.lastGoodAt = this.clock.now();
      this.stats.consecutiveErrors = 0;
    } else {
      this.stats.badPolls++;
      this.stats.consecutiveErrors++;
    }
    if (readings.length > 0) this.emit(readings);
  }

  private emit(readings: Reading[]): void {
    const sink = this.sink;
    if (sink === null) return;
    try {
      sink(readings);
    } catch (err) {
      // A failing consumer must not stop the device from being polled.
      this.logger?.error('reading sink threw', { deviceId: this.id, error: String(err) });
    }
  }
}

/** One open TCP connection. */
interface Connection {
  socket: Socket;
  client: ModbusClient;
  /** Set once the connection is given up; late events from its socket are then ignored. */
  closed: boolean;
  /** Settles the request in flight, if any, when the connection goes away under it. */
  abortRequest: ((error: ReadError) => void) | null;
  /** Last socket error, to say why the connection closed. */
  lastSocketError: string | null;
}

interface TcpChannelOptions {
  backoff: Backoff;
  timeoutsBeforeReconnect: number;
  logger: DriverLogger | undefined;
}

type Outcome<T> = { value: T } | { error: ReadError };
type SendOutcome<T> = { value: T; error: null } | { value: null; error: ReadError };

/** A request on a modbus-serial client, with its answer in the requester's form. Module-level: no closure per request. */
type Operation<T> = (client: ModbusClient, address: number, arg: number) => Promise<T>;

const toRegisters = (result: { data: number[] }): Uint16Array => new Uint16Array(result.data);
const readHolding: Operation<Uint16Array> = (client, address, quantity) => client.readHoldingRegisters(address, quantity).then(toRegisters);
const readInput: Operation<Uint16Array> = (client, address, quantity) => client.readInputRegisters(address, quantity).then(toRegisters);
/** modbus-serial returns whole bytes' worth of bits (a multiple of 8); keep the ones asked for. */
function toBits(data: readonly boolean[], quantity: number): Uint8Array {
  const bits = new Uint8Array(Math.min(quantity, data.length));
  for (let i = 0; i < bits.length; i++) bits[i] = data[i] === true ? 1 : 0;
  return bits;
}
const readCoils: Operation<Uint8Array> = (client, address, quantity) => client.readCoils(address, quantity).then((r) => toBits(r.data, quantity));
const readDiscreteInputs: Operation<Uint8Array> = (client, address, quantity) =>
  client.readDiscreteInputs(address, quantity).then((r) => toBits(r.data, quantity));
const writeRegister: Operation<void> = (client, address, value) => client.writeRegister(address, value).then(() => undefined);

/**
 * The device's TCP connection as a `ModbusRequester`: opens it on demand, keeps it, and classifies every
 * failure with a stable code. A failed connect or a connection lost during a request starts the backoff;
 * until it has passed every request fails at once with the error that started it. Requests are serialized
 * (one in flight per connection: many device servers handle only one).
 */
class TcpChannel implements ModbusRequester {
  /** Connections opened, requests sent, requests failed (for stats and good/bad polls). */
  connects = 0;
  requests = 0;
  failures = 0;

  private readonly device: ModbusTcpDeviceConfig;
  private readonly backoff: Backoff;
  private readonly timeoutsBeforeReconnect: number;
  private readonly logger: DriverLogger | undefined;
  private connection: Connection | null = null;
  private closedForGood = false;
  /** Cancels a connect attempt in progress (used by close()). */
  private abortConnect: (() => void) | null = null;
  /** Monotonic time before which no connect is attempted. */
  private reconnectAt = 0;
  /** What requests fail with while the device is unreachable. */
  private downError: ReadError = Object.freeze(connectionRefusedError('not connected yet'));
  private consecutiveTimeouts = 0;
  /** The last connection was reopened because of timeouts: a routine event for a dead meter, logged at debug. */
  private reopenedForTimeouts = false;
  /** Serializes requests: set while one is in flight; waiters run in order. */
  private busy = false;
  private readonly waiting: Array<() => void> = [];

  constructor(device: ModbusTcpDeviceConfig, opts: TcpChannelOptions) {
    this.device = device;
    this.backoff = opts.backoff;
    this.timeoutsBeforeReconnect = opts.timeoutsBeforeReconnect;
    this.logger = opts.logger;
  }

  /** The error to report while backing off, or null when a request may go out (possibly after a connect). */
  downUntilBackoff(): ReadError | null {
    return this.connection === null && performance.now() < this.reconnectAt ? this.downError : null;
  }

  readRegisters(unitId: number, fn: 'holding' | 'input', address: number, quantity: number, timeoutMs: number): Promise<Uint16Array> {
    return this.exchange(unitId, timeoutMs, fn === 'holding' ? readHolding : readInput, address, quantity);
  }

  readBits(unitId: number, fn: 'coil' | 'discrete', address: number, quantity: number, timeoutMs: number): Promise<Uint8Array> {
    return this.exchange(unitId, timeoutMs, fn === 'coil' ? readCoils : readDiscreteInputs, address, quantity);
  }

  writeRegister(unitId: number, address: number, value: number, timeoutMs: number): Promise<void> {
    return this.exchange(unitId, timeoutMs, writeRegister, address, value);
  }

  /** Fails what is in flight and refuses everything from now on. */
  close(): void {
    this.closedForGood = true;
    this.abortConnect?.();
    if (this.connection !== null) this.dropConnection(this.connection, 'driver stopped');
    for (const next of this.waiting.splice(0)) next();
  }

  /**
   * One request: waits its turn, connects if needed, sends, classifies a failure (and rejects with it as a
   * ModbusRequestError). Kept to one async frame on the hot path: it runs thousands of times a second.
   */
  private async exchange<T>(unitId: number, timeoutMs: number, operation: Operation<T>, address: number, arg: number): Promise<T> {
    if (this.busy) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.busy = true;
    try {
      let connection = this.connection;
      if (connection === null) connection = await this.connectOrThrow();
      this.requests++;
      const outcome = await this.send(connection, unitId, timeoutMs, operation, address, arg);
      if (outcome.error === null) {
        this.consecutiveTimeouts = 0;
        this.backoff.reset();
        return outcome.value as T;
      }
      throw new ModbusRequestError(this.classified(connection, outcome.error));
    } catch (err) {
      this.failures++;
      throw err;
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.busy = false;
    }
  }

  /** A connection to send on, or a ModbusRequestError: stopped, backing off, or the connect failed. */
  private async connectOrThrow(): Promise<Connection> {
    if (this.closedForGood) throw new ModbusRequestError(connectionLostError('driver stopped'));
    const down = this.downUntilBackoff();
    if (down !== null) throw new ModbusRequestError(down);
    const connected = await this.connect();
    if ('error' in connected) {
      throw new ModbusRequestError(this.closedForGood ? connected.error : this.markDown(connected.error, 'connect failed'));
    }
    return connected.value;
  }

  /** What a failed request means for the connection; returns the error to report. */
  private classified(connection: Connection, error: ReadError): ReadError {
    if (error.code === 'TIMEOUT') {
      this.consecutiveTimeouts++;
      if (this.consecutiveTimeouts >= this.timeoutsBeforeReconnect) {
        this.logger?.debug('modbus device not answering, reopening the connection', {
          deviceId: this.device.id,
          timeouts: this.consecutiveTimeouts,
        });
        this.consecutiveTimeouts = 0;
        this.reopenedForTimeouts = true;
        this.dropConnection(connection, `${this.timeoutsBeforeReconnect} consecutive timeouts`);
        // The timeouts already spaced the attempts out: reconnect at the next request.
        this.reconnectAt = 0;
      }
    } else if (error.code === 'CONNECTION_LOST' && !connection.closed) {
      // Usually the socket's close event got here first (and handled it); if not, the request itself found
      // the connection gone, which counts as a loss during a request: back off.
      this.dropConnection(connection, error.message, error);
      return this.markDown(error, 'connection lost');
    }
    // MODBUS_EXCEPTION and BAD_RESPONSE: the device is talking; the connection stays.
    return error;
  }

  /** Sends on the connection; settles with the answer, the request's failure, or the connection's loss. */
  private send<T>(
    connection: Connection,
    unitId: number,
    timeoutMs: number,
    operation: Operation<T>,
    address: number,
    arg: number,
  ): Promise<SendOutcome<T>> {
    return new Promise<SendOutcome<T>>((resolve) => {
      if (connection.closed) {
        resolve({ value: null, error: this.downError.code === 'CONNECTION_LOST' ? this.downError : connectionLostError('connection closed') });
        return;
      }
      let settled = false;
      const settle = (outcome: SendOutcome<T>): void => {
        if (settled) return;
        settled = true;
        connection.abortRequest = null;
        resolve(outcome);
      };
      connection.abortRequest = (error) => settle({ value: null, error });
      // Both are plain field assignments in modbus-serial; it enforces the timeout per request and
      // rejects with "Timed out".
      connection.client.setID(unitId);
      connection.client.setTimeout(timeoutMs);
      operation(connection.client, address, arg).then(
        (value) => settle({ value, error: null }),
        (err: unknown) => settle({ value: null, error: toReadError(err, 'request', timeoutMs) }),
      );
    });
  }

  /** Records that the device is unreachable and when to try again; returns the error to report. */
  private markDown(error: ReadError, why: string): ReadError {
    const delay = this.backoff.next();
    this.reconnectAt = performance.now() + delay;
    this.downError = Object.freeze({ ...error });
    const log = this.backoff.attempts === 1 ? this.logger?.warn : this.logger?.debug;
    log?.call(this.logger, `modbus device unreachable: ${why}`, {
      deviceId: this.device.id,
      code: error.code,
      message: error.message,
      retryInMs: delay,
    });
    return this.downError;
  }

  /**
   * Opens the TCP socket ourselves and hands it to modbus-serial (`linkTCP`) rather than calling
   * `connectTCP`: modbus-serial has no connect timeout of its own (its `timeout` option leaves the socket
   * connecting after reporting failure) and it does not report a connection reset (its error handler clears
   * the open flag before the close handler checks it, so no 'close' is emitted). Owning the socket gives a
   * bounded connect and immediate notice of a lost connection.
   */
  private connect(): Promise<Outcome<Connection>> {
    const { host, port, timeoutMs } = this.device;
    return new Promise<Outcome<Connection>>((resolve) => {
      const socket = new Socket();
      let adopted: Connection | null = null;
      let settled = false;
      const finish = (outcome: Outcome<Connection>): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.removeListener('connect', onConnect);
        socket.removeListener('error', onError);
        this.abortConnect = null;
        if ('error' in outcome) {
          // Not a lost connection: the caller reports the failure, so silence the adopted watchers.
          if (adopted !== null) adopted.closed = true;
          adopted?.client.destroy(() => undefined);
          socket.destroy();
        }
        resolve(outcome);
      };
      const onError = (err: Error): void => finish({ error: toReadError(err, 'connect', timeoutMs) });
      const onConnect = (): void => {
        if (settled) return;
        const connection = this.adopt(socket);
        adopted = connection;
        // linkTCP resolves at once for an already connected socket.
        connection.client.linkTCP(socket, { port }).then(
          () => {
            if (settled) return;
            if (connection.closed) {
              finish({ error: connectionRefusedError('connection closed right after it was opened') });
              return;
            }
            this.connection = connection;
            this.connects++;
            // Debug only: the gateway reports devices going offline and coming back (device.availability).
            this.logger?.debug('modbus device connected', { deviceId: this.device.id, host, port, afterTimeouts: this.reopenedForTimeouts });
            this.reopenedForTimeouts = false;
            finish({ value: connection });
          },
          (err: unknown) => finish({ error: toReadError(err, 'connect', timeoutMs) }),
        );
      };
      const timer = setTimeout(
        () => finish({ error: connectionRefusedError(`no answer from ${host}:${port} within ${timeoutMs} ms`) }),
        timeoutMs,
      );
      this.abortConnect = () => finish({ error: connectionLostError('driver stopped') });
      socket.once('connect', onConnect);
      socket.once('error', onError);
      socket.setNoDelay(true);
      socket.connect({ host, port });
    });
  }

  /** Wraps a connected socket: watches it for errors and close for as long as it lives. */
  private adopt(socket: Socket): Connection {
    const connection: Connection = {
      socket,
      client: new ModbusRTU(),
      closed: false,
      abortRequest: null,
      lastSocketError: null,
    };
    // Keepalive finds a peer that vanished without a FIN even when no request is outstanding.
    socket.setKeepAlive(true, 10_000);
    socket.on('error', (err: Error) => {
      connection.lastSocketError = err.message;
    });
    socket.on('close', () => {
      this.onConnectionGone(connection, connection.lastSocketError ?? 'closed by the device');
    });
    // modbus-serial relays port errors as 'error' events; without a listener they would be thrown.
    connection.client.on('error', (err: unknown) => {
      connection.lastSocketError = String(err);
    });
    return connection;
  }

  /**
   * The connection died under us (peer closed, reset, keepalive failure). Lost during a request, the device
   * is treated as down and retried after the backoff. Lost while idle, the next request reconnects at once:
   * device servers commonly close connections idle for longer than their timeout, which must not cost a bad
   * batch.
   */
  private onConnectionGone(connection: Connection, detail: string): void {
    if (connection.closed) return;
    const duringRequest = connection.abortRequest !== null;
    const error = Object.freeze(connectionLostError(detail));
    this.dropConnection(connection, detail, error);
    if (this.closedForGood) return;
    if (duringRequest) {
      this.markDown(error, 'connection lost');
    } else {
      this.reconnectAt = 0;
      this.logger?.info('modbus connection closed while idle, reconnecting at the next poll', { deviceId: this.device.id, detail });
    }
  }

  /** Closes a connection on purpose (or after loss) and fails the request in flight on it. */
  private dropConnection(connection: Connection, reason: string, error?: ReadError): void {
    if (connection.closed) return;
    connection.closed = true;
    if (this.connection === connection) this.connection = null;
    connection.abortRequest?.(error ?? Object.freeze(connectionLostError(reason)));
    // destroy() (unlike close()) also clears modbus-serial's pending request timers. Its callback is not
    // optional at run time, whatever the typings say.
    connection.client.destroy(() => undefined);
    connection.socket.destroy();
  }
}
