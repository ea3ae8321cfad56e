/**
 * The simulator's control API: a small JSON-over-HTTP surface on localhost through which tests, scripts
 * and people inject faults, operate switches and cut meter links. Every successful call answers with the
 * new model state, so a caller never needs a second request to see the effect.
 *
 *   GET    /state
 *   POST   /faults                    {"section": "F1-S3", "permanent"?: true | false (default true)}
 *   DELETE /faults/{section}
 *   POST   /switches/{id}             {"position": "open" | "closed"}
 *   POST   /meters/{customerId}/link  {"up": true | false}
 *   POST   /reset                     (also clears every device fault)
 *   GET    /devices                   the simulated Modbus devices with their fault mode
 *   POST   /devices/{deviceId}/fault  {"mode": "none" | "noAnswer" | "exception" | "badCrc" | "wrongUnitId"
 *                                       | "truncated" | "slow" | "disconnect", "exceptionCode"?: 1..11, "delayMs"?: ms}
 *
 * The device calls answer with the device list (`{"devices": [...]}`) instead of the model state.
 *
 * Errors are `{"error": message, "field"?: name, "id"?: value}`: 400 for a body that is not JSON or a
 * field that is missing or of the wrong kind (naming the field), 404 for an unknown id (naming it) or path,
 * 405 for a known path with the wrong method, 413 for a body over 64 KiB.
 */
import http from 'node:http';
import type { SwitchState } from '../gateway/config/site-config.js';
import { type DeviceFaults, FaultRequestError, parseFault, UnknownDeviceError } from './device-faults.js';
import { type FeederModel, UnknownIdError } from './feeder-model.js';
import { type SimLogger, silentLogger } from './logger.js';

export interface ControlApiOptions {
  host: string;
  /** 0 binds a free port; read it back from `boundPort`. */
  port: number;
  logger?: SimLogger;
  /** Fault modes of the simulated devices; without it `/devices` lists none. */
  devices?: DeviceFaults;
}

const MAX_BODY_BYTES = 64 * 1024;

interface ErrorBody {
  error: string;
  field?: string;
  id?: string;
}

/** A request that cannot be served, with the HTTP status and the body that says why. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {
    super(body.error);
  }
}

type JsonObject = Record<string, unknown>;

/** What a route answers with: nothing (the model state) or its own body. */
type RouteResult = void | { body: unknown };

interface Route {
  method: string;
  pattern: RegExp;
  handle(params: string[], body: () => Promise<JsonObject>): Promise<RouteResult> | RouteResult;
}

export class ControlApi {
  private readonly model: FeederModel;
  private readonly devices: DeviceFaults | undefined;
  private readonly host: string;
  private readonly port: number;
  private readonly logger: SimLogger;
  private readonly routes: Route[];
  private server: http.Server | undefined;
  private bound = 0;

