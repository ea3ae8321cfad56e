/**
 * The southbound contract: what every driver produces and how the gateway starts and stops it.
 *
 * Drivers know nothing of the topology or the engine. They turn device registers (or OPC UA nodes)
 * into `Reading`s; the point map (gateway/runtime/point-map.ts) turns readings into observations.
 */

/** OPC UA style quality. A failed read is `bad` with `value: null` and an `error`, never a 0. */
export type Quality = 'good' | 'uncertain' | 'bad';

/** A stable, documented code for a failed read (see docs/errors.md). */
export type ReadErrorCode =
  | 'TIMEOUT'
  | 'CONNECTION_REFUSED'
  | 'CONNECTION_LOST'
  | 'MODBUS_EXCEPTION'
  | 'BAD_RESPONSE'
  | 'CRC_ERROR'
  | 'WRONG_UNIT_ID'
  | 'TRUNCATED_FRAME'
  | 'DECODE_ERROR'
  | 'NO_DATA'
  | 'BAD_STATUS'
  | 'SESSION_LOST'
  | 'CERTIFICATE_REJECTED';

export interface ReadError {
  code: ReadErrorCode;
  message: string;
  /** Whether trying again later can succeed (a timeout) or not (an illegal address). */
  retryable: boolean;
  /** For MODBUS_EXCEPTION: the exception code the device answered (2 = Illegal Data Address...). */
  exceptionCode?: number;
}

export interface Reading {
  deviceId: string;
  /** Point name as given in the site config. */
  point: string;
  /** Engineering value after type decoding, scale and offset; null when quality is `bad`, and for text points. */
  value: number | null;
  /**
   * Text points only (Modbus `type: string`: serial numbers, model names): the decoded text, with `value`
   * null. Telemetry only: text points observe nothing, consumers looking for numbers skip them.
   */
  text?: string;
  quality: Quality;
  /** Milliseconds since the epoch when the value was valid at the device (the response time for Modbus). */
  sourceTs: number;
  /** Milliseconds since the epoch when the gateway received it. */
  gatewayTs: number;
  /**
   * Polled values (Modbus): milliseconds since the epoch when the poll that read it sent its first request, so
   * `gatewayTs - requestTs` of a batch is the device's poll latency. Absent for pushed values (OPC UA).
   */
  requestTs?: number;
  error?: ReadError;
}

/**
 * Receives a batch of readings of ONE device: all the points of one poll (Modbus), or the values one
 * subscription notification carried (OPC UA). Never empty.
 */
export type ReadingSink = (readings: Reading[]) => void;

/**
 * A driver serves one physical channel: one Modbus TCP device, one RTU bus with all its unit ids, one OPC UA
 * server session. Its batches name their device in `deviceId`.
 */
export interface Driver {
  /** The channel: a device id, a bus id or an OPC UA endpoint. */
  readonly id: string;
  /** The devices whose readings this driver delivers. */
  readonly deviceIds: readonly string[];
  /** Starts polling or subscribing; resolves once started (not once connected: devices may be down). */
  start(sink: ReadingSink): Promise<void>;
  /** Stops all timers and closes connections; resolves when nothing of the driver is left running. */
  stop(): Promise<void>;
}
