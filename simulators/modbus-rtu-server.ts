/**
 * The simulated devices of one Modbus RTU bus: every unit id on the line answers from its `ModbusUnit`
 * (simulators/device-registers.ts), on a serial port (the simulator's end of a socat pty pair) or on TCP
 * connections from clients that treat us as a serial device server (RTU frames, CRC included, over a socket).
 *
 * Framing (Modbus over Serial Line v1.02, 2.5.1): `unit id | PDU | CRC`, low CRC byte first. A request's
 * length follows from its function code (8 bytes for FC 1-6, 9 + byte count for FC 15/16); a frame of any
 * other function is ended by silence. A frame with a bad CRC is discarded without an answer (2.5.1.2), and
 * so is everything received with it: the stream is re-synchronised on the next silence.
 *
 * Line timing. A pty or a socket moves bytes at memory speed, so the server reproduces the wire: it
 * answers after the request's transmission time, the 3.5-character gap that tells it the request has
 * ended, a small turnaround, and the answer's own transmission time, all at the bus's configured baud rate
 * and character format. A master can therefore not do more transactions per second than a real line of
 * that speed would carry. `slow` adds its delay on top.
 *
 * Addressing as on a real multidrop line: unit ids without a device (and units whose link is cut) stay
 * silent; unit 0 is a broadcast: writes go to every unit, nobody answers.
 *
 * Fault modes (device-faults.ts) apply per unit: `noAnswer`, `exception`, `wrongUnitId`, `slow`,
 * `disconnect` (drops the TCP connection; not possible on a serial line), and the two that exist only
 * here: `badCrc` (the answer's CRC bytes inverted) and `truncated` (the answer cut after half its bytes).
 */
import net from 'node:net';
import type { SerialPort } from 'serialport';
import type { BusConfig } from '../gateway/config/site-config.js';
import { crc16, hasValidCrc, withCrc } from '../drivers/modbus/rtu/crc.js';
import { interFrameGapMs, type LineSettings, transmissionTimeMs } from '../drivers/modbus/rtu/line-timing.js';
import type { DeviceFault } from './device-faults.js';
import { type SimLogger, silentLogger } from './logger.js';
import { answerWithFaults, type ModbusUnit } from './modbus-tcp-server.js';

export interface ModbusRtuServerOptions {
  /** The bus: its id (for logs) and line settings (for the timing). */
  bus: Pick<BusConfig, 'id'> & LineSettings;
  units: ReadonlyMap<number, ModbusUnit>;
  /** The fault mode of the device at a unit id; none when absent. */
  faultOf?: (unitId: number) => DeviceFault | undefined;
  logger?: SimLogger;
  /** The slave's processing time between the end of the request (after t3.5) and its answer. Default 1 ms. */
  turnaroundMs?: number;
  /** Reproduce the wire time of frames (default true). Off, answers leave after the turnaround only. */
  lineTiming?: boolean;
}

/** Where frames go out: one serial port, or one TCP connection. */
interface RtuLink {
  readonly name: string;
  write(bytes: Buffer): void;
  /** Drops the connection (`disconnect` fault); undefined on a serial line. */
  readonly drop: (() => void) | undefined;
}

/** Read and write requests of FC 1-6 are 8 bytes; FC 15/16 carry a byte count at offset 6. */
function requestLength(buffer: Buffer): number | undefined | 'unknown' {
  if (buffer.length < 2) return undefined;
  const fn = buffer[1] as number;
  if (fn >= 1 && fn <= 6) return 8;
  if (fn === 15 || fn === 16) return buffer.length < 7 ? undefined : 9 + (buffer[6] as number);
  return 'unknown';
}

const MAX_FRAME_LENGTH = 256;
/** Silence that ends a request frame of unknown length, or discards a partial one. */
const MIN_SILENCE_MS = 20;

export class ModbusRtuServer {
  /** Requests with a valid CRC received per unit id (including those answered with silence). */
  readonly requestsByUnit = new Map<number, number>();
  private readonly busId: string;
  private readonly line: LineSettings;
  private readonly units: ReadonlyMap<number, ModbusUnit>;
  private readonly faultOf: (unitId: number) => DeviceFault | undefined;
  private readonly logger: SimLogger;
  private readonly turnaroundMs: number;
  private readonly lineTiming: boolean;
  private readonly silenceMs: number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;
  private port: SerialPort | undefined;
  private bound = 0;

  constructor(opts: ModbusRtuServerOptions) {
    this.busId = opts.bus.id;
    this.line = opts.bus;
    this.units = opts.units;
    this.faultOf = opts.faultOf ?? (() => undefined);
    this.logger = opts.logger ?? silentLogger();
    this.turnaroundMs = opts.turnaroundMs ?? 1;
    this.lineTiming = opts.lineTiming ?? true;
    this.silenceMs = Math.max(interFrameGapMs(opts.bus), MIN_SILENCE_MS);
  }

  /** The TCP port bound by `listen()`. */
  get boundPort(): number {
    return this.bound;
  }

