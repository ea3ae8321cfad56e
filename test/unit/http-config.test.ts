/** The `http:` settings of the site file, and the diagram layout built from the site. */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { parseSiteConfig, SiteConfigError } from '../../gateway/config/load-site.js';
import { feederDiagram, siteDiagrams } from '../../gateway/http/layout.js';

// A valid site to add http settings to: the invalid example without its http block.
const BASE = (await readFile('config/invalid/http-without-token.yaml', 'utf8')).replace(/^# INVALID.*\n/, '').replace(/http:\n  host: 0\.0\.0\.0\n  port: 8080\n/, '');

const parse = (http: string, env: Record<string, string> = {}) => parseSiteConfig(BASE.replace('siteId: trimmed-demo\n', `siteId: trimmed-demo\n${http}`), { env });

function issuesOf(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn();
  } catch (err) {
    if (err instanceof SiteConfigError) return err.issues.map((i) => ({ path: i.path, message: i.message }));
    throw err;
  }
  return [];
}

t.test('defaults: enabled on 127.0.0.1:8080 without a token', async (t) => {
  t.same(parse('').http, { enabled: true, host: '127.0.0.1', port: 8080 });
  t.same(parse('http: { port: 0 }\n').http, { enabled: true, host: '127.0.0.1', port: 0 });
});

t.test('a token is required beyond loopback', async (t) => {
  t.same(issuesOf(() => parse('http: { host: 0.0.0.0 }\n')), [
    { path: 'http.token', message: 'is required when http.host is not a loopback address (host 0.0.0.0): set token: ${FEEDERWATCH_HTTP_TOKEN} and the variable, or bind 127.0.0.1' },
  ]);
  t.same(issuesOf(() => parse('http: { host: 192.168.1.20 }\n')).map((i) => i.path), ['http.token']);
  t.same(issuesOf(() => parse('http: { host: "::" }\n')).map((i) => i.path), ['http.token']);
  // Loopback in every spelling needs none.
  for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '"::1"']) t.same(issuesOf(() => parse(`http: { host: ${host} }\n`)), [], `${host}: no token needed`);
  // Disabled: nothing listens, nothing required.
  t.same(issuesOf(() => parse('http: { enabled: false, host: 0.0.0.0 }\n')), []);
  // With a token from the environment: valid, and the token is the variable's value.
  const site = parse('http: { host: 0.0.0.0, token: "${FW_HTTP_TOKEN}" }\n', { FW_HTTP_TOKEN: 'a-long-enough-secret-token' });
  t.same(site.http, { enabled: true, host: '0.0.0.0', port: 8080, token: 'a-long-enough-secret-token' });
  // A token on loopback is allowed too (then every endpoint but /healthz needs it).
  t.same(issuesOf(() => parse('http: { token: a-long-enough-secret-token }\n')), []);
  t.same(issuesOf(() => parse('http: { token: short }\n')).map((i) => i.path), ['http.token'], 'at least 16 characters');
  t.same(issuesOf(() => parse('http: { port: 70000 }\n')).map((i) => i.path), ['http.port']);
  t.same(issuesOf(() => parse('http: { bind: 0.0.0.0 }\n')).map((i) => i.path), ['http.bind'], 'unknown keys refused');
});

t.test('tree layout: every section, switch and transformer drawn; ties as stubs on both feeders', async (t) => {
  const site = parseSiteConfig(await readFile('config/sites/demo.yaml', 'utf8'), { env: {}, baseDir: 'config/sites' });
  const [f1, f2] = siteDiagrams(site);
  t.equal(f1?.layout, 'tree');
  t.same(f1?.sections.map((s) => s.id), ['F1-S1', 'F1-S2', 'F1-S3', 'F1-S4']);
  t.same(f1?.switches.map((s) => s.id).sort(), ['F1-CB', 'F1-FU1', 'F1-LS1', 'F1-R1', 'TIE-12']);
  t.same(f1?.transformers.map((x) => x.id), ['T101', 'T102', 'T103', 'T104']);
  t.match(f1?.switches.find((s) => s.id === 'TIE-12'), { stub: true, tie: true, leadsTo: 'F2-S2', side: 'F1-S3' });
  t.match(f2?.switches.find((s) => s.id === 'TIE-12'), { stub: true, tie: true, leadsTo: 'F1-S3', side: 'F2-S2' });
  // The main line runs along one row from the breaker; the fused lateral F1-S4 branches onto a second row.
  const y = (id: string) => f1!.switches.find((s) => s.id === id)!.y;
  t.equal(y('F1-R1'), y('F1-CB'));
  t.equal(y('F1-LS1'), y('F1-CB'));
  t.ok(y('F1-FU1') > y('F1-LS1'), 'the lateral is drawn below');
  const x = (id: string) => f1!.switches.find((s) => s.id === id)!.x;
  t.ok(x('F1-CB') < x('F1-R1') && x('F1-R1') < x('F1-LS1'), 'downstream is to the right');
});

t.test('positions from the site are used when every section and device has one (y upwards)', async (t) => {
  const site = parseSiteConfig(BASE.replace('      - { id: F1-S1 }\n      - { id: F1-S2 }', '      - { id: F1-S1, at: [0, 0] }\n      - { id: F1-S2, at: [100, 50] }')
    .replace('normal: closed }\n      - { id: F1-R1', 'normal: closed, at: [-10, 0] }\n      - { id: F1-R1')
    .replace('to: F1-S2, normal: closed }', 'to: F1-S2, normal: closed, at: [50, 25] }')
    .replace('to: F2-S1, normal: open }', 'to: F2-S1, normal: open, at: [100, 100] }'), { env: {} });
  const d = feederDiagram(site, site.feeders[0]!);
  t.equal(d.layout, 'positions');
  const sw = (id: string) => d.switches.find((s) => s.id === id)!;
  t.ok(sw('F1-CB').x < sw('F1-R1').x, 'x kept in order');
  t.ok(sw('TIE-12').y < sw('F1-R1').y, 'a larger y is drawn higher');
  // F2 has no positions: automatic.
  t.equal(feederDiagram(site, site.feeders[1]!).layout, 'tree');
});

t.test('a token written into the file is never echoed in an error', async (t) => {
  let issues: Array<{ path: string; message: string; value?: unknown }> = [];
  try {
    parse('http: { host: 0.0.0.0, token: "shortsecret2" }\n');
  } catch (err) {
    if (!(err instanceof SiteConfigError)) throw err;
    issues = err.issues;
  }
  t.same(issues, [{ path: 'http.token', message: 'must be at least 16 characters', value: '<redacted>' }]);
  t.notMatch(JSON.stringify(issues), /shortsecret2/, 'the value appears nowhere');
});
