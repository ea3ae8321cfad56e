/**
 * `feederwatch run` reloads its site file: an invalid edit keeps the gateway running on the last valid
 * configuration and turns /readyz to 503 with the file's problems; a valid edit restarts the gateway on it and
 * /readyz turns 200 again. The status page URL is printed at start, on a free port (http.port: 0).
 */
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnCli } from '../helpers/cli.js';
import { freePort } from '../helpers/services.js';

function site(name: string, ftuPort: number, meterPort: number, extra = ''): string {
  return `siteId: reload-test
name: ${name}
http: { port: 0 }
${extra}feeders:
  - id: F1
    breaker: F1-CB
    switches:
      - { id: F1-CB, kind: breaker, to: F1-S1, normal: closed }
      - { id: F1-R1, kind: recloser, from: F1-S1, to: F1-S2, normal: closed }
    sections:
      - { id: F1-S1 }
      - { id: F1-S2 }
    transformers:
      - { id: T101, section: F1-S1, areaClass: urban, customers: [C10101] }
      - { id: T102, section: F1-S2, areaClass: town, customers: [C10201] }
devices:
  - { id: ftu-f1-cb, protocol: modbus-tcp, host: 127.0.0.1, port: ${ftuPort}, unitId: 1, binds: { switch: F1-CB }, points: [{ name: position, function: holding, address: 0, type: uint16, observe: switch.position, encoding: doublePoint }] }
  - { id: meter-c10101, protocol: modbus-tcp, host: 127.0.0.1, port: ${meterPort}, unitId: 1, binds: { customer: C10101 }, points: [{ name: ua, function: holding, address: 0x2006, type: float32, scale: 0.1, unit: V, observe: meter.voltage }] }
`;
}

async function readyz(base: string): Promise<{ status: number; body: { ready: boolean; reasons: string[]; configErrors: Array<{ path: string; message: string }> } }> {
  const res = await fetch(`${base}readyz`);
  return { status: res.status, body: (await res.json()) as never };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what} not seen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test('/readyz follows the site file: 503 while it is invalid, 200 once fixed', { timeout: 90_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fw-readyz-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // Nothing listens on these: the devices are offline, which does not make the gateway unready.
  const [ftuPort, meterPort] = [await freePort(), await freePort()];
  const file = join(dir, 'site.yaml');
  await writeFile(file, site('first', ftuPort, meterPort));
  const gw = spawnCli(['run', '--config', file, '--log-format', 'json']);
  t.teardown(() => {
    if (gw.child.exitCode === null) gw.child.kill('SIGKILL');
  });
  const base = await until('status page URL', async () => /feederwatch: status page (http:\/\/127\.0\.0\.1:\d+\/)/.exec(gw.output().stdout)?.[1], 30_000);
  t.notMatch(base, /:8080\//, 'port 0 took a free port');
  const ready = await until('ready', async () => ((await readyz(base)).status === 200 ? true : undefined), 20_000);
  t.ok(ready);
  t.equal((await (await fetch(`${base}api/state`)).json() as { name: string }).name, 'first');

  // An invalid edit: an unknown key. The gateway goes on; /readyz says why it is not ready.
  await writeFile(file, site('second', ftuPort, meterPort, 'frobnicate: 1\n'));
  const notReady = await until('not ready', async () => {
    const r = await readyz(base);
    return r.status === 503 ? r : undefined;
  }, 10_000);
  t.equal(notReady.body.ready, false);
  t.same(notReady.body.configErrors, [{ path: 'frobnicate', message: 'frobnicate: unknown key "frobnicate"' }]);
  t.match(notReady.body.reasons, [/site file invalid \(1 issue\); running on the last valid configuration/]);
  t.equal((await fetch(`${base}healthz`)).status, 200, 'alive all the same');
  t.equal((await (await fetch(`${base}api/state`)).json() as { name: string }).name, 'first', 'still the last valid configuration');
  t.match(gw.output().stderr, /"msg":"site file invalid: still running on the last valid configuration"/);

  // Fixed: the gateway restarts on the new file and is ready again.
  await writeFile(file, site('second', ftuPort, meterPort));
  await until('ready again', async () => ((await readyz(base)).status === 200 ? true : undefined), 15_000);
  t.equal((await (await fetch(`${base}api/state`)).json() as { name: string }).name, 'second', 'the new configuration runs');
  t.match(gw.output().stderr, /"msg":"site file changed: restarting the gateway on the new configuration"/);
  t.equal(gw.output().stderr.match(/"msg":"gateway started"/g)?.length, 2, 'started twice');

  gw.child.kill('SIGTERM');
  const result = await gw.exited;
  t.equal(result.code, 0, 'exits 0 on SIGTERM');
});
