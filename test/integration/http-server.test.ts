/**
 * The HTTP server on the demo stack: bearer token (here on 127.0.0.1, which the config allows too), /healthz
 * open, /metrics in Prometheus text format with a per-device poll counter that moves, /api/state JSON, the SSE
 * stream, the loopback Host check. `feederwatch status` with and without the token.
 */
import t from 'tap';
import { eventually, startDemoStack } from '../helpers/demo-stack.js';
import { runCli } from '../helpers/cli.js';
import { startMosquitto } from '../helpers/services.js';
import { request } from 'node:http';

const TOKEN = 'test-token-0123456789abcdef';

/**
 * A strict enough check of the Prometheus text exposition format (0.0.4): every line is a # HELP, a # TYPE
 * or a sample `name{label="value",...} number`; every sample belongs to a family declared by # TYPE.
 * Returns the samples as `name{labels}` -> value.
 */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|NaN|\+Inf|-Inf))( \d+)?$/;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/.test(line)) continue;
    const m = sample.exec(line);
    if (!m) throw new Error(`not Prometheus text format: ${JSON.stringify(line)}`);
    const family = m[1]!.replace(/_(bucket|sum|count)$/, '');
    if (!types.has(m[1]!) && !types.has(family)) throw new Error(`sample without # TYPE: ${line}`);
    samples.set(m[1]! + (m[2] ?? ''), Number(m[3]));
  }
  return samples;
}

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('token, health, metrics, state, events', { timeout: 90_000 }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const stack = await startDemoStack({ mqttUrl: broker.url, http: { token: TOKEN } });
  t.teardown(() => stack.stop());
  const base = stack.httpUrl!;
  const auth = { authorization: `Bearer ${TOKEN}` };

  t.equal((await get(`${base}healthz`)).status, 200, '/healthz needs no token');
  for (const path of ['', 'readyz', 'metrics', 'api/state', 'api/events']) {
    const res = await get(base + path);
    t.equal(res.status, 401, `/${path} without a token: 401`);
    t.equal(res.headers['www-authenticate'], 'Bearer realm="feederwatch"');
    t.equal((await get(base + path, { authorization: 'Bearer wrong-token-wrong-token' })).status, 401, `/${path} with a wrong token: 401`);
  }
  t.equal((await get(`${base}readyz`, auth)).status, 200);
  const page = await get(base, auth);
  t.equal(page.status, 200);
  t.match(page.headers['content-security-policy'], /default-src 'none'/);
  t.notMatch(page.body, TOKEN, 'the page never carries the token');
  // A browser opens /?token=... once: it gets an HttpOnly cookie and is sent to /.
  const login = await get(`${base}?token=${TOKEN}`);
  t.equal(login.status, 303);
  t.equal(login.headers.location, '/');
  const cookie = String(login.headers['set-cookie']);
  t.match(cookie, /HttpOnly; SameSite=Strict/);
  t.equal((await get(`${base}api/state`, { cookie: cookie.split(';')[0]! })).status, 200, 'the cookie authorizes');
  t.equal((await get(`${base}?token=not-the-token-at-all`)).status, 401);

  // /metrics: Prometheus text, and a device's poll counter moves between two scrapes.
  await eventually('every device online', async () => (stack.gateway.status().devices.every((d) => d.state === 'online') ? true : undefined), 15_000);
  const first = await get(`${base}metrics`, auth);
  t.equal(first.status, 200);
  t.match(first.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const a = parsePrometheus(first.body);
  await new Promise((r) => setTimeout(r, 1500));
  const b = parsePrometheus((await get(`${base}metrics`, auth)).body);
  const key = 'feederwatch_poll_batches_total{device="ftu-f1-r1"}';
  t.ok((a.get(key) ?? 0) > 0, `${key} counts (${a.get(key)})`);
  t.ok((b.get(key) ?? 0) > (a.get(key) ?? 0), `${key} moved between scrapes (${a.get(key)} -> ${b.get(key)})`);
  t.equal(b.get('feederwatch_events_total{type="device.availability"}'), 23, 'one availability event per device');
  t.equal(b.get('feederwatch_outbox_depth{sink="mqtt"}'), 0);
  t.equal(b.get('feederwatch_sink_reachable{sink="mqtt"}'), 1);
  t.ok(b.has('feederwatch_outbox_replayed{sink="mqtt"}'), 'replayed counter exported per sink');
  t.equal(b.get('feederwatch_devices{state="online"}'), 23);
  t.ok((b.get('feederwatch_event_path_seconds_count') ?? 0) >= 1, 'event-path latency observed');
  t.ok(b.has('feederwatch_poll_interval_seconds_count{device="meter-c10101"}'));
  const latencyCount = 'feederwatch_poll_latency_seconds_count{device="ftu-f1-r1"}';
  t.ok((b.get(latencyCount) ?? 0) > (a.get(latencyCount) ?? 0), `poll latency observed per poll (${a.get(latencyCount)} -> ${b.get(latencyCount)})`);
  const latencySum = b.get('feederwatch_poll_latency_seconds_sum{device="ftu-f1-r1"}') ?? -1;
  t.ok(latencySum >= 0 && latencySum / (b.get(latencyCount) ?? 1) < 0.4, `mean poll latency below the 400 ms timeout (${latencySum} s over ${b.get(latencyCount)} polls)`);
  t.equal(parsePrometheus('# TYPE x counter\nx 1\n').get('x'), 1, 'the checker takes valid text');
  t.throws(() => parsePrometheus('# TYPE x counter\nx{a="1"} one\n'), /not Prometheus/, 'the checker refuses a bad sample');

  // /api/state and the event stream.
  const state = JSON.parse((await get(`${base}api/state`, auth)).body) as { siteId: string; feeders: Array<{ id: string; sections: Record<string, string> }> };
  t.equal(state.siteId, 'demo-xixi');
  t.same(state.feeders.map((f) => f.id), ['F1', 'F2']);
  t.same(state.feeders[1]?.sections, { 'F2-S1': 'energized', 'F2-S2': 'energized' });
  const sse = await new Promise<string>((resolve, reject) => {
    const req = request(`${base}api/events`, { headers: auth }, (res) => {
      t.match(res.headers['content-type'], /^text\/event-stream/);
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
        if (text.includes('\n\n') && text.includes('event: state')) {
          req.destroy();
          resolve(text);
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
  t.match(sse, /^retry: 2000\n\nevent: state\ndata: \{"siteId":"demo-xixi"/);

  // The CLI: refused without the token, answered with it, a usage error when the variable is not set.
  const noToken = await runCli(['status', '--url', base]);
  t.equal(noToken.code, 3, 'status without the token: exit 3');
  t.match(noToken.stderr, /unauthorized/);
  const withToken = await runCli(['status', '--url', base, '--token-env', 'FW_TEST_TOKEN'], { ...process.env, FW_TEST_TOKEN: TOKEN });
  t.equal(withToken.code, 0, withToken.stderr);
  t.match(withToken.stdout, /Devices: 23 online, 0 degraded, 0 offline, 0 unknown/);
  const unset = await runCli(['status', '--url', base, '--token-env', 'FW_NOT_SET_ANYWHERE']);
  t.equal(unset.code, 2);
  t.match(unset.stderr, /FW_NOT_SET_ANYWHERE: the environment variable is not set/);
});

t.test('without a token: loopback Host only; status exits 1 when nothing listens', { timeout: 60_000 }, async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const stack = await startDemoStack({ mqttUrl: broker.url, http: true });
  t.teardown(() => stack.stop());
  const base = stack.httpUrl!;
  t.equal((await get(`${base}api/state`)).status, 200);
  t.equal((await get(`${base}api/state`, { host: 'evil.example:80' })).status, 421, 'a rebound host name is refused');
  t.equal((await get(`${base}healthz`, { host: 'evil.example:80' })).status, 200, '/healthz answers whatever the host');
  const port = new URL(base).port;
  await stack.http!.stop();
  const down = await runCli(['status', '--url', `http://127.0.0.1:${port}`]);
  t.equal(down.code, 1);
  t.match(down.stderr, new RegExp(`cannot reach the gateway at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
});
