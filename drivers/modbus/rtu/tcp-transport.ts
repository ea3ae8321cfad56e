/**
 * An RS-485 line behind a serial device server (Moxa NPort, USR-TCP232 and the like in "TCP server" /
 * "raw socket" mode): RTU frames, CRC included, pass through a TCP socket unchanged.
 *
 * The socket is opened with a bounded connect time, keepalive on (a device server that lost power sends
 * no FIN) and Nagle off (a frame must leave at once). A lost connection is reported through `closed`; the
 * master reopens it, with backoff, on its next request.
 */
import { Socket } from 'node:net';
import type { RtuOverTcpBusConfig } from '../../device-config.js';
import type { ByteTransport, TransportEvents } from './transport.js';

export interface TcpTransportOptions {
  /** Connect timeout. Default 3 s. */
  connectTimeoutMs?: number;
}

export class TcpTransport implements ByteTransport {
  readonly description: string;
  private readonly host: string;
  private readonly port: number;
  private readonly connectTimeoutMs: number;
  private socket: Socket | null = null;

  constructor(endpoint: Pick<RtuOverTcpBusConfig, 'host' | 'port'>, opts: TcpTransportOptions = {}) {
    this.host = endpoint.host;
    this.port = endpoint.port;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 3000;
    this.description = `tcp://${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`;
  }

  get isOpen(): boolean {
    return this.socket !== null && !this.socket.destroyed;
  }

  open(events: TransportEvents): Promise<void> {
    if (this.socket !== null) return Promise.reject(new Error(`${this.description} is already open`));
    return new Promise<void>((resolve, reject) => {
      const socket = new Socket();
      const fail = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const onError = (err: Error): void => fail(err);
      const timer = setTimeout(
        () => fail(new Error(`no connection to ${this.description} within ${this.connectTimeoutMs} ms`)),
        this.connectTimeoutMs,
      );
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        this.socket = socket;
        let lastError: string | null = null;
        socket.setKeepAlive(true, 10_000);
        socket.on('data', (chunk: Buffer) => events.data(chunk));
        socket.on('error', (err: Error) => {
          lastError = `${(err as NodeJS.ErrnoException).code ?? 'error'} ${err.message}`;
        });
        socket.on('close', () => {
          if (this.socket !== socket) return;
          this.socket = null;
          events.closed(lastError ?? 'closed by the device server');
        });
        resolve();
      });
      socket.setNoDelay(true);
      socket.connect({ host: this.host, port: this.port });
    });
  }

  write(bytes: Buffer): Promise<void> {
    const socket = this.socket;
    if (socket === null || socket.destroyed) return Promise.reject(new Error(`${this.description} is not open`));
    return new Promise<void>((resolve, reject) => socket.write(bytes, (err) => (err ? reject(err) : resolve())));
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = null;
    if (socket === null) return;
    await new Promise<void>((resolve) => {
      if (socket.destroyed) return resolve();
      socket.once('close', () => resolve());
      socket.destroy();
    });
  }
}
