/**
 * A minimal Modbus TCP server for driver tests: real sockets, MBAP framing, FC 1 to 4, per-unit
 * register and bit maps, and per-unit misbehaviour (silent, exception, malformed answer). Deliberately
 * written from the specification rather than with modbus-serial's ServerTCP, so that the driver is
 * tested against an independent peer. The product simulator lives in simulators/; this is not it.
 *
 * A register (coil, discrete input) that was never set does not exist: a read touching it answers
 * exception 2 (Illegal Data Address), as real devices do.
 */
import { createServer, type Server, type Socket } from 'node:net';

export type UnitMode =
  /** Answers requests. */
  | { kind: 'normal' }
  /** Reads requests and never answers (a dead meter behind a serial device server). */
  | { kind: 'silent' }
  /** Answers every request with this exception code. */
  | { kind: 'exception'; code: number }
  /** Answers with a frame whose byte count does not match the request. */
  | { kind: 'malformed' }
  /** Closes the connection on receiving a request (a device server resetting mid-request). */
  | { kind: 'hangup' };

export type TestRegisterKind = 'holding' | 'input';
export type TestBitKind = 'coil' | 'discrete';

interface Unit {
  holding: Map<number, number>;
  input: Map<number, number>;
  coil: Map<number, number>;
  discrete: Map<number, number>;
  mode: UnitMode;
}

export interface ServedRequest {
  unitId: number;
  functionCode: number;
  address: number;
  count: number;
}

const MBAP_LENGTH = 7;

export class ModbusTestServer {
  private readonly server: Server;
  private readonly units = new Map<number, Unit>();
  private readonly sockets = new Set<Socket>();
  private boundPort = 0;
  /** Every request received, in order (answered or not). */
  readonly requests: ServedRequest[] = [];
  /** Connections accepted since construction. */
  connectionsAccepted = 0;
  private readonly requestWaiters = new Set<(request: ServedRequest) => void>();

