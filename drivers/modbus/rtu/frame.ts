/**
 * Modbus RTU frames as a master sees them: requests out, responses in.
 *
 * A frame is `unit id | PDU | CRC (low byte first)` (Modbus over Serial Line v1.02, 2.5.1), at most 256
 * bytes. RTU has no length field: the end of a frame is the 3.5-character silence after it. A master does
 * not have to rely on timing alone, though: every response PDU says how long it is (a byte count after the
 * function code of a read, fixed lengths for an exception and for FC 6/16 answers), so `responseLength()`
 * cuts a frame as soon as its last byte is in, and silence only ends frames that stop short.
 *
 * `parseResponse()` classifies a delimited frame with the stable codes of docs/errors.md, checking in the
 * order a receiver must: length (TRUNCATED_FRAME), CRC (CRC_ERROR), address (WRONG_UNIT_ID), then the PDU
 * (MODBUS_EXCEPTION, BAD_RESPONSE). A wrong unit id is only meaningful after the CRC: a corrupted address
 * byte is a CRC error, not another device talking.
 */
import type { ReadError } from '../../reading.js';
import { modbusExceptionError } from '../errors.js';
import { carriedCrc, crc16, hasValidCrc, withCrc } from './crc.js';

/** Largest RTU frame: address + 253-byte PDU + CRC (2.5.1.1). */
export const MAX_FRAME_LENGTH = 256;
/** unit id, function | 0x80, exception code, CRC. */
export const EXCEPTION_FRAME_LENGTH = 5;
/** Read quantities the Modbus Application Protocol v1.1b3 allows (6.1-6.4), and FC 16's (6.12). */
export const MAX_READ_REGISTERS = 125;
export const MAX_READ_BITS = 2000;
export const MAX_WRITE_REGISTERS = 123;

export type ReadFunctionCode = 1 | 2 | 3 | 4;

/** A request the master can send. Addresses are 0-based wire addresses. */
export type RtuRequest =
  | { unitId: number; fn: ReadFunctionCode; address: number; quantity: number }
  | { unitId: number; fn: 6; address: number; value: number }
  | { unitId: number; fn: 16; address: number; values: readonly number[] };

/** What a well-formed response carried. */
export type RtuResponse =
  | { kind: 'registers'; registers: Uint16Array }
  | { kind: 'bits'; bits: Uint8Array }
  | { kind: 'written' };

export type ParsedResponse = { ok: true; response: RtuResponse } | { ok: false; error: ReadError };

function checkUint16(what: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`${what} must be an integer 0..65535, got ${value}`);
}

/** Throws a RangeError for a request no device could accept (caught before anything goes on the wire). */
export function validateRequest(req: RtuRequest): void {
  // 1..247 are the individual addresses of 2.2; 248..255 are reserved but some devices use them.
  if (!Number.isInteger(req.unitId) || req.unitId < 0 || req.unitId > 255) {
    throw new RangeError(`unit id must be 0..255 (0 = broadcast), got ${req.unitId}`);
  }
  checkUint16('address', req.address);
  if (req.fn === 6) {
    checkUint16('value', req.value);
    return;
  }
  const quantity = req.fn === 16 ? req.values.length : req.quantity;
  const max = req.fn === 16 ? MAX_WRITE_REGISTERS : req.fn <= 2 ? MAX_READ_BITS : MAX_READ_REGISTERS;
  if (!Number.isInteger(quantity) || quantity < 1 || quantity > max) {
    throw new RangeError(`quantity must be 1..${max} for function ${req.fn}, got ${quantity}`);
  }
  if (req.address + quantity > 0x10000) throw new RangeError(`address ${req.address} + quantity ${quantity} runs past 65535`);
  if (req.fn === 16) req.values.forEach((v, i) => checkUint16(`values[${i}]`, v));
  if (req.fn !== 16 && req.unitId === 0) throw new RangeError('reads cannot be broadcast (unit id 0)');
}

/** The request frame, CRC included. */
export function encodeRequest(req: RtuRequest): Buffer {
  validateRequest(req);
  let body: Buffer;
  if (req.fn === 16) {
    body = Buffer.alloc(7 + 2 * req.values.length);
    body.writeUInt16BE(req.address, 2);
    body.writeUInt16BE(req.values.length, 4);
    body.writeUInt8(2 * req.values.length, 6);
    req.values.forEach((v, i) => body.writeUInt16BE(v, 7 + 2 * i));
  } else {
    body = Buffer.alloc(6);
    body.writeUInt16BE(req.address, 2);
    body.writeUInt16BE(req.fn === 6 ? req.value : req.quantity, 4);
  }
  body.writeUInt8(req.unitId, 0);
  body.writeUInt8(req.fn, 1);
  return withCrc(body);
}

/** Data bytes of a read response: two per register, one per eight bits. */
function readByteCount(fn: ReadFunctionCode, quantity: number): number {
  return fn <= 2 ? Math.ceil(quantity / 8) : 2 * quantity;
}

/** Length of the normal (non-exception) response frame to `req`. */
export function expectedResponseLength(req: RtuRequest): number {
  if (req.fn === 6 || req.fn === 16) return 8;
  return 5 + readByteCount(req.fn, req.quantity);
}

