/**
 * The lexer of OpenDSS script text: turns the text of one file into statements (one per logical line)
 * made of parameters, each `name=value` or a bare positional value.
 *
 * What the OpenDSS parser accepts and real files use (OpenDSS manual, "Command Language Syntax"):
 * - `!` and `//` start a comment that runs to the end of the line; `/* ... *\/` blocks span lines.
 * - A line whose first word is `~` or `more` continues the previous statement.
 * - Parameters are separated by white space or commas; `=` may have spaces around it.
 * - A value may be grouped by `"..."`, `'...'`, `(...)`, `[...]` or `{...}` and then holds spaces and commas.
 * - CRLF and LF line ends; stray NUL bytes (the EPRI ckt5 files have one each in two files) are dropped.
 */
import { DssInputError } from './dss-input-error.js';

export interface DssParameter {
  /** Lower-case property name, or undefined for a positional value. */
  name?: string;
  /** The value with its grouping quotes or brackets removed. */
  value: string;
}

export interface DssStatement {
  file: string;
  /** 1-based line of the statement's first line. */
  line: number;
  /** The folder relative paths in this statement are resolved against (the reader sets it). */
  dir: string;
  /** First entry: the command word (or, for `Class.name.prop=value`, a named parameter). */
  params: DssParameter[];
}

const CLOSING: Record<string, string> = { '"': '"', "'": "'", '(': ')', '[': ']', '{': '}' };

/** Splits the text of one file into statements; `file` and `dir` are copied onto each. */
export function lexDss(text: string, file: string, dir: string): DssStatement[] {
  const statements: DssStatement[] = [];
  const lines = text.replace(/\0/g, '').split(/\r\n|\n|\r/);
  let inBlockComment = false;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let raw = lines[i]!;
    if (inBlockComment) {
      const end = raw.indexOf('*/');
      if (end < 0) continue;
      raw = raw.slice(end + 2);
      inBlockComment = false;
    }
    if (raw.trimStart().startsWith('/*')) {
      const rest = raw.trimStart().slice(2);
      const end = rest.indexOf('*/');
      if (end < 0) {
        inBlockComment = true;
        continue;
      }
      raw = rest.slice(end + 2);
    }
    const params = tokenize(stripComment(raw), file, lineNo);
    if (params.length === 0) continue;
    const first = params[0]!;
    const continues = first.name === undefined && (first.value === '~' || first.value.toLowerCase() === 'more');
    if (continues) {
      const previous = statements[statements.length - 1];
      if (previous === undefined) throw new DssInputError(file, lineNo, `"${first.value}" continues a statement, but there is none before it`);
      previous.params.push(...params.slice(1));
      continue;
    }
    statements.push({ file, line: lineNo, dir, params });
  }
  return statements;
}

/**
 * Cuts a `!` or `//` comment off, unless it sits inside a quoted or bracketed value. A value is grouped only
 * where a token starts (as `tokenize` reads it): a quote inside a name (`Load.O'Brien`) or a bracket inside a
 * quoted value (`"a(b"`) groups nothing.
 */
function stripComment(line: string): string {
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    const atTokenStart = i === 0 || /[\s,=]/.test(line[i - 1]!);
    const closer = atTokenStart ? CLOSING[c] : undefined;
    if (closer !== undefined) {
      // Skip the group the way tokenize reads it: nesting counted for the same bracket only.
      let depth = 0;
      let j = i + 1;
      for (; j < line.length; j++) {
        if (line[j] === closer) {
          if (depth === 0) break;
          depth--;
        } else if (line[j] === c && c !== closer) depth++;
      }
      if (j >= line.length) return line; // unclosed: tokenize reports it
      i = j;
      continue;
    }
    if (c === '!' || (c === '/' && line[i + 1] === '/')) return line.slice(0, i);
  }
  return line;
}

/** Splits one line (comment already removed) into parameters. */
export function tokenize(line: string, file: string, lineNo: number): DssParameter[] {
  const params: DssParameter[] = [];
  let i = 0;
  const isSeparator = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === ',' || c === '\f' || c === '\v';
  const skipSeparators = (): void => {
    while (i < line.length && isSeparator(line[i])) i++;
  };
  const skipBlanks = (): void => {
    while (i < line.length && (line[i] === ' ' || line[i] === '\t')) i++;
  };
  const readToken = (stopAtEquals: boolean): string => {
    const c = line[i]!;
    const closer = CLOSING[c];
    if (closer !== undefined) {
      let depth = 0;
      const start = i;
      for (; i < line.length; i++) {
        const d = line[i]!;
        if (i > start && d === closer) {
          if (depth === 0) {
            i++;
            return line.slice(start + 1, i - 1);
          }
          depth--;
        } else if (i > start && d === c && c !== closer) depth++;
      }
      throw new DssInputError(file, lineNo, `unclosed ${c}: no matching ${closer} on this line`);
    }
    const start = i;
    while (i < line.length && !isSeparator(line[i]) && !(stopAtEquals && line[i] === '=')) i++;
    return line.slice(start, i);
  };
  skipSeparators();
  while (i < line.length) {
    const token = readToken(true);
    skipBlanks();
    if (line[i] === '=') {
      i++;
      skipBlanks();
      if (token === '') throw new DssInputError(file, lineNo, `"=" without a property name before it`);
      const value = i < line.length && !isSeparator(line[i]) ? readToken(false) : '';
      params.push({ name: token.toLowerCase(), value });
    } else {
      params.push({ value: token });
    }
    skipSeparators();
  }
  return params;
}
