/**
 * The gateway's HTTP server (node:http only): the status page, its JSON and Server-Sent Events, health and
 * readiness checks and Prometheus metrics. docs/status-page.md is the reference.
 *
 * Security: binds 127.0.0.1 unless the site says otherwise; any other address needs `http.token` (the
 * loader refuses the file without it). With a token, every endpoint but /healthz needs
 * `Authorization: Bearer <token>` (or the HttpOnly cookie a browser gets from opening `/?token=<token>`
 * once). Without a token, requests must name a loopback host (no DNS rebinding onto the page). The token
 * is never logged, and request URLs are never logged with their query.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../clock.js';
import { isLoopbackHost } from '../config/load-site.js';
import type { HttpConfig } from '../config/site-config.js';
import { formatIssue, type ConfigIssue } from '../config/site-config-error.js';
import type { DomainEvent } from '../engine/events.js';
import type { Logger } from '../log.js';
import type { GatewayView } from './gateway-view.js';
import { siteDiagrams, type FeederDiagram } from './layout.js';
import { GatewayMetrics } from './metrics.js';
import { renderPage } from './page.js';
import { changeKey, StatusModel, type Readiness, type StatusSnapshot } from './status-model.js';

export const DEFAULT_HTTP: HttpConfig = { enabled: true, host: '127.0.0.1', port: 8080 };
const COOKIE = 'feederwatch_token';
const MAX_SSE_CLIENTS = 64;
/** SSE: a change in the state is pushed this long after the events that caused it (coalescing bursts). */
const PUSH_DELAY_MS = 50;
/** SSE: the state is checked this often for changes that come without an event (sinks, switch positions). */
const CHECK_INTERVAL_MS = 1000;
const KEEPALIVE_MS = 15_000;
/** SSE: a stream whose client has not read this much of what it was sent is closed (it reconnects). */
const MAX_SSE_BACKLOG_BYTES = 4 * 1024 * 1024;

export interface StatusServerOptions {
  http: HttpConfig;
  logger: Logger;
  version: string;
  clock?: Clock;
  /** Register process metrics (default true; tests running many servers in one process may turn it off). */
  processMetrics?: boolean;
}

export class StatusServer {
  readonly model: StatusModel;
  readonly metrics: GatewayMetrics;
  private readonly log: Logger;
  private readonly clock: Clock;
  private server: Server | null = null;
  private gateway: GatewayView | null = null;
  private diagrams: FeederDiagram[] = [];
  private running = false;
  private configErrors: ConfigIssue[] = [];
  private reloadError: string | null = null;
  private readonly droppedWhenReachable = new Map<string, number>();
  private readonly clients = new Set<ServerResponse>();
  private pushTimer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private lastPushedKey = '';
  private boundUrl: string | null = null;

  constructor(private readonly opts: StatusServerOptions) {
    this.log = opts.logger.child({ module: 'http' });
    this.clock = opts.clock ?? systemClock;
    this.metrics = new GatewayMetrics({ defaultMetrics: opts.processMetrics });
    this.model = new StatusModel({
      clock: this.clock,
      logger: this.log,
      version: opts.version,
      running: () => this.running,
      readiness: () => this.readiness(),
    });
  }

  /** The URL it listens on (without any token), once started. */
  get url(): string | null {
    return this.boundUrl;
  }

  /** Shows and counts this gateway from now on (at start, and after each reload). */
  attach(gateway: GatewayView): void {
    this.gateway = gateway;
    this.diagrams = siteDiagrams(gateway.site);
    this.droppedWhenReachable.clear();
    this.model.attach(gateway);
    this.metrics.attach(gateway);
    gateway.onEvents((events) => {
      if (this.gateway === gateway) this.onEvents(events);
    });
  }

  /** Whether the attached gateway runs (set once its start resolved; cleared while it is replaced). */
  setRunning(running: boolean): void {
    this.running = running;
    if (running && this.gateway !== null) {
      // Dropped counts are stored with the outbox and survive restarts: what was dropped before this gateway
      // ran is history, not a sink dropping data now.
      for (const sink of this.gateway.sinkStatus()) this.droppedWhenReachable.set(sink.name, sink.dropped);
    }
    this.schedulePush();
  }

  /** The problems of the site file on disk (empty once it is valid again). */
  setConfigErrors(issues: readonly ConfigIssue[]): void {
    this.configErrors = [...issues];
    this.schedulePush();
  }

