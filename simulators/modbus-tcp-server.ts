/**
 * A Modbus TCP server on raw `net`: MBAP framing, unit-id dispatch, FC 3/4 reads and FC 6/16 writes.
 * It knows nothing of feeders; each unit id maps to a `ModbusUnit` (simulators/device-registers.ts).
 *
 * Framing follows the Modbus Messaging on TCP/IP Implementation Guide v1.0b, 3.1.3: a 7-byte MBAP header
 * (transaction id, protocol id 0, length = unit id + PDU bytes, unit id), then the PDU. TCP is a stream, so
 * a chunk may hold several requests or part of one: bytes are buffered and cut by the MBAP length.
 *
 * Silence is a feature here. A unit id that belongs to no device gets no answer, like a TCP gateway with
 * nothing behind that address (real gateways may answer exception 0x0B instead; silence is the harder case
 * for the client). A unit that does not `answer()` (a meter whose link is cut) gets no answer either, so the
 * client sees exactly what a dead RS-485 link looks like: a timeout.
 *
 * Fault modes (simulators/device-faults.ts) are asked per request through `faultOf(unitId)`: `noAnswer`
 * silence, `exception` an exception answer, `wrongUnitId` the answer under another unit id, `slow` the
 * answer `delayMs` later, `disconnect` the connection dropped, `targetOffline` exception 0x0B (what a
 * gateway or data concentrator answers for a meter behind it that is offline) `delayMs` later. `respond()`
 * (the PDU logic) is shared with the RTU server.
 *
 * Many unit ids per endpoint: a request costs a map lookup and the unit's own registers, computed from the
 * model for that request only (simulators/device-registers.ts); nothing runs between requests, so thousands
 * of idle units cost nothing.
 */
import net from 'node:net';
import type { RegisterFunction } from '../gateway/config/site-config.js';
import { DEFAULT_EXCEPTION_CODE, DEFAULT_SLOW_DELAY_MS, type DeviceFault, GATEWAY_TARGET_FAILED } from './device-faults.js';
import { type SimLogger, silentLogger } from './logger.js';

/** Modbus exception codes used here (Modbus Application Protocol v1.1b3, 7). */
export type ModbusExceptionCode =
  | 1 // illegal function
  | 2 // illegal data address
  | 3 // illegal data value
  | 4; // server device failure

/** The answer to one request after faults: a frame to send (maybe late), silence, or a dropped connection. */
export type FaultedAnswer = { kind: 'answer'; pdu: Buffer; unitId: number; delayMs: number } | { kind: 'silence' } | { kind: 'disconnect' };

export type ReadReply = { registers: number[] } | { exception: ModbusExceptionCode };

export interface ModbusUnit {
  /** False when the unit must stay silent (its link is cut). */
  answers(): boolean;
  read(fn: RegisterFunction, address: number, quantity: number): ReadReply;
  /** Writes holding registers; returns an exception code, or undefined when accepted. */
  write(address: number, values: number[]): ModbusExceptionCode | undefined;
}

export interface ModbusTcpServerOptions {
  host: string;
  port: number;
  units: ReadonlyMap<number, ModbusUnit>;
  /** The fault mode of the device at a unit id; none when absent. */
  faultOf?: (unitId: number) => DeviceFault | undefined;
  logger?: SimLogger;
}

const MBAP_LENGTH = 7;
/** Largest MBAP length field: unit id + a 253-byte PDU (the 256-byte RS-485 ADU limit carried over). */
const MAX_MBAP_LENGTH = 254;
/** Read quantities allowed by FC 3/4 (spec 6.3, 6.4) and FC 16 (spec 6.12). */
const MAX_READ_QUANTITY = 125;
const MAX_WRITE_QUANTITY = 123;
/** Bit reads allowed by FC 1/2 (spec 6.1, 6.2). */
const MAX_READ_BITS = 2000;

export class ModbusTcpServer {
  private readonly host: string;
  private readonly port: number;
  private readonly units: ReadonlyMap<number, ModbusUnit>;
  private readonly faultOf: (unitId: number) => DeviceFault | undefined;
  private readonly logger: SimLogger;
  private readonly sockets = new Set<net.Socket>();
  /** Answers delayed by the `slow` fault, cancelled on close. */
  private readonly timers = new Set<NodeJS.Timeout>();
  private server: net.Server | undefined;
  private bound = 0;

