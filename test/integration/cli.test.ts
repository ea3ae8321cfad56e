/** The CLI as a user runs it: exit codes, error output, help, and the demo end to end. */
import t from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packagePath } from '../../gateway/paths.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { MqttRecorder } from '../helpers/mqtt-recorder.js';
import { freePort } from '../helpers/services.js';

t.test('validate: a valid site exits 0 with a summary', async (t) => {
  const r = await runCli(['validate', '--config', packagePath('config/sites/demo.yaml')]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /valid\. Site demo-xixi: 2 feeders, 7 switching devices, 6 sections, 6 transformers, 17 customers, 23 devices\./);
});

t.test('validate: an invalid site exits 2 and names the path and the bad value', async (t) => {
  const r = await runCli(['validate', '--config', packagePath('config/invalid/switch-to-missing-section.yaml')]);
  t.equal(r.code, 2);
  t.match(r.stderr, /feeders\[0\]\.switches\[1\]\.to: section "F1-S9" does not exist \(value: "F1-S9"\)/);
});

t.test('validate: a missing file exits 2 and says so', async (t) => {
  const r = await runCli(['validate', '--config', '/nonexistent/site.yaml']);
  t.equal(r.code, 2);
  t.match(r.stderr, /\/nonexistent\/site\.yaml/);
});

t.test('run: an invalid site exits 2 and starts nothing', async (t) => {
  const r = await runCli(['run', '--config', packagePath('config/invalid/unknown-key.yaml')]);
  t.equal(r.code, 2);
  t.notMatch(r.stderr + r.stdout, /gateway started/);
});

t.test('usage errors exit 2 with the command help; --help exits 0 for every command', async (t) => {
  const missing = await runCli(['run']);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /--config <file> is required/);
  const unknown = await runCli(['frobnicate']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown command "frobnicate"/);
  const badOption = await runCli(['validate', '--confg', 'x']);
  t.equal(badOption.code, 2);
  t.match(badOption.stderr, /--confg/);
  for (const command of ['run', 'validate', 'simulate', 'demo', 'pki', 'report', 'status']) {
    const help = await runCli([command, '--help']);
    t.equal(help.code, 0, `${command} --help`);
    t.match(help.stdout, new RegExp(`^Usage: feederwatch ${command}`), `${command} --help prints usage`);
    t.match(help.stdout, /\n {2}-h, --help +this help\n/, `${command} --help lists -h, --help`);
    t.match(help.stdout, /\nExit codes: 0 /, `${command} --help documents its exit codes`);
  }
  const global = await runCli(['--help']);
  t.equal(global.code, 0);
  t.match(global.stdout, /Commands:[\s\S]*run[\s\S]*validate[\s\S]*simulate[\s\S]*demo/);
});

t.test('pki: trusting a certificate needs a file; list shows the folders', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fw-pki-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const missing = await runCli(['pki', 'trust', '--pki', dir]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /certificate file/i);
  const list = await runCli(['pki', 'list', '--pki', dir]);
  t.equal(list.code, 0, list.stderr);
  t.match(list.stdout, /trusted/);
});

t.test('demo: the scripted fault is detected within 20 s and healed by feeder automation within 3 min; Ctrl-C stops cleanly', { timeout: 240_000 }, async (t) => {
  // The demo site with its Modbus endpoints moved to free ports, so the test never collides with a running demo.
  const dir = await mkdtemp(join(tmpdir(), 'fw-demo-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const [ftuPort, meterPort, mqttPort, controlPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const site = (await readFile(packagePath('config/sites/demo.yaml'), 'utf8')).replaceAll('port: 15020', `port: ${ftuPort}`).replaceAll('port: 15021', `port: ${meterPort}`);
  const sitePath = join(dir, 'site.yaml');
  await writeFile(sitePath, site);

  const startedAt = Date.now();
  const demo = spawnCli(['demo', '--site', sitePath, '--scenario', packagePath('config/scenarios/demo-fault.yaml'), '--mqtt-port', String(mqttPort), '--control-port', String(controlPort), '--http-port', '0', '--log-format', 'json']);
  t.teardown(() => {
    if (demo.child.exitCode === null) demo.child.kill('SIGKILL');
  });
  let recorder: MqttRecorder | undefined;
  for (let i = 0; i < 100 && recorder === undefined; i++) {
    recorder = await MqttRecorder.connect(`mqtt://127.0.0.1:${mqttPort}`, 'feederwatch/v1/demo-xixi/#').catch(async () => {
      await new Promise((r) => setTimeout(r, 100));
      return undefined;
    });
  }
  if (recorder === undefined) throw new Error(`demo broker never came up:\n${demo.output().stderr}`);
  // The demo's own start: its banner, printed once simulator, broker and gateway run. Spawning it from the
  // TypeScript sources (and a loaded machine) adds seconds before that which a built `npm start` does not have.
  let readyAt = 0;
  for (let waited = 0; readyAt === 0 && waited < 60_000; waited += 50) {
    if (demo.output().stdout.includes('Press Ctrl-C to stop.')) readyAt = Date.now();
    else await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(readyAt > 0, `the demo printed its banner ${readyAt - startedAt} ms after being spawned`);
  const outage = await recorder.waitFor('outage from the scripted fault', (m) => m.topic.includes('/outages/') && m.payload.includes('"state":"active"'), 25_000);
  const elapsed = outage.at - readyAt;
  t.ok(elapsed < 20_000, `first outage published ${elapsed} ms after the demo started (${outage.at - startedAt} ms after spawning it)`);
  t.match(JSON.parse(outage.payload), { causeDevice: 'F1-R1', customerCount: 8 });
  t.match(demo.output().stdout, /simulator control {2}http:\/\/127\.0\.0\.1:\d+/);
  t.match(demo.output().stdout, /status page {8}http:\/\/127\.0\.0\.1:\d+\//);
  t.match(demo.output().stdout, /InfluxDB {11}not configured/);
  t.match(demo.output().stderr, /"msg":"outage started"/, 'the log says what was detected');
  // The demo's F1 runs voltage-time feeder automation: the permanent fault is isolated and the healthy sections
  // restored, and the recognized sequence is published within 3 minutes of start.
  const healed = await recorder.waitFor('selfHealing.completed', (m) => m.topic === 'feederwatch/v1/demo-xixi/events' && m.payload.includes('"type":"selfHealing.completed"'), 180_000 - (Date.now() - readyAt));
  const report = (JSON.parse(healed.payload) as { report: { kind: string; outcome: string; faultSection: string; stillOut: { customers: string[] } } }).report;
  t.ok(healed.at - readyAt < 180_000, `selfHealing.completed published ${Math.round((healed.at - readyAt) / 1000)} s after the demo started`);
  t.match(report, { kind: 'voltageTime', outcome: 'restored', faultSection: 'F1-S3', stillOut: { customers: ['C10301', 'C10302', 'C10303'] } });
  t.match(demo.output().stderr, /"msg":"self-healing completed"/);
  await recorder.close();

  demo.child.kill('SIGINT');
  const result = await demo.exited;
  t.equal(result.code, 0, 'exits 0 on SIGINT');
  t.match(result.stderr, /"msg":"gateway stopped"/);
});
