/**
 * Commands received on MQTT under `<root>/cmd/<name>`: checked, authorized and turned into calls on the
 * engine. Every command gets an answer on `<root>/cmd/<name>/result` naming what was wrong, if anything.
 * A command without the site's token (`commands.token`, from the environment) is refused; with no token
 * configured, commands are disabled. Nothing here throws on bad input.
 */
import { timingSafeEqual } from 'node:crypto';
import type { PlannedOutageConfig } from '../config/site-config.js';

export interface CommandResult {
  command: string;
  ok: boolean;
  /** Echo of the request's `requestId`, so a caller can match answers to requests. */
  requestId: string | null;
  error?: string;
  /** What was registered, on success. */
  registered?: PlannedOutageConfig;
}

export interface CommandTarget {
  /** Known switch ids (a planned outage names the devices whose opening is planned). */
  hasSwitch(id: string): boolean;
  registerPlannedOutage(planned: PlannedOutageConfig): void;
}

export const COMMAND_NAMES = ['plannedOutage'] as const;

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

export class CommandHandler {
  constructor(
    private readonly token: string | undefined,
    private readonly target: CommandTarget,
  ) {}

  handle(name: string, payload: Buffer | string): CommandResult {
    const refuse = (requestId: string | null, error: string): CommandResult => ({ command: name, ok: false, requestId, error });
    let body: unknown;
    try {
      body = JSON.parse(payload.toString());
    } catch {
      return refuse(null, 'payload is not JSON');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return refuse(null, 'payload must be a JSON object');
    const record = body as Record<string, unknown>;
    const requestId = typeof record.requestId === 'string' ? record.requestId : null;
    if (this.token === undefined) return refuse(requestId, 'commands are disabled on this gateway (no commands.token in the site configuration)');
    if (typeof record.token !== 'string' || !sameSecret(record.token, this.token)) return refuse(requestId, 'not authorized: missing or wrong token');
    switch (name) {
      case 'plannedOutage':
        return this.plannedOutage(record, requestId);
      default:
        return refuse(requestId, `unknown command "${name}" (known: ${COMMAND_NAMES.join(', ')})`);
    }
  }

  private plannedOutage(body: Record<string, unknown>, requestId: string | null): CommandResult {
    const fail = (error: string): CommandResult => ({ command: 'plannedOutage', ok: false, requestId, error });
    const allowed = new Set(['token', 'requestId', 'id', 'devices', 'start', 'end', 'reason']);
    const unknown = Object.keys(body).filter((k) => !allowed.has(k));
    if (unknown.length > 0) return fail(`unknown field ${unknown.map((k) => `"${k}"`).join(', ')}`);
    const { id, devices, start, end, reason } = body;
    if (typeof id !== 'string' || id === '' || /[/+#]/.test(id)) return fail(`id: must be a non-empty string without '/', '+' or '#' (got ${JSON.stringify(id)})`);
    if (!Array.isArray(devices) || devices.length === 0 || !devices.every((d): d is string => typeof d === 'string')) return fail('devices: must be a non-empty list of switch ids');
    const unknownDevices = devices.filter((d) => !this.target.hasSwitch(d));
    if (unknownDevices.length > 0) return fail(`devices: unknown switch ${unknownDevices.map((d) => `"${d}"`).join(', ')}`);
    if (typeof start !== 'string' || !ISO_TIME.test(start) || Number.isNaN(Date.parse(start))) return fail(`start: must be an ISO-8601 time with a zone (got ${JSON.stringify(start)})`);
    if (typeof end !== 'string' || !ISO_TIME.test(end) || Number.isNaN(Date.parse(end))) return fail(`end: must be an ISO-8601 time with a zone (got ${JSON.stringify(end)})`);
    if (!(Date.parse(end) > Date.parse(start))) return fail(`end: must be after start (${start})`);
    if (reason !== undefined && typeof reason !== 'string') return fail('reason: must be a string');
    const planned: PlannedOutageConfig = { id, devices: [...devices], start, end };
    if (typeof reason === 'string') planned.reason = reason;
    try {
      this.target.registerPlannedOutage(planned);
    } catch (err) {
      return fail(err instanceof Error ? err.message : String(err));
    }
    return { command: 'plannedOutage', ok: true, requestId, registered: planned };
  }
}

/** Constant-time comparison, so the answer time does not tell how much of a guessed token was right. */
function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