  constructor(opts: ModbusTcpServerOptions) {
    this.host = opts.host;
    this.port = opts.port;
    this.units = opts.units;
    this.faultOf = opts.faultOf ?? (() => undefined);
    this.logger = opts.logger ?? silentLogger();
  }

  /** The port actually bound (differs from the configured one when that was 0). */
  get boundPort(): number {
    return this.bound;
  }

  listen(): Promise<number> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen({ host: this.host, port: this.port }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.logger.error('modbus server error', { host: this.host, port: this.bound, err }));
        const address = server.address();
        this.bound = typeof address === 'object' && address !== null ? address.port : this.port;
        resolve(this.bound);
      });
    });
  }

  /** Stops listening and drops every open connection; resolves when the server is closed. */
  close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server === undefined || !server.listening) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= MBAP_LENGTH) {
        const length = pending.readUInt16BE(4);
        if (length < 2 || length > MAX_MBAP_LENGTH) {
          // The stream cannot be re-synchronised after a bad length; a real server drops the connection too.
          this.logger.warn('modbus frame with impossible length, closing connection', { port: this.bound, length });
          socket.destroy();
          return;
        }
        const total = 6 + length;
        if (pending.length < total) break;
        const frame = pending.subarray(0, total);
        pending = pending.subarray(total);
        const answer = this.handle(frame);
        if (answer.kind === 'disconnect') {
          this.logger.debug('fault: dropping the connection', { port: this.bound, unitId: frame.readUInt8(6) });
          socket.destroy();
          return;
        }
        if (answer.kind === 'answer') this.send(socket, frame.readUInt16BE(0), answer);
      }
    });
    socket.on('error', (err) => this.logger.debug('modbus connection error', { port: this.bound, err }));
    socket.on('close', () => this.sockets.delete(socket));
  }

  private send(socket: net.Socket, transactionId: number, answer: { pdu: Buffer; unitId: number; delayMs: number }): void {
    const header = Buffer.alloc(MBAP_LENGTH);
    header.writeUInt16BE(transactionId, 0);
    header.writeUInt16BE(0, 2);
    header.writeUInt16BE(answer.pdu.length + 1, 4);
    header.writeUInt8(answer.unitId, 6);
    const frame = Buffer.concat([header, answer.pdu]);
    if (answer.delayMs <= 0) {
      socket.write(frame);
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!socket.destroyed) socket.write(frame);
    }, answer.delayMs);
    this.timers.add(timer);
  }

  /** What to do with one request frame. */
  private handle(frame: Buffer): FaultedAnswer {
    const protocolId = frame.readUInt16BE(2);
    const unitId = frame.readUInt8(6);
    if (protocolId !== 0) {
      this.logger.debug('ignoring frame that is not Modbus (protocol id not 0)', { port: this.bound, protocolId });
      return { kind: 'silence' };
    }
    const unit = this.units.get(unitId);
    if (unit === undefined) {
      this.logger.debug('no device at unit id, not answering', { port: this.bound, unitId });
      return { kind: 'silence' };
    }
    return answerWithFaults(unit, unitId, frame.subarray(MBAP_LENGTH), this.faultOf(unitId), this.logger);
  }
}

/**
 * The answer of `unit` to a request PDU with its fault mode applied: silence for a cut link or `noAnswer`,
 * the connection dropped, an exception, another unit id, a delay. Modes that change the frame itself
 * (`badCrc`, `truncated`) are left to the RTU server; here they answer normally.
 */
export function answerWithFaults(unit: ModbusUnit, unitId: number, requestPdu: Buffer, fault: DeviceFault | undefined, logger: SimLogger): FaultedAnswer {
  if (!unit.answers()) return { kind: 'silence' };
  const mode = fault?.mode ?? 'none';
  if (mode === 'noAnswer') return { kind: 'silence' };
  if (mode === 'disconnect') return { kind: 'disconnect' };
  const functionCode = requestPdu.length > 0 ? requestPdu.readUInt8(0) : 0;
  if (mode === 'targetOffline') {
    return { kind: 'answer', pdu: Buffer.from([(functionCode | 0x80) & 0xff, GATEWAY_TARGET_FAILED]), unitId, delayMs: fault?.delayMs ?? 0 };
  }
  let pdu: Buffer;
  if (mode === 'exception') {
    pdu = Buffer.from([(functionCode | 0x80) & 0xff, fault?.exceptionCode ?? DEFAULT_EXCEPTION_CODE]);
  } else {
    try {
      pdu = respond(unit, requestPdu);
    } catch (err) {
      // A model error must not take the whole server (and every other unit on it) down with it.
      logger.error('modbus request failed', { unitId, err });
      pdu = exception(functionCode, 4);
    }
  }
  return {
    kind: 'answer',
    pdu,
    unitId: mode === 'wrongUnitId' ? otherUnitId(unitId) : unitId,
    delayMs: mode === 'slow' ? (fault?.delayMs ?? DEFAULT_SLOW_DELAY_MS) : 0,
  };
}

