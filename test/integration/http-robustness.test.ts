/**
 * The HTTP server and the reload supervisor against a stand-in gateway (no devices, no broker): a request
 * target that does not parse is refused and the process goes on; event streams are freed when their client
 * goes; ids and names from the site file are escaped in the page; /readyz does not blame a sink for what its
 * outbox dropped before this gateway ran; a valid site whose gateway fails to start falls back to the last
 * valid one.
 */
import t, { type Test } from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSiteConfig } from '../../gateway/config/load-site.js';
import type { SiteConfig } from '../../gateway/config/site-config.js';
import type { DomainEvent, FeederState } from '../../gateway/engine/events.js';
import type { SinkStatus } from '../../gateway/publish/sink-status.js';
import { StatusServer } from '../../gateway/http/server.js';
import { SiteSupervisor, type SupervisedGateway } from '../../gateway/http/site-supervisor.js';
import { silentLogger } from '../../gateway/log.js';

const TEMPLATE = (await readFile('config/invalid/http-without-token.yaml', 'utf8')).replace(/^# INVALID.*\n/, '').replace(/http:\n  host: 0\.0\.0\.0\n  port: 8080\n/, '');

/** Starts and stops of the fake gateways, in order. */
const journal: string[] = [];

class FakeGateway implements SupervisedGateway {
  sinks: SinkStatus[] = [];
  startedAt: string | null = null;
  failStart = false;
  private readonly listeners: Array<(events: readonly DomainEvent[]) => void> = [];
  constructor(readonly site: SiteConfig) {}
  readonly engine = {
    feederStates: (): FeederState[] =>
      this.site.feeders.map((f) => ({ feederId: f.id, ts: new Date(0).toISOString(), energizedSections: f.sections.map((s) => s.id), deenergizedSections: [], switches: Object.fromEntries(f.switches.map((s) => [s.id, 'closed' as const])), customersOut: 0 })),
    activeOutages: () => [],
  };
  status() {
    return { siteId: this.site.siteId, startedAt: this.startedAt, activeOutages: [], devices: [], eventsEmitted: 0, stateFile: null };
  }
  sinkStatus(): SinkStatus[] {
    return this.sinks.map((s) => ({ ...s }));
  }
  reliabilityReport() {
    return null;
  }
  onEvents(listener: (events: readonly DomainEvent[]) => void): void {
    this.listeners.push(listener);
  }
  onReadings(): void {}
  async start(): Promise<void> {
    journal.push(`start ${this.site.name ?? ''}`);
    if (this.failStart) throw new Error('state folder locked');
    this.startedAt = new Date().toISOString();
  }
  async stop(): Promise<void> {
    journal.push(`stop ${this.site.name ?? ''}`);
    this.startedAt = null;
  }
}

async function server(t: Test, token?: string): Promise<{ http: StatusServer; base: string }> {
  const http = new StatusServer({ http: { enabled: true, host: '127.0.0.1', port: 0, ...(token === undefined ? {} : { token }) }, logger: silentLogger, version: 'test', processMetrics: false });
  const base = await http.start();
  if (base === null) throw new Error('not listening');
  t.teardown(() => http.stop());
  return { http, base };
}

function get(url: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens an event stream and resolves once its first state arrived, with a way to close it. */
function openStream(url: string): Promise<{ status: number; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        resolve({ status: res.statusCode ?? 0, close: () => req.destroy() });
        return;
      }
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
        if (text.includes('event: state')) resolve({ status: 200, close: () => req.destroy() });
      });
    });
    req.on('error', (err) => (String(err).includes('socket hang up') ? undefined : reject(err)));
    req.end();
  });
}

t.test('a request target that does not parse: 400, and the server goes on', async (t) => {
  const { http, base } = await server(t);
  http.attach(new FakeGateway(parseSiteConfig(TEMPLATE, { env: {} })));
  const port = Number(new URL(base).port);
  const status = await new Promise<string>((resolve, reject) => {
    const c = connect(port, '127.0.0.1', () => c.write('GET http://[ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'));
    let buf = '';
    c.on('data', (d: Buffer) => (buf += d.toString()));
    c.on('close', () => resolve(buf.split('\r\n')[0] ?? ''));
    c.on('error', reject);
  });
  t.equal(status, 'HTTP/1.1 400 Bad Request');
  t.equal((await get(`${base}healthz`)).status, 200, 'still answering');
});

t.test('event streams: freed when their client goes; HEAD opens none', async (t) => {
  const { http, base } = await server(t);
  const gw = new FakeGateway(parseSiteConfig(TEMPLATE, { env: {} }));
  http.attach(gw);
  await gw.start();
  http.setRunning(true);
  const head = await get(`${base}api/events`, { method: 'HEAD' });
  t.equal(head.status, 200, 'HEAD answered and ended');
  const streams = [];
  for (let i = 0; i < 64; i++) streams.push(await openStream(`${base}api/events`));
  t.same(streams.map((s) => s.status), Array(64).fill(200), '64 streams (HEAD took no slot)');
  t.equal((await openStream(`${base}api/events`)).status, 503, 'the 65th is refused');
  for (const s of streams) s.close();
  // Closed streams give their slots back.
  const deadline = Date.now() + 5000;
  let again = await openStream(`${base}api/events`);
  while (again.status !== 200 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    again = await openStream(`${base}api/events`);
  }
  t.equal(again.status, 200, 'a stream opens again once the others closed');
  again.close();
});

