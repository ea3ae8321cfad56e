/** A problem with the OpenDSS input itself (syntax, missing file, undefined element), located by file and line. */
export class DssInputError extends Error {
  override name = 'DssInputError';

  constructor(
    readonly file: string,
    /** 1-based; 0 when the problem concerns the file as a whole (not found, unreadable). */
    readonly line: number,
    readonly problem: string,
  ) {
    super(line > 0 ? `${file}:${line}: ${problem}` : `${file}: ${problem}`);
  }
}
