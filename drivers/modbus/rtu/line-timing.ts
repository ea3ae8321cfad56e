/**
 * Timing of an asynchronous serial line carrying Modbus RTU (Modbus over Serial Line v1.02).
 *
 * A character on the wire is 1 start bit, the data bits, a parity bit unless parity is none, and the stop
 * bits (2.5.1: 11 bits in RTU mode as specified; 8N1 lines, common in practice, use 10). Frames are
 * separated by a silence of at least 3.5 character times, and a frame whose characters are more than 1.5
 * character times apart is broken (2.5.1.1). Above 19,200 baud both are fixed at 1.75 ms and 0.75 ms,
 * because at those speeds a receiver servicing an interrupt per character could not time them.
 *
 * Everything here is pure arithmetic, shared by the master (gap before each request), the simulator (how
 * long a frame takes to send) and the bus-utilisation bench.
 */
import type { BusConfig } from '../../device-config.js';

/** The line settings that decide the timing (a BusConfig has them all). */
export type LineSettings = Pick<BusConfig, 'baudRate' | 'parity' | 'dataBits' | 'stopBits' | 'interFrameGapMs'>;

/** Above this speed the spec fixes t3.5 and t1.5 instead of counting characters (2.5.1.1). */
export const FIXED_TIMING_ABOVE_BAUD = 19_200;
export const FIXED_INTER_FRAME_GAP_MS = 1.75;
export const FIXED_INTER_CHARACTER_TIMEOUT_MS = 0.75;

/** Bits per character: start + data + parity (if any) + stop. */
export function bitsPerCharacter(line: LineSettings): number {
  return 1 + line.dataBits + (line.parity === 'none' ? 0 : 1) + line.stopBits;
}

/** Time to send one character, in ms. */
export function characterTimeMs(line: LineSettings): number {
  if (!(line.baudRate > 0)) throw new RangeError(`baud rate must be > 0, got ${line.baudRate}`);
  return (bitsPerCharacter(line) * 1000) / line.baudRate;
}

/** Time to send `bytes` characters back to back, in ms. */
export function transmissionTimeMs(bytes: number, line: LineSettings): number {
  return bytes * characterTimeMs(line);
}

/** The silent interval between frames (t3.5): configured, or 3.5 characters, or 1.75 ms above 19,200 baud. */
export function interFrameGapMs(line: LineSettings): number {
  if (line.interFrameGapMs !== undefined) return line.interFrameGapMs;
  return line.baudRate > FIXED_TIMING_ABOVE_BAUD ? FIXED_INTER_FRAME_GAP_MS : 3.5 * characterTimeMs(line);
}

/** The longest silence inside a frame (t1.5): 1.5 characters, or 0.75 ms above 19,200 baud. */
export function interCharacterTimeoutMs(line: LineSettings): number {
  return line.baudRate > FIXED_TIMING_ABOVE_BAUD ? FIXED_INTER_CHARACTER_TIMEOUT_MS : 1.5 * characterTimeMs(line);
}

/**
 * Line time one request/response transaction occupies: both frames on the wire, the slave's turnaround
 * between them, and the inter-frame gap after each frame (the master must leave t3.5 before its next
 * request, and the slave t3.5 after the request before answering).
 */
export function transactionTimeMs(requestBytes: number, responseBytes: number, line: LineSettings, turnaroundMs = 0): number {
  const gap = interFrameGapMs(line);
  return transmissionTimeMs(requestBytes + responseBytes, line) + 2 * gap + turnaroundMs;
}
