/**
 * An RS-485 line on a local serial port, through the `serialport` package. The line settings come from
 * the bus config; the port is opened exclusively (two processes polling one RS-485 line would collide).
 *
 * `serialport` is loaded on first open, so a site without serial buses does not load its native binding.
 */
import type { SerialPort } from 'serialport';
import type { SerialBusConfig } from '../../device-config.js';
import type { ByteTransport, TransportEvents } from './transport.js';

export type SerialLineConfig = Pick<SerialBusConfig, 'path' | 'baudRate' | 'parity' | 'dataBits' | 'stopBits'>;

export class SerialTransport implements ByteTransport {
  readonly description: string;
  private readonly line: SerialLineConfig;
  private port: SerialPort | null = null;

  constructor(line: SerialLineConfig) {
    this.line = line;
    this.description = line.path;
  }

  get isOpen(): boolean {
    return this.port?.isOpen ?? false;
  }

  async open(events: TransportEvents): Promise<void> {
    if (this.port !== null) throw new Error(`${this.description} is already open`);
    const { SerialPort } = await import('serialport');
    const { path, baudRate, parity, dataBits, stopBits } = this.line;
    const port = new SerialPort({ path, baudRate, parity, dataBits, stopBits, autoOpen: false, lock: true });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    this.port = port;
    let lastError: string | null = null;
    port.on('data', (chunk: Buffer) => events.data(chunk));
    port.on('error', (err: Error) => {
      lastError = err.message;
    });
    port.on('close', () => {
      if (this.port !== port) return;
      this.port = null;
      events.closed(lastError ?? 'serial port closed (device removed?)');
    });
  }

  write(bytes: Buffer): Promise<void> {
    const port = this.port;
    if (port === null || !port.isOpen) return Promise.reject(new Error(`${this.description} is not open`));
    return new Promise<void>((resolve, reject) => {
      port.write(bytes, (err) => {
        if (err) reject(err);
        // drain: the bytes have left Node's buffer for the OS; the line timing is the master's business.
        else port.drain((drainErr) => (drainErr ? reject(drainErr) : resolve()));
      });
    });
  }

  async close(): Promise<void> {
    const port = this.port;
    this.port = null;
    if (port === null || !port.isOpen) return;
    await new Promise<void>((resolve) => port.close(() => resolve()));
  }
}