  /** Serves the bus on a serial port (the simulator's end of a pty pair). */
  async serveSerial(path: string): Promise<void> {
    const { SerialPort } = await import('serialport');
    const { baudRate, parity, dataBits, stopBits } = this.line;
    const port = new SerialPort({ path, baudRate, parity, dataBits, stopBits, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    this.port = port;
    const feed = this.attach({
      name: path,
      write: (bytes) => {
        if (port.isOpen) port.write(bytes);
      },
      drop: undefined,
    });
    port.on('data', feed);
    port.on('error', (err: Error) => this.logger.warn('rtu serial port error', { bus: this.busId, path, err }));
  }

  /** Serves the bus as a serial device server: RTU frames over TCP connections. Resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen({ host, port }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.logger.error('rtu-over-tcp server error', { bus: this.busId, err }));
        const address = server.address();
        this.bound = typeof address === 'object' && address !== null ? address.port : port;
        resolve(this.bound);
      });
    });
  }

  /** Cancels pending answers, closes the serial port and the TCP server with its connections. */
  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const feed = this.attach({
      name: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`,
      write: (bytes) => {
        if (!socket.destroyed) socket.write(bytes);
      },
      drop: () => socket.destroy(),
    });
    socket.on('data', feed);
    socket.on('error', (err) => this.logger.debug('rtu-over-tcp connection error', { bus: this.busId, err }));
    socket.on('close', () => this.sockets.delete(socket));
  }

  /** A receiver for one link: cuts request frames out of its byte stream and answers them. */
  private attach(link: RtuLink): (chunk: Buffer) => void {
    let pending: Buffer = Buffer.alloc(0);
    let silenceTimer: NodeJS.Timeout | null = null;
    const onSilence = (): void => {
      silenceTimer = null;
      const frame = pending;
      pending = Buffer.alloc(0);
      if (frame.length >= 4 && hasValidCrc(frame)) {
        this.handle(link, frame);
      } else if (frame.length > 0) {
        this.logger.debug('rtu bytes discarded (incomplete frame or bad CRC)', { bus: this.busId, bytes: frame.length });
      }
    };
    return (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      if (silenceTimer !== null) {
        clearTimeout(silenceTimer);
        this.timers.delete(silenceTimer);
        silenceTimer = null;
      }
      for (;;) {
        const length = requestLength(pending);
        if (typeof length !== 'number' || pending.length < length || length > MAX_FRAME_LENGTH) break;
        const frame = pending.subarray(0, length);
        pending = pending.subarray(length);
        if (!hasValidCrc(frame)) {
          // 2.5.1.2: a frame with a CRC error is discarded; what follows it cannot be trusted either.
          this.logger.debug('rtu request with bad CRC discarded', { bus: this.busId, link: link.name });
          pending = Buffer.alloc(0);
          break;
        }
        this.handle(link, frame);
      }
      if (pending.length > 0) {
        silenceTimer = setTimeout(() => {
          if (silenceTimer !== null) this.timers.delete(silenceTimer);
          onSilence();
        }, this.silenceMs);
        this.timers.add(silenceTimer);
      }
    };
  }

  /** Answers one request frame (CRC already checked). */
  private handle(link: RtuLink, frame: Buffer): void {
    const unitId = frame[0] as number;
    const pdu = frame.subarray(1, frame.length - 2);
    this.requestsByUnit.set(unitId, (this.requestsByUnit.get(unitId) ?? 0) + 1);
    if (unitId === 0) {
      this.broadcast(pdu);
      return;
    }
    const unit = this.units.get(unitId);
    if (unit === undefined) return;
    const fault = this.faultOf(unitId);
    const answer = answerWithFaults(unit, unitId, pdu, fault, this.logger);
    if (answer.kind === 'silence') return;
    if (answer.kind === 'disconnect') {
      if (link.drop !== undefined) {
        this.logger.debug('fault: dropping the connection', { bus: this.busId, unitId });
        link.drop();
      }
      return;
    }
    let response = withCrc(Buffer.concat([Buffer.from([answer.unitId]), answer.pdu]));
    if (fault?.mode === 'badCrc') {
      const crc = crc16(response, 0, response.length - 2) ^ 0xffff;
      response[response.length - 2] = crc & 0xff;
      response[response.length - 1] = crc >>> 8;
    } else if (fault?.mode === 'truncated') {
      response = response.subarray(0, Math.max(3, Math.ceil(response.length / 2)));
    }
    const wireMs = this.lineTiming
      ? transmissionTimeMs(frame.length, this.line) + interFrameGapMs(this.line) + transmissionTimeMs(response.length, this.line)
      : 0;
    const delayMs = wireMs + this.turnaroundMs + answer.delayMs;
    // Rounded up (Node truncates timer delays): an answer never comes faster than the wire allows.
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      link.write(response);
    }, Math.ceil(delayMs));
    this.timers.add(timer);
  }

  /** Unit 0: FC 6 / FC 16 to every unit, no answer (Modbus over Serial Line 2.1). Reads are ignored. */
  private broadcast(pdu: Buffer): void {
    const fn = pdu[0];
    if (fn !== 6 && fn !== 16) return;
    for (const [unitId, unit] of this.units) {
      if (!unit.answers() || this.faultOf(unitId)?.mode === 'noAnswer') continue;
      const buffer = Buffer.from(pdu);
      try {
        if (fn === 6 && buffer.length === 5) unit.write(buffer.readUInt16BE(1), [buffer.readUInt16BE(3)]);
        if (fn === 16 && buffer.length >= 6 && buffer.length === 6 + (buffer[5] as number)) {
          const values: number[] = [];
          for (let i = 0; i < buffer.readUInt16BE(3); i++) values.push(buffer.readUInt16BE(6 + 2 * i));
          unit.write(buffer.readUInt16BE(1), values);
        }
      } catch (err) {
        this.logger.error('rtu broadcast write failed', { bus: this.busId, unitId, err });
      }
    }
  }
}
