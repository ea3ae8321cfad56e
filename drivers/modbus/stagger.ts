/**
 * Deterministic spreading of work over time, derived from a device id.
 *
 * A thousand devices with the same poll interval must not all poll in the same tick, and the spread
 * must not depend on start order or randomness, so that a site behaves the same on every restart and
 * in every test. A stable hash of the device id gives each device its own phase.
 */

/** FNV-1a 32-bit hash of a string's UTF-16 code units: tiny, stable across runs and platforms. */
export function stableHash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Delay of a device's first poll after start, in [0, intervalMs). */
export function staggerOffsetMs(deviceId: string, intervalMs: number): number {
  if (!(intervalMs > 0)) return 0;
  return stableHash32(deviceId) % Math.floor(intervalMs);
}

/**
 * A deterministic number in [0, 1) for (key, n): used for jitter, so that devices behind one
 * failed switch do not retry in lockstep, while a given device's retry times stay reproducible.
 */
export function stableUnit(key: string, n: number): number {
  // Mix n into the key's hash (murmur3 finalizer) so consecutive n give unrelated values.
  let h = (stableHash32(key) ^ Math.imul(n + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h = (h ^ (h >>> 16)) >>> 0;
  return h / 0x100000000;
}