  /** Why the last reload could not start a gateway, or null. */
  setReloadError(message: string | null): void {
    this.reloadError = message;
    this.schedulePush();
  }

  readiness(): Readiness {
    const reasons: string[] = [];
    if (this.configErrors.length > 0) {
      reasons.push(`site file invalid (${this.configErrors.length} issue${this.configErrors.length === 1 ? '' : 's'}); running on the last valid configuration`);
    }
    if (this.reloadError !== null) reasons.push(this.reloadError);
    const gw = this.gateway;
    if (gw === null || !this.running) reasons.push('gateway not running');
    else {
      if (gw.status().startedAt === null) reasons.push('drivers not started');
      for (const sink of gw.sinkStatus()) {
        // A sink that is down still takes data (buffered); it only makes the gateway unready once it loses some.
        if (sink.reachable) this.droppedWhenReachable.set(sink.name, sink.dropped);
        else if (sink.dropped > (this.droppedWhenReachable.get(sink.name) ?? 0)) reasons.push(`sink ${sink.name} unreachable and dropping data (${sink.dropped} items dropped)`);
      }
    }
    return { ready: reasons.length === 0, reasons, configErrors: [...this.configErrors] };
  }

  /**
   * Listens. A port in use (or any listen error) is logged and leaves the server stopped: the gateway
   * goes on without its status page. Returns the URL, or null when not listening.
   */
  async start(): Promise<string | null> {
    const { host, port } = this.opts.http;
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 5000;
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const why = err.code === 'EADDRINUSE' ? `${host}:${port} is already in use (set http.port in the site file; 0 takes any free port)` : err.message;
        this.log.error(`HTTP server not started: ${why}; the gateway runs without its status page, health checks and metrics`, { code: err.code });
        resolve(false);
      });
      server.listen(port, host, () => resolve(true));
    });
    if (!ok) return null;
    server.on('error', (err) => this.log.error('HTTP server error', { err }));
    this.server = server;
    const address = server.address() as AddressInfo;
    const h = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.boundUrl = `http://${h}:${address.port}/`;
    this.checkTimer = setInterval(() => this.checkForChange(), CHECK_INTERVAL_MS);
    this.checkTimer.unref();
    this.keepaliveTimer = setInterval(() => this.broadcast(': keepalive\n\n'), KEEPALIVE_MS);
    this.keepaliveTimer.unref();
    this.log.info('status page listening', { url: this.boundUrl, auth: this.opts.http.token === undefined ? 'none (loopback only)' : 'bearer token' });
    return this.boundUrl;
  }

  async stop(): Promise<void> {
    clearInterval(this.checkTimer);
    clearInterval(this.keepaliveTimer);
    clearTimeout(this.pushTimer);
    this.pushTimer = undefined;
    for (const res of this.clients) res.end();
    this.clients.clear();
    const server = this.server;
    this.server = null;
    if (server === null) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private onEvents(events: readonly DomainEvent[]): void {
    if (this.clients.size === 0) return;
    this.broadcast(`event: events\ndata: ${JSON.stringify(events)}\n\n`);
    this.schedulePush();
  }

  private schedulePush(): void {
    if (this.pushTimer !== undefined || this.clients.size === 0) return;
    this.pushTimer = setTimeout(() => {
      this.pushTimer = undefined;
      this.checkForChange();
    }, PUSH_DELAY_MS);
  }

  private checkForChange(): void {
    if (this.clients.size === 0) return;
    let snapshot: StatusSnapshot;
    try {
      snapshot = this.model.snapshot();
    } catch (err) {
      this.log.error('building the status snapshot failed', { err });
      return;
    }
    const key = changeKey(snapshot);
    if (key === this.lastPushedKey) return;
    this.lastPushedKey = key;
    this.broadcast(sseState(snapshot));
  }

  private broadcast(chunk: string): void {
    for (const res of this.clients) {
      if (res.writableLength > MAX_SSE_BACKLOG_BYTES) {
        // A client that stopped reading (a suspended laptop) must not make the gateway buffer without bound.
        this.clients.delete(res);
        res.destroy();
        continue;
      }
      res.write(chunk);
    }
  }

  private authorized(req: IncomingMessage): boolean {
    const token = this.opts.http.token;
    if (token === undefined) return true;
    const header = req.headers.authorization;
    const bearer = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    const cookie = parseCookies(req.headers.cookie)[COOKIE];
    return (bearer !== undefined && same(bearer, token)) || (cookie !== undefined && same(cookie, token));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('cache-control', 'no-store');
    res.setHeader('referrer-policy', 'no-referrer');
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      // A request target URL cannot parse (`GET http://[ HTTP/1.1`): refused, the process goes on.
      return json(res, 400, { error: 'bad request target' });
    }
    const path = url.pathname;
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        return json(res, 405, { error: 'method not allowed' });
      }
      if (path === '/healthz') return json(res, 200, { status: 'ok' });
      if (this.opts.http.token === undefined && !isLoopbackHost(hostOnly(req.headers.host ?? ''))) {
        // Bound to loopback without a token: only a loopback Host is served (a rebound DNS name is not).
        return json(res, 421, { error: 'this server answers loopback host names only' });
      }
      if (path === '/' && this.opts.http.token !== undefined && url.searchParams.has('token')) {
        // A browser cannot send a bearer header when opening a page: /?token=... sets a cookie once and
        // redirects to /, so the token does not stay in the address bar or the history.
        if (!same(url.searchParams.get('token') ?? '', this.opts.http.token)) return unauthorized(res);
        res.setHeader('set-cookie', `${COOKIE}=${encodeURIComponent(this.opts.http.token)}; HttpOnly; SameSite=Strict; Path=/`);
        res.setHeader('location', '/');
        res.statusCode = 303;
        res.end();
        return;
      }
      if (!this.authorized(req)) return unauthorized(res);
      switch (path) {
        case '/readyz': {
          const r = this.readiness();
          return json(res, r.ready ? 200 : 503, {
            ready: r.ready,
            reasons: r.reasons,
            configErrors: r.configErrors.map((i) => ({ path: i.path, message: formatIssue(i) })),
            sinks: this.gateway?.sinkStatus() ?? [],
          });
        }
        case '/metrics':
          void this.metrics.text().then(
            (text) => {
              res.writeHead(200, { 'content-type': this.metrics.contentType });
              res.end(req.method === 'HEAD' ? undefined : text);
            },
            (err: unknown) => {
              this.log.error('collecting metrics failed', { err });
              json(res, 500, { error: 'collecting metrics failed' });
            },
          );
          return;
        case '/api/state':
          return json(res, 200, this.model.snapshot());
        case '/api/events':
          return this.openEvents(req, res);
        case '/':
        case '/index.html': {
          const nonce = randomBytes(16).toString('base64');
          const html = renderPage(this.diagrams, this.model.snapshot()).replace(/<script(?=[ >])/g, `<script nonce="${nonce}"`);
          res.writeHead(200, {
            'content-type': 'text/html; charset=utf-8',
            // Nothing leaves the page: no external script, style, image or connection.
            'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
          });
          res.end(req.method === 'HEAD' ? undefined : html);
          return;
        }
        default:
          return json(res, 404, { error: 'not found', path });
      }
    } catch (err) {
      this.log.error('HTTP request failed', { path, err });
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.end();
    }
  }

  private openEvents(req: IncomingMessage, res: ServerResponse): void {
    if (this.clients.size >= MAX_SSE_CLIENTS) return json(res, 503, { error: `too many event streams (at most ${MAX_SSE_CLIENTS})` });
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    res.write('retry: 2000\n\n');
    const snapshot = this.model.snapshot();
    res.write(sseState(snapshot));
    this.clients.add(res);
    // Whoever joins gets the current state; the others have it already when nothing changed since.
    if (this.clients.size === 1) this.lastPushedKey = changeKey(snapshot);
    req.on('close', () => this.clients.delete(res));
  }
}

function sseState(snapshot: StatusSnapshot): string {
  return `event: state\ndata: ${JSON.stringify(snapshot)}\n\n`;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(text);
}

function unauthorized(res: ServerResponse): void {
  res.setHeader('www-authenticate', 'Bearer realm="feederwatch"');
  json(res, 401, { error: 'unauthorized: send Authorization: Bearer <token>' });
}

/** Constant-time comparison of two secrets of any length. */
function same(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    try {
      out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim());
    } catch {
      // A malformed cookie is no credential.
    }
  }
  return out;
}

/** The host part of a Host header: `127.0.0.1:8080` -> `127.0.0.1`, `[::1]:80` -> `::1`. */
function hostOnly(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const i = host.lastIndexOf(':');
  return i < 0 ? host : host.slice(0, i);
}
