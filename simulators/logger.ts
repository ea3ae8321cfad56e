/**
 * The logging surface the simulator writes to. The simulator prints nothing itself (the CLI decides
 * where logs go), so every part takes one of these through its constructor; the default drops everything.
 */
export interface SimLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** A logger that discards everything: the default when the caller passes none. */
export function silentLogger(): SimLogger {
  const drop = (): void => undefined;
  return { debug: drop, info: drop, warn: drop, error: drop };
}
