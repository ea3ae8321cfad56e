import { formatPath, type PathSegment } from './config-path.js';
import type { ConfigIssue } from './site-config-error.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface EnvSubstitutionResult {
  /** A copy of the input with every `${NAME}` replaced; the input is not modified. */
  value: unknown;
  issues: ConfigIssue[];
  /**
   * Paths whose value was taken (partly) from the environment. Later messages redact these values:
   * the environment is where secrets live, whatever the key is called.
   */
  substitutedPaths: Set<string>;
  /** The values taken from the environment (to be masked in logs wherever they appear). */
  substitutedValues: Set<string>;
}

// `$${` is an escaped literal `${`; `${NAME}` is a reference; any other `${` is a mistake worth reporting.
const TOKEN = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{/g;

/**
 * Replaces `${NAME}` in every string value (not in keys) with `env[NAME]`. Values stay strings, so a
 * number-typed key cannot be taken from the environment; that is on purpose, a port is not a secret.
 */
export function substituteEnv(root: unknown, env: Env): EnvSubstitutionResult {
  const issues: ConfigIssue[] = [];
  const substitutedPaths = new Set<string>();
  const substitutedValues = new Set<string>();
  // A YAML alias is the same JS object in several places. Copying each object once keeps the sharing
  // (one point list for thousands of meters) and reports a missing variable once, at its first path.
  const copies = new Map<object, unknown>();

  function substituteString(text: string, segments: readonly PathSegment[]): string {
    if (!text.includes('${')) return text;
    const path = formatPath(segments);
    let substituted = false;
    const result = text.replace(TOKEN, (match: string, name: string | undefined) => {
      if (match === '$${') return '${';
      if (name === undefined) {
        issues.push({ path, message: 'malformed "${": write ${NAME} (letters, digits, _) or $${ for a literal "${"' });
        return match;
      }
      const value = env[name];
      if (value === undefined) {
        issues.push({ path, message: `environment variable ${name} is not set` });
        return match;
      }
      substituted = true;
      substitutedValues.add(value);
      return value;
    });
    if (substituted) substitutedPaths.add(path);
    return result;
  }

  function visit(node: unknown, segments: readonly PathSegment[]): unknown {
    if (typeof node === 'string') return substituteString(node, segments);
    if (node === null || typeof node !== 'object') return node;
    const done = copies.get(node);
    if (done !== undefined) return done;
    if (Array.isArray(node)) {
      const copy: unknown[] = [];
      copies.set(node, copy);
      node.forEach((item: unknown, index) => copy.push(visit(item, [...segments, index])));
      return copy;
    }
    const copy: Record<string, unknown> = {};
    copies.set(node, copy);
    for (const [key, value] of Object.entries(node)) {
      // defineProperty, so a key named "__proto__" stays an (unknown, rejected) key instead of a prototype.
      Object.defineProperty(copy, key, { value: visit(value, [...segments, key]), enumerable: true, writable: true, configurable: true });
    }
    return copy;
  }

  return { value: visit(root, []), issues, substitutedPaths, substitutedValues };
}