  constructor(model: FeederModel, opts: ControlApiOptions) {
    this.model = model;
    this.devices = opts.devices;
    this.host = opts.host;
    this.port = opts.port;
    this.logger = opts.logger ?? silentLogger();
    this.routes = [
      { method: 'GET', pattern: /^\/state$/, handle: () => undefined },
      {
        method: 'POST',
        pattern: /^\/faults$/,
        handle: async (_params, body) => {
          const request = await body();
          const section = requireString(request, 'section', 'a section id');
          const permanent = request['permanent'] ?? true;
          if (typeof permanent !== 'boolean') {
            throw new HttpError(400, {
              error: `field "permanent" must be true or false, got ${JSON.stringify(permanent)}`,
              field: 'permanent',
            });
          }
          this.model.injectFault(section, { permanent });
        },
      },
      {
        method: 'DELETE',
        pattern: /^\/faults\/([^/]+)$/,
        handle: ([section]) => this.model.clearFault(section as string),
      },
      {
        method: 'POST',
        pattern: /^\/switches\/([^/]+)$/,
        handle: async ([id], body) => {
          const position = (await body())['position'];
          if (position !== 'open' && position !== 'closed') {
            throw new HttpError(400, {
              error: `field "position" must be "open" or "closed", got ${JSON.stringify(position) ?? 'nothing'}`,
              field: 'position',
            });
          }
          this.model.setSwitch(id as string, position satisfies SwitchState);
        },
      },
      {
        method: 'POST',
        pattern: /^\/meters\/([^/]+)\/link$/,
        handle: async ([customer], body) => {
          const up = (await body())['up'];
          if (typeof up !== 'boolean') {
            throw new HttpError(400, {
              error: `field "up" must be true or false, got ${JSON.stringify(up) ?? 'nothing'}`,
              field: 'up',
            });
          }
          this.model.setMeterLink(customer as string, up);
        },
      },
      {
        method: 'POST',
        pattern: /^\/reset$/,
        handle: () => {
          this.model.reset();
          this.devices?.clearAll();
        },
      },
      { method: 'GET', pattern: /^\/devices$/, handle: () => this.deviceList() },
      {
        method: 'POST',
        pattern: /^\/devices\/([^/]+)\/fault$/,
        handle: async ([id], body) => {
          const devices = this.devices;
          const deviceId = id as string;
          if (devices === undefined || !devices.has(deviceId)) throw new UnknownDeviceError(deviceId);
          devices.set(deviceId, parseFault(await body(), devices.linkOf(deviceId)));
          this.logger.info('device fault set', { deviceId, fault: devices.faultOf(deviceId) });
          return this.deviceList();
        },
      },
    ];
  }

  get boundPort(): number {
    return this.bound;
  }

  listen(): Promise<number> {
    const server = http.createServer((req, res) => {
      this.serve(req, res).catch((err: unknown) => {
        this.logger.error('control API request failed', { err });
        if (!res.headersSent) send(res, 500, { error: 'internal error' });
      });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen({ host: this.host, port: this.port }, () => {
        server.off('error', onError);
        const address = server.address();
        this.bound = typeof address === 'object' && address !== null ? address.port : this.port;
        resolve(this.bound);
      });
    });
  }

  close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined || !server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      // Keep-alive clients would otherwise hold close() open until their idle timeout.
      server.closeAllConnections();
    });
  }

  private deviceList(): { body: unknown } {
    return { body: { devices: this.devices?.list() ?? [] } };
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    try {
      const onPath = this.routes.filter((r) => r.pattern.test(path));
      if (onPath.length === 0) throw new HttpError(404, { error: `no such path: ${path}` });
      const route = onPath.find((r) => r.method === method);
      if (route === undefined) {
        res.setHeader('Allow', onPath.map((r) => r.method).join(', '));
        throw new HttpError(405, { error: `${method} is not allowed on ${path}` });
      }
      const params = (route.pattern.exec(path) ?? []).slice(1).map(decodeSegment);
      const result = await route.handle(params, () => readJsonObject(req));
      this.logger.debug('control API request', { method, path });
      send(res, 200, result === undefined ? this.model.state() : result.body);
    } catch (err) {
      if (err instanceof HttpError) {
        send(res, err.status, err.body);
      } else if (err instanceof UnknownIdError) {
        send(res, 404, { error: err.message, field: err.kind, id: err.id });
      } else if (err instanceof UnknownDeviceError) {
        send(res, 404, { error: err.message, field: 'device', id: err.id });
      } else if (err instanceof FaultRequestError) {
        send(res, 400, { error: err.message, ...(err.field !== undefined ? { field: err.field } : {}) });
      } else {
        throw err;
      }
    }
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, { error: `bad percent-encoding in path segment "${segment}"` });
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function requireString(body: JsonObject, field: string, what: string): string {
  const value = body[field];
  if (typeof value !== 'string' || value === '') {
    throw new HttpError(400, {
      error: `field "${field}" must be ${what} (a non-empty string), got ${JSON.stringify(value) ?? 'nothing'}`,
      field,
    });
  }
  return value;
}

async function readJsonObject(req: http.IncomingMessage): Promise<JsonObject> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, { error: `request body over ${MAX_BODY_BYTES} bytes` });
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, { error: `request body is not valid JSON: ${(err as Error).message}` });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(400, { error: 'request body must be a JSON object' });
  }
  return parsed as JsonObject;
}