/** A unit id other than `unitId`, valid on a serial line (1..247), for the `wrongUnitId` fault. */
export function otherUnitId(unitId: number): number {
  return (unitId % 247) + 1;
}

export function exception(functionCode: number, code: ModbusExceptionCode): Buffer {
  return Buffer.from([(functionCode | 0x80) & 0xff, code]);
}

/** The response PDU for one request PDU. Checks run in the order of the spec's state diagrams: function, value, address. */
export function respond(unit: ModbusUnit, pdu: Buffer): Buffer {
  if (pdu.length === 0) return exception(0, 1);
  const functionCode = pdu.readUInt8(0);
  switch (functionCode) {
    case 1:
    case 2: {
      if (pdu.length !== 5) return exception(functionCode, 3);
      const address = pdu.readUInt16BE(1);
      const quantity = pdu.readUInt16BE(3);
      if (quantity < 1 || quantity > MAX_READ_BITS) return exception(functionCode, 3);
      if (address + quantity > 0x10000) return exception(functionCode, 2);
      const reply = unit.read(functionCode === 1 ? 'coil' : 'discrete', address, quantity);
      if ('exception' in reply) return exception(functionCode, reply.exception);
      const byteCount = Math.ceil(quantity / 8);
      const out = Buffer.alloc(2 + byteCount);
      out.writeUInt8(functionCode, 0);
      out.writeUInt8(byteCount, 1);
      // Bit i of the answer is bit (i % 8) of data byte i / 8, LSB first (spec 6.1).
      reply.registers.forEach((value, i) => {
        if (value !== 0) out[2 + (i >> 3)] = (out[2 + (i >> 3)] as number) | (1 << (i & 7));
      });
      return out;
    }
    case 3:
    case 4: {
      if (pdu.length !== 5) return exception(functionCode, 3);
      const address = pdu.readUInt16BE(1);
      const quantity = pdu.readUInt16BE(3);
      if (quantity < 1 || quantity > MAX_READ_QUANTITY) return exception(functionCode, 3);
      if (address + quantity > 0x10000) return exception(functionCode, 2);
      const reply = unit.read(functionCode === 3 ? 'holding' : 'input', address, quantity);
      if ('exception' in reply) return exception(functionCode, reply.exception);
      const out = Buffer.alloc(2 + 2 * quantity);
      out.writeUInt8(functionCode, 0);
      out.writeUInt8(2 * quantity, 1);
      reply.registers.forEach((word, i) => out.writeUInt16BE(word & 0xffff, 2 + 2 * i));
      return out;
    }
    case 6: {
      if (pdu.length !== 5) return exception(functionCode, 3);
      const failure = unit.write(pdu.readUInt16BE(1), [pdu.readUInt16BE(3)]);
      // A successful FC 6 response echoes the request.
      return failure === undefined ? Buffer.from(pdu) : exception(functionCode, failure);
    }
    case 16: {
      if (pdu.length < 6) return exception(functionCode, 3);
      const address = pdu.readUInt16BE(1);
      const quantity = pdu.readUInt16BE(3);
      const byteCount = pdu.readUInt8(5);
      if (quantity < 1 || quantity > MAX_WRITE_QUANTITY || byteCount !== 2 * quantity || pdu.length !== 6 + byteCount) {
        return exception(functionCode, 3);
      }
      if (address + quantity > 0x10000) return exception(functionCode, 2);
      const values: number[] = [];
      for (let i = 0; i < quantity; i++) values.push(pdu.readUInt16BE(6 + 2 * i));
      const failure = unit.write(address, values);
      return failure === undefined ? Buffer.from(pdu.subarray(0, 5)) : exception(functionCode, failure);
    }
    default:
      return exception(functionCode, 1);
  }
}
