/**
 * Reads an OpenDSS script and every file it pulls in with `Redirect` or `Compile`, in execution order, into
 * one list of statements.
 *
 * `Redirect f` runs f with f's folder as the current folder and returns to the caller's folder afterwards;
 * `Compile f` does the same but leaves the current folder at f's folder (OpenDSS manual; the IEEE 123 run
 * script says so in its comments). File names resolve case-insensitively (dss-files.ts).
 */
import { basename, dirname } from 'node:path';
import { DssInputError } from './dss-input-error.js';
import { readDssText, resolveCaseInsensitive, unwrapFileName } from './dss-files.js';
import { lexDss, type DssStatement } from './dss-lexer.js';

export interface DssScript {
  statements: DssStatement[];
  /** Every file read, in the order they were first read. */
  files: string[];
}

/** A nesting deeper than this is a Redirect cycle, not a real circuit. */
const MAX_DEPTH = 32;

export function readDssScript(masterPath: string): DssScript {
  const files: string[] = [];
  const statements: DssStatement[] = [];
  let currentDir = dirname(masterPath);
  /** The files being read, outermost first: a Redirect into one of them is a cycle (DSS has no conditionals). */
  const reading: string[] = [];

  const readFile = (path: string, depth: number, from: { file: string; line: number } | undefined): void => {
    if (depth > MAX_DEPTH) throw new DssInputError(from?.file ?? path, from?.line ?? 0, `files redirect into each other more than ${MAX_DEPTH} deep (a Redirect cycle?)`);
    let text: string;
    try {
      text = readDssText(path);
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : `cannot be read (${(err as Error).message})`;
      if (from) throw new DssInputError(from.file, from.line, `${basename(path)}: ${why}`);
      throw new DssInputError(path, 0, why);
    }
    if (!files.includes(path)) files.push(path);
    reading.push(path);
    for (const statement of lexDss(text, path, currentDir)) {
      const command = statement.params[0]!;
      const word = command.name === undefined ? command.value.toLowerCase() : '';
      if (word === 'redirect' || word === 'compile') {
        const target = statement.params[1];
        if (target === undefined || target.value.trim() === '') throw new DssInputError(statement.file, statement.line, `${command.value} needs a file name`);
        const name = unwrapFileName(target.value);
        const resolved = resolveCaseInsensitive(currentDir, name);
        if (resolved === undefined) throw new DssInputError(statement.file, statement.line, `${command.value} ${name}: file not found (looked in ${currentDir}, ignoring case)`);
        if (reading.includes(resolved)) {
          const chain = [...reading.slice(reading.indexOf(resolved)), resolved].map((f) => basename(f)).join(' -> ');
          throw new DssInputError(statement.file, statement.line, `${command.value} ${name}: a Redirect cycle (${chain})`);
        }
        const callerDir = currentDir;
        currentDir = dirname(resolved);
        readFile(resolved, depth + 1, { file: statement.file, line: statement.line });
        if (word === 'redirect') currentDir = callerDir;
        continue;
      }
      statement.dir = currentDir;
      statements.push(statement);
    }
    reading.pop();
  };

  readFile(masterPath, 0, undefined);
  return { statements, files };
}
