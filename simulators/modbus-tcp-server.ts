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
 */
import net from 'node:net';
import type { RegisterFunction } from '../gateway/config/site-config.js';
import { type SimLogger, silentLogger } from './logger.js';

/** Modbus exception codes used here (Modbus Application Protocol v1.1b3, 7). */
export type ModbusExceptionCode =
  | 1 // illegal function
  | 2 // illegal data address
  | 3 // illegal data value
  | 4; // server device failure

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
  logger?: SimLogger;
}

const MBAP_LENGTH = 7;
/** Largest MBAP length field: unit id + a 253-byte PDU (the 256-byte RS-485 ADU limit carried over). */
const MAX_MBAP_LENGTH = 254;
/** Read quantities allowed by FC 3/4 (spec 6.3, 6.4) and FC 16 (spec 6.12). */
const MAX_READ_QUANTITY = 125;
const MAX_WRITE_QUANTITY = 123;

export class ModbusTcpServer {
  private readonly host: string;
  private readonly port: number;
  private readonly units: ReadonlyMap<number, ModbusUnit>;
  private readonly logger: SimLogger;
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;
  private bound = 0;

  constructor(opts: ModbusTcpServerOptions) {
    this.host = opts.host;
    this.port = opts.port;
    this.units = opts.units;
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
        const response = this.handle(frame);
        if (response !== undefined) socket.write(response);
      }
    });
    socket.on('error', (err) => this.logger.debug('modbus connection error', { port: this.bound, err }));
    socket.on('close', () => this.sockets.delete(socket));
  }

  /** Returns the response frame, or undefined when the request gets no answer. */
  private handle(frame: Buffer): Buffer | undefined {
    const transactionId = frame.readUInt16BE(0);
    const protocolId = frame.readUInt16BE(2);
    const unitId = frame.readUInt8(6);
    if (protocolId !== 0) {
      this.logger.debug('ignoring frame that is not Modbus (protocol id not 0)', { port: this.bound, protocolId });
      return undefined;
    }
    const unit = this.units.get(unitId);
    if (unit === undefined) {
      this.logger.debug('no device at unit id, not answering', { port: this.bound, unitId });
      return undefined;
    }
    let pdu: Buffer;
    try {
      if (!unit.answers()) return undefined;
      pdu = respond(unit, frame.subarray(MBAP_LENGTH));
    } catch (err) {
      // A model error must not take the whole server (and every other unit on it) down with it.
      this.logger.error('modbus request failed', { port: this.bound, unitId, err });
      pdu = exception(frame.readUInt8(MBAP_LENGTH), 4);
    }
    const header = Buffer.alloc(MBAP_LENGTH);
    header.writeUInt16BE(transactionId, 0);
    header.writeUInt16BE(0, 2);
    header.writeUInt16BE(pdu.length + 1, 4);
    header.writeUInt8(unitId, 6);
    return Buffer.concat([header, pdu]);
  }
}

function exception(functionCode: number, code: ModbusExceptionCode): Buffer {
  return Buffer.from([(functionCode | 0x80) & 0xff, code]);
}

/** The response PDU for one request PDU. Checks run in the order of the spec's state diagrams: function, value, address. */
function respond(unit: ModbusUnit, pdu: Buffer): Buffer {
  const functionCode = pdu.readUInt8(0);
  switch (functionCode) {
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
