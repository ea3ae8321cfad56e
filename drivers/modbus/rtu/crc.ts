/**
 * CRC-16/MODBUS, the error check of an RTU frame (Modbus over Serial Line v1.02, 2.5.1.2 and appendix B):
 * polynomial 0xA001 (0x8005 reflected), initial value 0xFFFF, no final XOR. The CRC is appended LOW byte
 * first, unlike every other 16-bit field of the frame.
 *
 * Table driven: one lookup per byte. A request or response is at most 256 bytes, so this is never a cost,
 * but a bus driver computes it twice per transaction and a simulator for every frame it serves.
 */

const TABLE: Uint16Array = (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
    table[byte] = crc;
  }
  return table;
})();

/** CRC-16/MODBUS of `bytes[start, end)`. */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) {
    crc = (crc >>> 8) ^ (TABLE[(crc ^ (bytes[i] as number)) & 0xff] as number);
  }
  return crc;
}

/** A copy of `body` with its CRC appended, low byte first. */
export function withCrc(body: Uint8Array): Buffer {
  const frame = Buffer.alloc(body.length + 2);
  frame.set(body, 0);
  const crc = crc16(body);
  frame[body.length] = crc & 0xff;
  frame[body.length + 1] = crc >>> 8;
  return frame;
}

/** The CRC a frame carries in its last two bytes (low byte first); undefined when it has fewer than 3 bytes. */
export function carriedCrc(frame: Uint8Array): number | undefined {
  if (frame.length < 3) return undefined;
  return (frame[frame.length - 2] as number) | ((frame[frame.length - 1] as number) << 8);
}

/** Whether the last two bytes of `frame` are the CRC of the bytes before them. */
export function hasValidCrc(frame: Uint8Array): boolean {
  return frame.length >= 3 && carriedCrc(frame) === crc16(frame, 0, frame.length - 2);
}
