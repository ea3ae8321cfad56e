/**
 * A byte stream to an RS-485 line: a local serial port (serial-transport.ts) or a serial device server
 * reached over TCP (tcp-transport.ts). The RTU master puts frames on it and reads bytes back; it knows
 * nothing of baud rates or sockets.
 *
 * Life cycle: `open()` once it is needed, `close()` when done. The transport may close by itself (USB
 * adapter unplugged, device server reset); it then calls `closed` once and can be opened again.
 */

export interface TransportEvents {
  /** Bytes received, in arrival order, in whatever chunks the OS delivers them. */
  data(chunk: Buffer): void;
  /** The stream closed without `close()` being called; `reason` says why. Called once per open. */
  closed(reason: string): void;
}

export interface ByteTransport {
  /** `/dev/ttyUSB0` or `tcp://10.0.0.5:4001`, for logs and error messages. */
  readonly description: string;
  readonly isOpen: boolean;
  /** Opens the stream; rejects with an Error saying why it cannot (the master maps it to CONNECTION_REFUSED). */
  open(events: TransportEvents): Promise<void>;
  /** Resolves once the bytes are handed to the OS (not once they are on the wire). Rejects when closed. */
  write(bytes: Buffer): Promise<void>;
  /** Closes the stream; `closed` is not called for it. Safe to call when already closed. */
  close(): Promise<void>;
}
