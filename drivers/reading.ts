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
  | 'DECODE_ERROR';

export interface ReadError {
  code: ReadErrorCode;
  message: string;
  /** Whether trying again later can succeed (a timeout) or not (an illegal address). */
  retryable: boolean;
}

export interface Reading {
  deviceId: string;
  /** Point name as given in the site config. */
  point: string;
  /** Engineering value after type decoding, scale and offset; null when quality is `bad`. */
  value: number | null;
  quality: Quality;
  /** Milliseconds since the epoch when the value was valid at the device (the response time for Modbus). */
  sourceTs: number;
  /** Milliseconds since the epoch when the gateway received it. */
  gatewayTs: number;
  error?: ReadError;
}

/** Receives a batch of readings: all the points of one poll of one device. */
export type ReadingSink = (readings: Reading[]) => void;

export interface Driver {
  readonly id: string;
  /** Starts polling or subscribing; resolves once started (not once connected: devices may be down). */
  start(sink: ReadingSink): Promise<void>;
  /** Stops all timers and closes connections; resolves when nothing of the driver is left running. */
  stop(): Promise<void>;
}
