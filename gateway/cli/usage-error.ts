/** A mistake in how a command was called (missing option, bad value): exit code 2 with the command's help. */
export class UsageError extends Error {
  override name = 'UsageError';
}
