/**
 * Maps what modbus-serial (and the socket under it) throws onto the stable `ReadError` codes.
 *
 * modbus-serial's errors are loosely shaped: exceptions carry `modbusCode`, its own timeout is a
 * plain object (not an `Error`) with `errno: 'ETIMEDOUT'` and message "Timed out", "Port Not Open"
 * carries `errno: 'ECONNREFUSED'` although it means the connection is gone, and framing problems
 * are plain `Error`s told apart only by their message. So the mapping looks at fields defensively
 * and also takes the phase: the same socket error means "refused" while connecting and "lost" after.
 */
import type { ReadError } from '../reading.js';

/** The fields modbus-serial and Node's net module put on the errors they raise. */
interface ErrorLike {
  message?: unknown;
  code?: unknown;
  errno?: unknown;
  modbusCode?: unknown;
}

/** Whether the error happened while opening the connection or during a request on an open one. */
export type ErrorPhase = 'connect' | 'request';

/** Exception codes of the Modbus Application Protocol specification v1.1b3, section 7. */
const EXCEPTION_NAMES: Readonly<Record<number, string>> = {
  1: 'Illegal Function',
  2: 'Illegal Data Address',
  3: 'Illegal Data Value',
  4: 'Server Device Failure',
  5: 'Acknowledge',
  6: 'Server Device Busy',
  8: 'Memory Parity Error',
  10: 'Gateway Path Unavailable',
  11: 'Gateway Target Device Failed to Respond',
};

/**
 * Exceptions that can clear by themselves (device busy, a gateway that cannot reach the device
 * right now). Illegal function/address/value are configuration errors: retrying cannot help.
 */
const RETRYABLE_EXCEPTIONS: ReadonlySet<number> = new Set([4, 5, 6, 8, 10, 11]);

/** Socket error codes meaning "there is no peer to talk to (right now)". */
const CONNECT_FAILURE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
]);

/** Socket error codes meaning "the peer was there and the connection broke". */
const CONNECTION_LOST_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_SOCKET_CLOSED']);

function asErrorLike(err: unknown): ErrorLike {
  return typeof err === 'object' && err !== null ? (err as ErrorLike) : {};
}

function messageOf(err: unknown): string {
  const { message } = asErrorLike(err);
  if (typeof message === 'string' && message !== '') return message;
  return typeof err === 'string' ? err : 'unknown error';
}

/** "Modbus exception 2 (Illegal Data Address)". */
export function describeException(code: number): string {
  return `Modbus exception ${code} (${EXCEPTION_NAMES[code] ?? 'Unknown exception'})`;
}

/** A Modbus exception answer; carries `exceptionCode` (the device reader re-reads point by point on 2 and 3). */
export function modbusExceptionError(code: number): ReadError {
  return {
    code: 'MODBUS_EXCEPTION',
    message: describeException(code),
    retryable: RETRYABLE_EXCEPTIONS.has(code),
    exceptionCode: code,
  };
}

export function timeoutError(timeoutMs: number): ReadError {
  return { code: 'TIMEOUT', message: `no response within ${timeoutMs} ms`, retryable: true };
}

export function connectionLostError(detail: string): ReadError {
  return { code: 'CONNECTION_LOST', message: `connection lost: ${detail}`, retryable: true };
}

export function connectionRefusedError(detail: string): ReadError {
  return { code: 'CONNECTION_REFUSED', message: `cannot connect: ${detail}`, retryable: true };
}

export function decodeError(detail: string): ReadError {
  return { code: 'DECODE_ERROR', message: detail, retryable: true };
}

/** A raw value the point declares as "not available" (its `sentinels`). */
export function noDataError(detail: string): ReadError {
  return { code: 'NO_DATA', message: detail, retryable: true };
}

export function badResponseError(detail: string): ReadError {
  return { code: 'BAD_RESPONSE', message: detail, retryable: true };
}

/** Maps an error thrown by modbus-serial or the socket to a `ReadError`. */
export function toReadError(err: unknown, phase: ErrorPhase, timeoutMs: number): ReadError {
  const fields = asErrorLike(err);
  const message = messageOf(err);
  const code = typeof fields.code === 'string' ? fields.code : undefined;

  if (phase === 'connect') {
    return connectionRefusedError(code !== undefined && !message.includes(code) ? `${code} ${message}` : message);
  }

  if (typeof fields.modbusCode === 'number') return modbusExceptionError(fields.modbusCode);
  if (fields.errno === 'ETIMEDOUT' || message === 'Timed out') return timeoutError(timeoutMs);
  // "Port Not Open" is raised when a request is made on a socket that has already closed.
  if (message === 'Port Not Open') return connectionLostError('socket is closed');
  if (code !== undefined && (CONNECTION_LOST_CODES.has(code) || CONNECT_FAILURE_CODES.has(code))) {
    return connectionLostError(`${code} ${message}`);
  }
  // CRC errors, length mismatches, unexpected unit id or function code in the answer.
  return { code: 'BAD_RESPONSE', message, retryable: true };
}