t.test('ids and names from the site file are escaped in the page', async (t) => {
  const evil = TEMPLATE.replace('siteId: trimmed-demo\n', 'siteId: trimmed-demo\nname: "</title><script>alert(1)</script>"\n')
    .replaceAll('F1-S2', '"S2\\"><img src=x onerror=alert(2)>"')
    .replace('  - id: F1\n', '  - id: F1\n    name: "<svg onload=alert(3)>"\n');
  const site = parseSiteConfig(evil, { env: {} });
  t.equal(site.feeders[0]?.sections[1]?.id, 'S2"><img src=x onerror=alert(2)>', 'the hostile id is a valid id');
  const { http, base } = await server(t);
  http.attach(new FakeGateway(site));
  const page = await get(base);
  t.equal(page.status, 200);
  t.notMatch(page.body, /<img|<svg onload|<script>alert/, 'no markup from the site file');
  t.match(page.body, 'data-section="S2&#34;&#62;&#60;img src=x onerror=alert(2)&#62;"', 'the id is kept, escaped');
  t.match(page.body, '&#60;/title&#62;&#60;script&#62;alert(1)&#60;/script&#62;');
  // The state travelling in the page cannot close its script element.
  const initial = /<script[^>]* id="initial">([\s\S]*?)<\/script>/.exec(page.body)?.[1];
  if (initial === undefined) throw new Error('no initial state in the page');
  t.notMatch(initial, '<', 'no "<" inside the initial state');
  t.equal((JSON.parse(initial) as { name: string }).name, '</title><script>alert(1)</script>');
});

t.test('/readyz: what an outbox dropped before this gateway ran does not make it unready', async (t) => {
  const { http, base } = await server(t);
  const gw = new FakeGateway(parseSiteConfig(TEMPLATE, { env: {} }));
  // The broker is down across the restart; the stored counters remember drops from an earlier outage.
  gw.sinks = [{ name: 'mqtt', reachable: false, buffered: 5, replayed: 0, dropped: 120 }];
  http.attach(gw);
  t.equal((await get(`${base}readyz`)).status, 503, 'not running yet');
  await gw.start();
  http.setRunning(true);
  const ready = await get(`${base}readyz`);
  t.equal(ready.status, 200, ready.body);
  gw.sinks = [{ name: 'mqtt', reachable: false, buffered: 5, replayed: 0, dropped: 121 }];
  const dropping = await get(`${base}readyz`);
  t.equal(dropping.status, 503);
  t.match(JSON.parse(dropping.body), { reasons: ['sink mqtt unreachable and dropping data (121 items dropped)'] });
});

t.test('reload: a valid site whose gateway fails to start falls back to the last valid one', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fw-reload-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'site.yaml');
  const named = (name: string): string => TEMPLATE.replace('siteId: trimmed-demo\n', `siteId: trimmed-demo\nname: ${name}\n`);
  await writeFile(file, named('first'));
  const { http, base } = await server(t);
  const created: FakeGateway[] = [];
  const supervisor = new SiteSupervisor({
    file,
    env: {},
    logger: silentLogger,
    server: http,
    debounceMs: 60_000, // reloads below are explicit
    create: (site) => {
      const gw = new FakeGateway(site);
      gw.failStart = site.name === 'broken';
      created.push(gw);
      return gw;
    },
  });
  await supervisor.start(parseSiteConfig(named('first'), { env: {} }));
  t.teardown(() => supervisor.stop());
  t.equal((await get(`${base}readyz`)).status, 200);

  await writeFile(file, named('broken'));
  journal.length = 0;
  await supervisor.reload();
  t.same(journal, ['stop first', 'start broken', 'stop broken', 'start first'], 'never two gateways at once');
  t.same(created.map((g) => g.site.name), ['first', 'broken', 'first'], 'the last valid site started again');
  t.equal(supervisor.current?.site.name, 'first');
  t.equal(created[1]?.startedAt, null, 'the gateway that failed is not running');
  t.equal(created[0]?.startedAt, null, 'the old gateway was stopped');
  const r = await get(`${base}readyz`);
  t.equal(r.status, 503);
  t.match(JSON.parse(r.body), { reasons: ['the gateway failed to start: state folder locked; running on the last valid configuration'] });

  // The file back to what runs: ready again, no restart needed.
  await writeFile(file, named('first'));
  await supervisor.reload();
  t.equal(created.length, 3, 'unchanged: not restarted');
  t.equal((await get(`${base}readyz`)).status, 200);
});
