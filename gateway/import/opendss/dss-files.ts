/**
 * Finding the files an OpenDSS script names. OpenDSS was written for Windows, where file names are
 * case-insensitive: scripts say `Redirect IEEELineCodes.dss` for a file saved as `IEEELineCodes.DSS`. On a
 * case-sensitive file system each path segment is looked up in its folder's listing when the exact name
 * does not exist.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';

/** Strips the grouping OpenDSS allows around a file name: `(file)`, `"file"`, `'file'`, `[file]`. */
export function unwrapFileName(name: string): string {
  let out = name.trim();
  for (;;) {
    const first = out[0];
    const last = out[out.length - 1];
    const wrapped = (first === '(' && last === ')') || (first === '"' && last === '"') || (first === "'" && last === "'") || (first === '[' && last === ']');
    if (!wrapped || out.length < 2) return out;
    out = out.slice(1, -1).trim();
  }
}

/** The existing file `name` (relative to `dir`) names, matching each segment case-insensitively; undefined if none. */
export function resolveCaseInsensitive(dir: string, name: string): string | undefined {
  const wanted = resolve(dir, name.replace(/\\/g, '/'));
  if (existsSync(wanted)) return wanted;
  const segments = wanted.split(sep).filter((s) => s !== '');
  let current = isAbsolute(wanted) ? sep : '';
  for (const segment of segments) {
    const exact = join(current, segment);
    if (existsSync(exact)) {
      current = exact;
      continue;
    }
    let entries: string[];
    try {
      entries = readdirSync(current);
    } catch {
      return undefined;
    }
    const match = entries.find((e) => e.toLowerCase() === segment.toLowerCase());
    if (match === undefined) return undefined;
    current = join(current, match);
  }
  return current;
}

/** Reads a text file as latin1: DSS files are ASCII, and latin1 never fails on a stray byte. */
export function readDssText(path: string): string {
  return readFileSync(path, 'latin1');
}