  private constructor(
    private readonly host: string,
    /** Whether `requests` records every request (a benchmark serving millions turns it off). */
    private readonly recordRequests: boolean,
  ) {
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Starts a server on `host` and a free port (or the given one). */
  static async start(options: { host?: string; port?: number; recordRequests?: boolean } = {}): Promise<ModbusTestServer> {
    const server = new ModbusTestServer(options.host ?? '127.0.0.1', options.recordRequests ?? true);
    await server.listen(options.port ?? 0);
    return server;
  }

  get port(): number {
    return this.boundPort;
  }

  get listening(): boolean {
    return this.server.listening;
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  /** (Re)starts listening; with no port, on the port used before (so a driver can reconnect). */
  async listen(port: number = this.boundPort): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host: this.host, port }, () => {
        this.server.removeListener('error', onError);
        resolve();
      });
    });
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('test server has no TCP address');
    this.boundPort = address.port;
  }

  /** Stops listening and cuts every open connection; `listen()` starts it again on the same port. */
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (!this.server.listening) return;
    await new Promise<void>((resolve, reject) => this.server.close((err) => (err ? reject(err) : resolve())));
  }

  /** Cuts every open connection but keeps listening. */
  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  setRegisters(unitId: number, kind: TestRegisterKind, address: number, values: readonly number[]): void {
    const map = this.unit(unitId)[kind];
    values.forEach((value, i) => map.set(address + i, value & 0xffff));
  }

  /** Sets coils or discrete inputs from `address` on, one 0/1 per element. */
  setBits(unitId: number, kind: TestBitKind, address: number, bits: readonly number[]): void {
    const map = this.unit(unitId)[kind];
    bits.forEach((bit, i) => map.set(address + i, bit !== 0 ? 1 : 0));
  }

  setMode(unitId: number, mode: UnitMode): void {
    this.unit(unitId).mode = mode;
  }

  requestsFor(unitId: number): ServedRequest[] {
    return this.requests.filter((r) => r.unitId === unitId);
  }

  /** Resolves with the first request from now on that matches, or rejects after `timeoutMs`. */
  nextRequest(matches: (request: ServedRequest) => boolean, timeoutMs: number): Promise<ServedRequest> {
    return new Promise<ServedRequest>((resolve, reject) => {
      const waiter = (request: ServedRequest): void => {
        if (!matches(request)) return;
        clearTimeout(timer);
        this.requestWaiters.delete(waiter);
        resolve(request);
      };
      const timer = setTimeout(() => {
        this.requestWaiters.delete(waiter);
        reject(new Error(`no matching request within ${timeoutMs} ms`));
      }, timeoutMs);
      this.requestWaiters.add(waiter);
    });
  }

  private unit(unitId: number): Unit {
    let unit = this.units.get(unitId);
    if (unit === undefined) {
      unit = { holding: new Map(), input: new Map(), coil: new Map(), discrete: new Map(), mode: { kind: 'normal' } };
      this.units.set(unitId, unit);
    }
    return unit;
  }

  private accept(socket: Socket): void {
    this.connectionsAccepted++;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= MBAP_LENGTH) {
        // MBAP length counts the unit id and the PDU.
        const length = buffered.readUInt16BE(4);
        if (length < 2 || length > 254) {
          socket.destroy();
          return;
        }
        if (buffered.length < 6 + length) return;
        const frame = buffered.subarray(0, 6 + length);
        buffered = buffered.subarray(6 + length);
        const answer = this.handle(frame);
        if (answer === 'hangup') {
          socket.destroy();
          return;
        }
        if (answer !== null) socket.write(answer);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private handle(frame: Buffer): Buffer | 'hangup' | null {
    const transactionId = frame.readUInt16BE(0);
    const unitId = frame.readUInt8(6);
    const functionCode = frame.readUInt8(7);
    const address = frame.length >= 10 ? frame.readUInt16BE(8) : 0;
    const count = frame.length >= 12 ? frame.readUInt16BE(10) : 0;
    const request: ServedRequest = { unitId, functionCode, address, count };
    if (this.recordRequests) this.requests.push(request);
    if (this.requestWaiters.size > 0) for (const waiter of [...this.requestWaiters]) waiter(request);

    const unit = this.unit(unitId);
    const respond = (pdu: Buffer): Buffer => {
      const head = Buffer.alloc(MBAP_LENGTH);
      head.writeUInt16BE(transactionId, 0);
      head.writeUInt16BE(0, 2);
      head.writeUInt16BE(pdu.length + 1, 4);
      head.writeUInt8(unitId, 6);
      return Buffer.concat([head, pdu]);
    };
    const exception = (code: number): Buffer => respond(Buffer.from([functionCode | 0x80, code]));

    switch (unit.mode.kind) {
      case 'silent':
        return null;
      case 'hangup':
        return 'hangup';
      case 'exception':
        return exception(unit.mode.code);
      case 'malformed':
        // Claims one register but sends none.
        return respond(Buffer.from([functionCode, 2]));
      case 'normal':
        break;
    }

    if (functionCode === 1 || functionCode === 2) {
      // Modbus Application Protocol v1.1b3, 6.1/6.2: 1..2000 bits, packed LSB first.
      if (frame.length !== 12 || count < 1 || count > 2000) return exception(3);
      const bits = functionCode === 1 ? unit.coil : unit.discrete;
      const bytes = Math.ceil(count / 8);
      const pdu = Buffer.alloc(2 + bytes);
      pdu.writeUInt8(functionCode, 0);
      pdu.writeUInt8(bytes, 1);
      for (let i = 0; i < count; i++) {
        const bit = bits.get(address + i);
        if (bit === undefined) return exception(2);
        if (bit !== 0) pdu[2 + (i >> 3)] = (pdu[2 + (i >> 3)] as number) | (1 << (i & 7));
      }
      return respond(pdu);
    }
    if (functionCode !== 3 && functionCode !== 4) return exception(1);
    if (frame.length !== 12 || count < 1 || count > 125) return exception(3);
    const map = functionCode === 3 ? unit.holding : unit.input;
    const pdu = Buffer.alloc(2 + count * 2);
    pdu.writeUInt8(functionCode, 0);
    pdu.writeUInt8(count * 2, 1);
    for (let i = 0; i < count; i++) {
      const value = map.get(address + i);
      if (value === undefined) return exception(2);
      pdu.writeUInt16BE(value, 2 + i * 2);
    }
    return respond(pdu);
  }
}
