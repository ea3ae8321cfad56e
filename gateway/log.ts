/**
 * A small structured logger: levels, child loggers with bound fields ({module, deviceId}), JSON lines for
 * log collectors or one readable line per record for people. Fields whose name looks like a credential are
 * redacted, and so is any string registered as a secret (values substituted from the environment), wherever
 * it appears: secrets never reach logs.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
const SECRET_KEY = /pass(word)?|secret|token|credential|private.?key|authorization/i;
const REDACTED = '[redacted]';

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(bindings: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: 'json' | 'pretty';
  /** Where lines go; defaults to stderr so stdout stays free for command output. */
  write?: (line: string) => void;
  /** Literal values to mask wherever they appear. */
  secrets?: Iterable<string>;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const secrets = [...(opts.secrets ?? [])].filter((s) => s.length >= 3);
  const shared = {
    rank: LEVEL_RANK[opts.level ?? 'info'],
    format: opts.format ?? (process.stderr.isTTY ? 'pretty' : 'json'),
    write: opts.write ?? ((line: string) => process.stderr.write(line + '\n')),
    secrets,
  };
  return new StructuredLogger(shared, {});
}

/** A logger that drops everything (tests, library use). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

interface SharedState {
  rank: number;
  format: 'json' | 'pretty';
  write: (line: string) => void;
  secrets: string[];
}

class StructuredLogger implements Logger {
  constructor(
    private readonly shared: SharedState,
    private readonly bindings: LogFields,
  ) {}

  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }
  child(bindings: LogFields): Logger {
    return new StructuredLogger(this.shared, { ...this.bindings, ...bindings });
  }

  private log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (LEVEL_RANK[level] < this.shared.rank) return;
    const record: LogFields = { time: new Date().toISOString(), level, ...this.bindings, msg, ...fields };
    const line = this.shared.format === 'json' ? JSON.stringify(record, (k, v) => this.redact(k, v)) : this.pretty(record);
    this.shared.write(this.maskSecrets(line));
  }

  private redact(key: string, value: unknown): unknown {
    if (value instanceof Error) return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
    if (key !== '' && SECRET_KEY.test(key) && value !== undefined && value !== null) return REDACTED;
    return value;
  }

  private pretty(record: LogFields): string {
    const { time, level, msg, module, ...rest } = record;
    const extras = Object.entries(rest)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => `${k}=${formatValue(this.redact(k, v))}`)
      .join(' ');
    const where = module === undefined ? '' : ` [${String(module)}]`;
    return `${String(time)} ${String(level).toUpperCase().padEnd(5)}${where} ${String(msg)}${extras ? ' ' + extras : ''}`;
  }

  private maskSecrets(line: string): string {
    let out = line;
    for (const secret of this.shared.secrets) out = out.split(secret).join(REDACTED);
    return out;
  }
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /\s/.test(value) ? JSON.stringify(value) : value;
  if (value instanceof Error) return JSON.stringify(value.message);
  if (value !== null && typeof value === 'object' && 'message' in value) return JSON.stringify((value as { message: unknown }).message);
  return JSON.stringify(value);
}
