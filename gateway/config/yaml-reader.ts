import { isAlias, isMap, isScalar, isSeq, parseDocument, Scalar, type YAMLError, type YAMLMap } from 'yaml';
import { formatPath, type PathSegment } from './config-path.js';
import type { ConfigIssue } from './site-config-error.js';

export interface YamlReadResult {
  value: unknown;
  issues: ConfigIssue[];
}

/**
 * Parses one YAML document into plain values. Problems are reported as issues: the first syntax error
 * with its line and column, unknown anchors, aliases that would make a cycle, non-scalar keys.
 */
export function readYaml(text: string): YamlReadResult {
  // uniqueKeys: a key given twice is an error, not "last one wins".
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  // Warnings (e.g. an unknown !tag) count too: a config file should mean exactly one thing.
  const problems = [...doc.errors, ...doc.warnings];
  const first = problems[0];
  if (first !== undefined) {
    // One slip makes the parser report dozens of follow-on errors; the first is the one to fix.
    const issue = syntaxIssue(first);
    if (problems.length > 1) issue.message += ` (and ${problems.length - 1} more YAML errors, often caused by this one)`;
    return { value: undefined, issues: [issue] };
  }
  return new ValueBuilder().build(doc.contents);
}

function syntaxIssue(problem: YAMLError): ConfigIssue {
  // yaml's message ends with a code frame of the offending line, which could hold a secret: keep the
  // first sentence only and give the position as numbers.
  const reason = (problem.message.split('\n')[0] ?? problem.code).replace(/ at line \d+, column \d+:?$/, '');
  const start = problem.linePos?.[0];
  if (start === undefined) return { path: '', message: `YAML error: ${reason}` };
  return { path: '', message: `YAML error at line ${start.line}, column ${start.col}: ${reason}`, line: start.line, column: start.col };
}

/**
 * Converts the parsed document to plain values; used instead of yaml's own toJS, which scans the whole
 * document for every alias (minutes for a site with 100,000 meters aliasing one point list).
 * An alias becomes the very object its anchor produced, so shared point lists stay shared. Merge keys
 * (`<<: *defaults`) are supported: explicit keys win, then earlier merge sources.
 */
class ValueBuilder {
  private readonly issues: ConfigIssue[] = [];
  private readonly anchors = new Map<string, unknown>();
  /** Anchors whose node is being converted: an alias to one of them would make a cycle. */
  private readonly open = new Set<string>();

  build(root: unknown): YamlReadResult {
    const value = this.convert(root, []);
    return { value, issues: this.issues };
  }

  private convert(node: unknown, segments: readonly PathSegment[]): unknown {
    if (node === null || node === undefined) return null;
    if (isAlias(node)) return this.resolveAlias(node.source, segments);
    if (!isScalar(node) && !isSeq(node) && !isMap(node)) return null;
    const anchor = node.anchor;
    if (anchor !== undefined) this.open.add(anchor);
    let value: unknown;
    if (isScalar(node)) value = node.value;
    else if (isSeq(node)) value = node.items.map((item, index) => this.convert(item, [...segments, index]));
    else value = this.convertMap(node, segments);
    if (anchor !== undefined) {
      this.open.delete(anchor);
      // A later anchor of the same name replaces the earlier one for the aliases after it, as YAML says.
      this.anchors.set(anchor, value);
    }
    return value;
  }

  private resolveAlias(source: string, segments: readonly PathSegment[]): unknown {
    const path = formatPath(segments);
    if (this.open.has(source)) {
      this.issues.push({ path, message: `alias *${source} is inside the node it refers to (a cycle)` });
      return null;
    }
    if (!this.anchors.has(source)) {
      this.issues.push({ path, message: `alias *${source} has no anchor &${source} before it` });
      return null;
    }
    return this.anchors.get(source);
  }

  private convertMap(node: YAMLMap, segments: readonly PathSegment[]): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const mergeSources: unknown[] = [];
    for (const pair of node.items) {
      const key = pair.key;
      if (isScalar(key) && key.type === Scalar.PLAIN && key.value === '<<') {
        const merged = this.convert(pair.value, [...segments, '<<']);
        mergeSources.push(...(Array.isArray(merged) ? merged : [merged]));
        continue;
      }
      if (!isScalar(key)) {
        this.issues.push({ path: formatPath(segments), message: 'a key must be a plain value, not a list or mapping' });
        continue;
      }
      const name = String(key.value);
      define(out, name, this.convert(pair.value, [...segments, name]));
    }
    for (const source of mergeSources) {
      if (typeof source !== 'object' || source === null || Array.isArray(source)) {
        this.issues.push({ path: formatPath([...segments, '<<']), message: 'a merge key (<<) takes a mapping or a list of mappings' });
        continue;
      }
      for (const [name, value] of Object.entries(source)) {
        if (!Object.hasOwn(out, name)) define(out, name, value);
      }
    }
    return out;
  }
}

/** defineProperty, so a key named "__proto__" stays an ordinary (and, by the schema, unknown) key. */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
