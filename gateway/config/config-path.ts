/** A step into a parsed document: an object key or an array index. */
export type PathSegment = string | number;

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Renders segments the way an operator reads them: `feeders[0].switches[2].to`. */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (PLAIN_KEY.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/**
 * Keys whose values are credentials and must never appear in an error message, even when written into the
 * file itself rather than taken from the environment.
 */
const SECRET_KEYS: ReadonlySet<string> = new Set(['password', 'username', 'token']);

export function isSecretPath(segments: readonly PathSegment[]): boolean {
  const last = segments[segments.length - 1];
  return typeof last === 'string' && SECRET_KEYS.has(last);
}