/**
 * Length of the response frame at the start of `buffer`, as its header says: a number, `undefined` while
 * the header is not complete, or `'unknown'` for a function code whose answer has no known layout (only
 * silence can end that frame).
 */
export function responseLength(buffer: Uint8Array): number | undefined | 'unknown' {
  if (buffer.length < 2) return undefined;
  const fn = buffer[1] as number;
  if (fn & 0x80) return EXCEPTION_FRAME_LENGTH;
  switch (fn) {
    case 1:
    case 2:
    case 3:
    case 4:
      return buffer.length < 3 ? undefined : 5 + (buffer[2] as number);
    case 5:
    case 6:
    case 15:
    case 16:
      return 8;
    default:
      return 'unknown';
  }
}

/** `01 03 00 00 ...`, for error messages. Long frames are cut. */
export function hex(bytes: Uint8Array, max = 16): string {
  const shown = Array.from(bytes.subarray(0, max), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return bytes.length > max ? `${shown} ... (${bytes.length} bytes)` : shown;
}

function badResponse(message: string): ParsedResponse {
  return { ok: false, error: { code: 'BAD_RESPONSE', message, retryable: true } };
}

export function truncatedFrameError(received: Uint8Array, expected: number | undefined): ReadError {
  const of = expected === undefined ? '' : ` of ${expected}`;
  return {
    code: 'TRUNCATED_FRAME',
    message: `response ended after ${received.length}${of} bytes: ${hex(received)}`,
    retryable: true,
  };
}

/**
 * Classifies one delimited response frame (cut at the length its header gives, or ended by silence) as an
 * answer to `req`.
 */
export function parseResponse(req: RtuRequest, frame: Uint8Array): ParsedResponse {
  const declared = responseLength(frame);
  const expected = typeof declared === 'number' ? declared : undefined;
  if (frame.length < EXCEPTION_FRAME_LENGTH || (expected !== undefined && frame.length < expected)) {
    // A complete frame with a valid CRC that is shorter than its own header says is a device bug, not a cut.
    if (frame.length >= 4 && hasValidCrc(frame)) {
      return badResponse(`inconsistent response frame: ${frame.length} bytes, its header says ${expected ?? 'more'}: ${hex(frame)}`);
    }
    return { ok: false, error: truncatedFrameError(frame, expected ?? expectedResponseLength(req)) };
  }
  if (!hasValidCrc(frame)) {
    const carried = carriedCrc(frame) as number;
    const computed = crc16(frame, 0, frame.length - 2);
    return {
      ok: false,
      error: {
        code: 'CRC_ERROR',
        message: `CRC mismatch: frame carries 0x${carried.toString(16).padStart(4, '0')}, computed 0x${computed
          .toString(16)
          .padStart(4, '0')}: ${hex(frame)}`,
        retryable: true,
      },
    };
  }
  const unitId = frame[0] as number;
  if (unitId !== req.unitId) {
    return {
      ok: false,
      error: { code: 'WRONG_UNIT_ID', message: `answer from unit ${unitId}, expected unit ${req.unitId}`, retryable: true },
    };
  }
  const fn = frame[1] as number;
  if (fn === (req.fn | 0x80)) {
    if (frame.length !== EXCEPTION_FRAME_LENGTH) return badResponse(`exception frame of ${frame.length} bytes: ${hex(frame)}`);
    return { ok: false, error: modbusExceptionError(frame[2] as number) };
  }
  if (fn !== req.fn) return badResponse(`function code ${fn} in the answer to function ${req.fn}: ${hex(frame)}`);

  const data = Buffer.from(frame.buffer, frame.byteOffset, frame.length);
  if (req.fn === 6) {
    const address = data.readUInt16BE(2);
    const value = data.readUInt16BE(4);
    if (frame.length !== 8 || address !== req.address || value !== req.value) {
      return badResponse(`FC 6 echo ${hex(frame)} does not match register ${req.address} = ${req.value}`);
    }
    return { ok: true, response: { kind: 'written' } };
  }
  if (req.fn === 16) {
    const address = data.readUInt16BE(2);
    const quantity = data.readUInt16BE(4);
    if (frame.length !== 8 || address !== req.address || quantity !== req.values.length) {
      return badResponse(`FC 16 answer ${hex(frame)} does not match ${req.values.length} registers at ${req.address}`);
    }
    return { ok: true, response: { kind: 'written' } };
  }
  const byteCount = data.readUInt8(2);
  const wanted = readByteCount(req.fn, req.quantity);
  if (byteCount !== wanted || frame.length !== 5 + byteCount) {
    return badResponse(`byte count ${byteCount} in the answer to a read of ${req.quantity}, expected ${wanted}: ${hex(frame)}`);
  }
  if (req.fn <= 2) {
    const bits = new Uint8Array(req.quantity);
    for (let i = 0; i < req.quantity; i++) bits[i] = ((data[3 + (i >> 3)] as number) >> (i & 7)) & 1;
    return { ok: true, response: { kind: 'bits', bits } };
  }
  const registers = new Uint16Array(req.quantity);
  for (let i = 0; i < req.quantity; i++) registers[i] = data.readUInt16BE(3 + 2 * i);
  return { ok: true, response: { kind: 'registers', registers } };
}
