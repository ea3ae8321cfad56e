/**
 * The seam between "what to read from a Modbus device" (the device reader: block plan, decoding, fallbacks)
 * and "how a request travels" (Modbus TCP through modbus-serial, RTU frames on a serial line or through a
 * serial device server). One requester serves one channel; the caller guarantees one request at a time
 * where the channel needs it (an RTU bus).
 */
import type { ReadError } from '../reading.js';

export interface ModbusRequester {
  /** FC 3 (holding) or FC 4 (input): `quantity` registers from `address`. */
  readRegisters(unitId: number, fn: 'holding' | 'input', address: number, quantity: number, timeoutMs: number): Promise<Uint16Array>;
  /** FC 1 (coil) or FC 2 (discrete input): `quantity` bits from `address`, one 0/1 per element. */
  readBits(unitId: number, fn: 'coil' | 'discrete', address: number, quantity: number, timeoutMs: number): Promise<Uint8Array>;
  /** FC 6: one holding register. */
  writeRegister(unitId: number, address: number, value: number, timeoutMs: number): Promise<void>;
}

/** What a requester rejects with: the failure already classified with a stable code (docs/errors.md). */
export class ModbusRequestError extends Error {
  override readonly name = 'ModbusRequestError';
  constructor(readonly readError: ReadError) {
    super(`${readError.code}: ${readError.message}`);
  }
}
