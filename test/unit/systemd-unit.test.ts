/**
 * deploy/systemd/feederwatch.service (docs/deploy.md): systemd's own checker accepts it, its hardening scores as
 * systemd measures it, and the settings the deployment relies on are there.
 *
 * `systemd-analyze verify` loads the unit as systemd would and, among other things, checks that the ExecStart=
 * binary exists and is executable. It does not look at the arguments (the script /opt/feederwatch/dist/... need
 * not exist here). The unit names /usr/bin/node, where Debian's and NodeSource's packages put it; on a machine
 * whose node is elsewhere (nvm, /usr/local/bin) the copy that is verified names process.execPath instead, so
 * the test checks the unit and not where this machine keeps node. Unknown keys and unparsable values are only
 * warnings for systemd (exit code 0, the line ignored): every line it prints fails the test unless it is a
 * known harmless note (a user or group that does not exist on this machine).
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packagePath } from '../../gateway/paths.js';

const UNIT_FILE = packagePath('deploy/systemd/feederwatch.service');
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const UNIT_NODE = '/usr/bin/node';
/** Lines systemd-analyze may print that say nothing about the unit itself. */
const HARMLESS = [/Failed to resolve (user|group) .*feederwatch/i, /User .*feederwatch.* (does not exist|not found)/i];
/** systemd's exposure score is 0.0 (locked down) to 10.0 (unprotected); --threshold takes it times ten. */
const MAX_EXPOSURE = 2.5;

const unitText = readFileSync(UNIT_FILE, 'utf8');

/** The unit's [Service] settings, key -> every value given (keys may repeat). */
function settings(section: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current = '';
  for (const raw of unitText.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = header[1] as string;
      continue;
    }
    if (current !== section) continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

async function unitCopy(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fw-unit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'feederwatch.service');
  const text = existsSync(UNIT_NODE) ? unitText : unitText.replaceAll(`ExecStart=${UNIT_NODE} `, `ExecStart=${process.execPath} `);
  await writeFile(file, text);
  return file;
}

t.test('systemd-analyze verify accepts the unit', async (t) => {
  const file = await unitCopy(t);
  const r = spawnSync(SYSTEMD_ANALYZE, ['verify', file], { encoding: 'utf8', timeout: 60_000 });
  const printed = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  t.comment(`systemd-analyze verify printed: ${printed.trim() === '' ? '(nothing)' : printed.trim()}`);
  t.equal(r.status, 0, `exit code 0 (${r.error?.message ?? printed})`);
  const complaints = printed
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !HARMLESS.some((h) => h.test(l)));
  t.same(complaints, [], 'no warning, unknown key or ignored value');
});

t.test('systemd-analyze verify catches what the test relies on it to catch', async (t) => {
  // The same unit with a typo in a key, bad device rights and a missing binary must be reported.
  const file = await unitCopy(t);
  const broken = readFileSync(file, 'utf8').replace('ProtectSystem=strict', 'ProtectSytem=strict').replace('DeviceAllow=char-ttyUSB rw', 'DeviceAllow=char-ttyUSB rwx');
  await writeFile(file, broken);
  const r = spawnSync(SYSTEMD_ANALYZE, ['verify', file], { encoding: 'utf8', timeout: 60_000 });
  const printed = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  t.match(printed, /Unknown key.*ProtectSytem/, 'an unknown key is printed');
  t.match(printed, /Invalid device rights 'rwx'/, 'bad device rights are printed');
});

t.test('hardening: exposure as systemd-analyze security scores it', async (t) => {
  const file = await unitCopy(t);
  const r = spawnSync(SYSTEMD_ANALYZE, ['security', '--offline=yes', '--no-pager', `--threshold=${MAX_EXPOSURE * 10}`, file], { encoding: 'utf8', timeout: 60_000 });
  const level = /Overall exposure level for feederwatch\.service: ([0-9.]+) (\w+)/.exec(r.stdout ?? '');
  t.ok(level, `an overall exposure level is printed${level ? `: ${level[1]} ${level[2]}` : `: ${r.stdout}${r.stderr}`}`);
  t.ok(Number(level?.[1]) <= MAX_EXPOSURE, `exposure ${level?.[1]} <= ${MAX_EXPOSURE}`);
  t.equal(r.status, 0, 'systemd-analyze security --threshold passes');
});

t.test('the settings the deployment relies on', async (t) => {
  const s = settings('Service');
  const one = (key: string): string | undefined => s.get(key)?.at(-1);
  t.equal(one('User'), 'feederwatch', 'User');
  t.equal(one('Group'), 'feederwatch', 'Group');
  t.equal(one('SupplementaryGroups'), 'dialout', 'serial ports through the dialout group');
  t.equal(one('ExecStart'), '/usr/bin/node /opt/feederwatch/dist/gateway/cli.js run --config /etc/feederwatch/site.yaml', 'the built CLI, as the Dockerfile starts it');
  t.equal(one('EnvironmentFile'), '-/etc/feederwatch/env', 'optional secrets file');
  t.equal(one('Restart'), 'on-failure', 'Restart');
  t.equal(one('RestartPreventExitStatus'), '2', 'an invalid site file (exit code 2) is not restarted in a loop');
  t.equal(one('StateDirectory'), 'feederwatch', 'StateDirectory');
  t.equal(one('ConfigurationDirectory'), 'feederwatch', 'ConfigurationDirectory');
  t.equal(one('ProtectSystem'), 'strict', 'ProtectSystem');
  t.equal(one('ReadWritePaths'), '/var/lib/feederwatch', 'ReadWritePaths');
  t.equal(one('WorkingDirectory'), '/var/lib/feederwatch', 'WorkingDirectory');
  for (const key of ['NoNewPrivileges', 'PrivateTmp', 'ProtectHome', 'ProtectKernelTunables', 'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectControlGroups']) t.equal(one(key), 'yes', key);
  t.equal(one('DevicePolicy'), 'closed', 'DevicePolicy');
  const allowed = s.get('DeviceAllow') ?? [];
  for (const group of ['char-ttyS rw', 'char-ttyUSB rw', 'char-ttyACM rw']) t.ok(allowed.includes(group), `DeviceAllow=${group}`);
  t.notOk(s.has('PrivateDevices'), 'PrivateDevices= would hide the serial ports');
  t.notOk(s.has('MemoryDenyWriteExecute'), "MemoryDenyWriteExecute= would stop V8's JIT");
  const families = (one('RestrictAddressFamilies') ?? '').split(/\s+/);
  t.same([...families].sort(), ['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX']);
  // The state folder of the unit is the one docs/deploy.md puts in the site file and the Dockerfile declares.
  const dockerfile = readFileSync(packagePath('Dockerfile'), 'utf8');
  t.match(dockerfile, /VOLUME \["\/var\/lib\/feederwatch"\]/, 'the Docker image keeps its state in the same folder');
  t.match(readFileSync(packagePath('docs/deploy.md'), 'utf8'), /stateDir: \/var\/lib\/feederwatch/, 'docs/deploy.md sets persistence.stateDir to it');
});
