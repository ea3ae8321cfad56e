/**
 * Modbus TCP driver for ONE device: its own TCP connection, its own poll timer and its own
 * reconnect backoff, so that a dead or silent device never delays any other device.
 *
 * Poll cycle: fixed-rate ticks every `pollIntervalMs`, the first one delayed by a phase derived
 * from the device id (so a thousand devices do not poll in the same tick). A tick that finds the
 * previous poll still running is skipped, never queued: one request in flight per device, and no
 * burst of catch-up polls after a stall. Each poll reads the planned register blocks one after the
 * other and delivers one batch with one reading per configured point, in configured order.
 *
 * Failures are readings too: every point of a failed block is `bad` with `value: null` and the
 * error, never a 0. While the device is unreachable each poll still delivers a bad batch (so the
 * gateway learns, once per interval, that the device is down) without touching the network until
 * the backoff delay has passed.
 *
 * Timers run on real (monotonic) time; the injected clock only stamps the readings, so a test may
 * use a fixed clock for reproducible timestamps.
 */
import { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import modbusSerial from 'modbus-serial';
import type { Clock } from '../../gateway/clock.js';
import type { ModbusTcpDeviceConfig } from '../../gateway/config/site-config.js';
import type { Driver, ReadError, Reading, ReadingSink } from '../reading.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { planBlocks, type ReadBlock } from './block-plan.js';
import { decode, toEngineering } from './codec.js';
import {
  connectionLostError,
  connectionRefusedError,
  decodeError,
  toReadError,
} from './errors.js';
import { staggerOffsetMs } from './stagger.js';

/**
 * modbus-serial is CommonJS and declares `export default ModbusRTU`; under NodeNext the default
 * import is `module.exports`, whose `.default` is the constructor again (index.js sets
 * `module.exports.default = module.exports`), so `.default` is both correctly typed and correct at run time.
 */
const ModbusRTU = modbusSerial.default;
type ModbusClient = InstanceType<typeof ModbusRTU>;

export interface DriverLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface ModbusTcpDriverOptions {
  /** Stamps the readings (sourceTs, gatewayTs) and the stats. */
  clock: Clock;
  logger?: DriverLogger;
  /** Reconnect backoff; defaults to 500 ms doubling up to 30 s with ±10 % jitter seeded by the device id. */
  backoff?: BackoffOptions;
  /**
   * Consecutive request timeouts after which the connection is closed and opened again. A serial
   * device server often keeps a half-open socket after its serial side or its peer hangs.
   */
  timeoutsBeforeReconnect?: number;
}

export interface ModbusTcpDriverStats {
  /** Polls started (skipped ticks are not polls). */
  polls: number;
  /** Polls in which every request was answered with data. */
  goodPolls: number;
  /** Polls in which at least one block failed (timeout, exception, connection down, bad frame). */
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

type RequestOutcome = { registers: readonly number[] } | { error: ReadError };
type ConnectOutcome = { connection: Connection } | { error: ReadError };

const DEFAULT_TIMEOUTS_BEFORE_RECONNECT = 3;

/** Errors are shared by all the readings of a block; frozen so one consumer cannot alter another's. */
function frozen(error: ReadError): ReadError {
  return Object.freeze(error);
}

export class ModbusTcpDriver implements Driver {
  readonly id: string;
  private readonly device: ModbusTcpDeviceConfig;
  private readonly clock: Clock;
  private readonly logger: DriverLogger | undefined;
  private readonly blocks: readonly ReadBlock[];
  private readonly backoff: Backoff;
  private readonly timeoutsBeforeReconnect: number;

  private sink: ReadingSink | null = null;
  private started = false;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  /** Monotonic time (performance.now()) of the next tick. */
  private nextDue = 0;
  private inFlight: Promise<void> | null = null;
  /** Cancels a connect attempt in progress (used by stop()). */
  private abortConnect: (() => void) | null = null;

  private connection: Connection | null = null;
  /** Monotonic time before which no connect is attempted. */
  private reconnectAt = 0;
  /** What each poll reports while the device is unreachable. */
  private downError: ReadError = frozen(connectionRefusedError('not connected yet'));
  private consecutiveTimeouts = 0;
  /** The last connection was reopened because of timeouts: a routine event for a dead meter, logged at debug. */
  private reopenedForTimeouts = false;

  private readonly stats: ModbusTcpDriverStats = {
    polls: 0,
    goodPolls: 0,
    badPolls: 0,
    lastPollStartedAt: null,
    lastGoodAt: null,
    consecutiveErrors: 0,
    skippedTicks: 0,
    connects: 0,
  };

  constructor(device: ModbusTcpDeviceConfig, opts: ModbusTcpDriverOptions) {
    if (!(device.pollIntervalMs > 0)) throw new RangeError(`device ${device.id}: pollIntervalMs must be > 0`);
    if (!(device.timeoutMs > 0)) throw new RangeError(`device ${device.id}: timeoutMs must be > 0`);
    if (!Number.isInteger(device.unitId) || device.unitId < 0 || device.unitId > 255) {
      throw new RangeError(`device ${device.id}: unitId must be 0..255`);
    }
    this.id = device.id;
    this.device = device;
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.blocks = planBlocks(device.points);
    this.backoff = new Backoff({ seed: device.id, ...opts.backoff });
    this.timeoutsBeforeReconnect = opts.timeoutsBeforeReconnect ?? DEFAULT_TIMEOUTS_BEFORE_RECONNECT;
  }

  /** The read requests one poll makes (for diagnostics and tests). */
  get plan(): readonly ReadBlock[] {
    return this.blocks;
  }

  getStats(): ModbusTcpDriverStats {
    return { ...this.stats };
  }

  async start(sink: ReadingSink): Promise<void> {
    if (this.started || this.stopped) throw new Error(`driver ${this.id} cannot be started twice`);
    this.started = true;
    this.sink = sink;
    this.nextDue = performance.now() + staggerOffsetMs(this.id, this.device.pollIntervalMs);
    this.arm();
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
    this.abortConnect?.();
    if (this.connection !== null) this.dropConnection(this.connection, 'driver stopped');
    // The poll in flight has been unblocked above; wait for it so no reading arrives after stop().
    await this.inFlight;
    this.sink = null;
  }

  private arm(): void {
    const delay = Math.max(0, this.nextDue - performance.now());
    this.timer = setTimeout(this.onTick, delay);
  }

  private readonly onTick = (): void => {
    this.timer = null;
    if (this.stopped) return;
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
    // Fixed rate: the next tick is one interval after this one's due time, not after the poll, and
    // after a stall the missed ticks are dropped rather than fired in a burst.
    const now = performance.now();
    const interval = this.device.pollIntervalMs;
    const behind = now - this.nextDue;
    this.nextDue += behind >= 0 ? (Math.floor(behind / interval) + 1) * interval : interval;
    this.arm();
  };

  private async poll(): Promise<void> {
    this.stats.polls++;
    this.stats.lastPollStartedAt = this.clock.now();
    const readings = new Array<Reading>(this.device.points.length);
    let failedBlocks = 0;

    // Set once the device is known not to answer: the remaining blocks of this poll get this error
    // without a request, so a dead device costs one timeout per poll, not one per block.
    let failure: ReadError | null = null;
    let connection = this.connection;
    if (connection === null && this.blocks.length > 0) {
      if (performance.now() < this.reconnectAt) {
        failure = this.downError;
      } else {
        const outcome = await this.connect();
        if (this.stopped) return;
        if ('error' in outcome) {
          failure = this.markDown(outcome.error, 'connect failed');
        } else {
          connection = outcome.connection;
        }
      }
    }

    for (const block of this.blocks) {
      if (failure !== null || connection === null || connection.closed) {
        this.fillBad(block, failure ?? this.downError, readings);
        failedBlocks++;
        continue;
      }
      const outcome = await this.request(connection, block);
      if (this.stopped) return;
      if ('registers' in outcome) {
        this.consecutiveTimeouts = 0;
        this.backoff.reset();
        this.fillGood(block, outcome.registers, readings);
        continue;
      }
      const error = frozen(outcome.error);
      this.fillBad(block, error, readings);
      failedBlocks++;
      if (error.code === 'TIMEOUT') {
        failure = error;
        this.consecutiveTimeouts++;
        if (this.consecutiveTimeouts >= this.timeoutsBeforeReconnect) {
          this.logger?.debug('modbus device not answering, reopening the connection', {
            deviceId: this.id,
            timeouts: this.consecutiveTimeouts,
          });
          this.consecutiveTimeouts = 0;
          this.reopenedForTimeouts = true;
          this.dropConnection(connection, `${this.timeoutsBeforeReconnect} consecutive timeouts`);
          // The timeouts already spaced the attempts out: reconnect at the next tick.
          this.reconnectAt = 0;
        }
      } else if (error.code === 'CONNECTION_LOST') {
        failure = error;
        // Usually the socket's close event got here first (and handled it); if not, the request
        // itself found the connection gone, which counts as a loss during a request: back off.
        if (!connection.closed) {
          this.dropConnection(connection, error.message, error);
          this.markDown(error, 'connection lost');
        }
      }
      // MODBUS_EXCEPTION and BAD_RESPONSE: the device is talking, go on with the next block.
    }

    const now = this.clock.now();
    if (failedBlocks === 0) {
      this.stats.goodPolls++;
      this.stats.lastGoodAt = now;
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

  private fillGood(block: ReadBlock, registers: readonly number[], readings: Reading[]): void {
    const ts = this.clock.now();
    if (registers.length < block.count) {
      this.fillBad(
        block,
        frozen({
          code: 'BAD_RESPONSE',
          message: `expected ${block.count} registers, got ${registers.length}`,
          retryable: true,
        }),
        readings,
      );
      return;
    }
    for (const { index, point, offset } of block.points) {
      let value: number;
      try {
        value = toEngineering(decode(registers, offset, point.type, point.wordOrder), point);
      } catch (err) {
        value = Number.NaN;
        this.logger?.debug('modbus decode failed', { deviceId: this.id, point: point.name, error: String(err) });
      }
      if (Number.isFinite(value)) {
        readings[index] = { deviceId: this.id, point: point.name, value, quality: 'good', sourceTs: ts, gatewayTs: ts };
      } else {
        readings[index] = {
          deviceId: this.id,
          point: point.name,
          value: null,
          quality: 'bad',
          sourceTs: ts,
          gatewayTs: ts,
          error: frozen(decodeError(`${point.type} at register ${point.address} is not a finite number (${value})`)),
        };
      }
    }
  }

  private fillBad(block: ReadBlock, error: ReadError, readings: Reading[]): void {
    const ts = this.clock.now();
    for (const { index, point } of block.points) {
      readings[index] = {
        deviceId: this.id,
        point: point.name,
        value: null,
        quality: 'bad',
        sourceTs: ts,
        gatewayTs: ts,
        error,
      };
    }
  }

  /** Records that the device is unreachable and when to try again; returns the error to report. */
  private markDown(error: ReadError, why: string): ReadError {
    const delay = this.backoff.next();
    this.reconnectAt = performance.now() + delay;
    this.downError = frozen(error);
    const log = this.backoff.attempts === 1 ? this.logger?.warn : this.logger?.debug;
    log?.call(this.logger, `modbus device unreachable: ${why}`, {
      deviceId: this.id,
      code: error.code,
      message: error.message,
      retryInMs: delay,
    });
    return this.downError;
  }

  /**
   * Opens the TCP socket ourselves and hands it to modbus-serial (`linkTCP`) rather than calling
   * `connectTCP`: modbus-serial has no connect timeout of its own (its `timeout` option leaves the
   * socket connecting after reporting failure) and it does not report a connection reset (its error
   * handler clears the open flag before the close handler checks it, so no 'close' is emitted).
   * Owning the socket gives a bounded connect and immediate notice of a lost connection.
   */
  private connect(): Promise<ConnectOutcome> {
    const { host, port, timeoutMs } = this.device;
    return new Promise<ConnectOutcome>((resolve) => {
      const socket = new Socket();
      let adopted: Connection | null = null;
      let settled = false;
      const finish = (outcome: ConnectOutcome): void => {
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
            connection.client.setID(this.device.unitId);
            // Set after linking: before, modbus-serial would also apply it as the socket's idle timeout.
            connection.client.setTimeout(timeoutMs);
            this.connection = connection;
            this.stats.connects++;
            // Debug only: the gateway reports devices going offline and coming back (device.availability).
            this.logger?.debug('modbus device connected', { deviceId: this.id, host, port, afterTimeouts: this.reopenedForTimeouts });
            this.reopenedForTimeouts = false;
            finish({ connection });
          },
          (err: unknown) => finish({ error: toReadError(err, 'connect', timeoutMs) }),
        );
      };
      const timer = setTimeout(
        () => finish({ error: connectionRefusedError(`no answer from ${host}:${port} within ${timeoutMs} ms`) }),
        timeoutMs,
      );
      this.abortConnect = () => finish({ error: connectionRefusedError('driver stopped') });
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

  private request(connection: Connection, block: ReadBlock): Promise<RequestOutcome> {
    const { timeoutMs } = this.device;
    return new Promise<RequestOutcome>((resolve) => {
      let settled = false;
      const settle = (outcome: RequestOutcome): void => {
        if (settled) return;
        settled = true;
        connection.abortRequest = null;
        resolve(outcome);
      };
      connection.abortRequest = (error) => settle({ error });
      // modbus-serial enforces `timeoutMs` per request (setTimeout above) and rejects with "Timed out".
      const pending =
        block.function === 'holding'
          ? connection.client.readHoldingRegisters(block.address, block.count)
          : connection.client.readInputRegisters(block.address, block.count);
      pending.then(
        (result) => settle({ registers: result.data }),
        (err: unknown) => settle({ error: toReadError(err, 'request', timeoutMs) }),
      );
    });
  }

  /**
   * The connection died under us (peer closed, reset, keepalive failure). Lost during a request,
   * the device is treated as down and retried after the backoff. Lost while idle, the next poll
   * reconnects at once: device servers commonly close connections idle for longer than their
   * timeout, which must not cost a bad batch.
   */
  private onConnectionGone(connection: Connection, detail: string): void {
    if (connection.closed) return;
    const duringRequest = connection.abortRequest !== null;
    const error = frozen(connectionLostError(detail));
    this.dropConnection(connection, detail, error);
    if (this.stopped) return;
    if (duringRequest) {
      this.markDown(error, 'connection lost');
    } else {
      this.reconnectAt = 0;
      this.logger?.info('modbus connection closed while idle, reconnecting at the next poll', {
        deviceId: this.id,
        detail,
      });
    }
  }

  /** Closes a connection on purpose (or after loss) and fails the request in flight on it. */
  private dropConnection(connection: Connection, reason: string, error?: ReadError): void {
    if (connection.closed) return;
    connection.closed = true;
    if (this.connection === connection) this.connection = null;
    connection.abortRequest?.(error ?? frozen(connectionLostError(reason)));
    // destroy() (unlike close()) also clears modbus-serial's pending request timers. Its callback
    // is not optional at run time, whatever the typings say.
    connection.client.destroy(() => undefined);
    connection.socket.destroy();
  }
}
