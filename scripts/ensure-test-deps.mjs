#!/usr/bin/env node
// Makes sure the programs the integration tests start are installed: a real Mosquitto broker, a real
// InfluxDB 1.x server and its CLI, socat (pseudo-terminals for the RTU simulator), Chromium (status page)
// and systemd-analyze (unit file check). As root with apt-get
// available it installs what is missing; otherwise it stops at once with the exact command to run.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const needed = [
  { bin: 'mosquitto', pkg: 'mosquitto', paths: ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'] },
  { bin: 'influxd', pkg: 'influxdb', paths: ['/usr/bin/influxd'] },
  { bin: 'influx', pkg: 'influxdb-client', paths: ['/usr/bin/influx'] },
  { bin: 'socat', pkg: 'socat', paths: ['/usr/bin/socat'] },
  // Independent Modbus peers: a reference master (mbpoll) and a reference server (pymodbus).
  { bin: 'mbpoll', pkg: 'mbpoll', paths: ['/usr/bin/mbpoll'] },
  { module: 'pymodbus', pkg: 'python3-pymodbus' },
  // The status page's browser tests (playwright-core drives Debian's Chromium; no browser download).
  { bin: 'chromium', pkg: 'chromium', paths: ['/usr/bin/chromium'] },
  // `systemd-analyze verify` checks the shipped unit file.
  { bin: 'systemd-analyze', pkg: 'systemd', paths: ['/usr/bin/systemd-analyze'] },
];

function onPath(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

// Debian's python3-* packages serve Debian's interpreter, not one a version manager put first on PATH.
const DEBIAN_PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
function hasPythonModule(name) {
  return spawnSync(DEBIAN_PYTHON, ['-c', `import ${name}`], { stdio: 'ignore' }).status === 0;
}

const missing = needed.filter((n) => (n.module ? !hasPythonModule(n.module) : !n.paths.some((p) => existsSync(p)) && !onPath(n.bin)));
if (missing.length === 0) process.exit(0);

const pkgs = missing.map((m) => m.pkg);
const command = `apt-get update && apt-get install -y ${pkgs.join(' ')}`;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (!isRoot || !onPath('apt-get')) {
  console.error(`feederwatch tests need ${pkgs.join(', ')} (missing: ${missing.map((m) => m.bin ?? `python module ${m.module}`).join(', ')}).`);
  console.error(`Install them with:\n  sudo ${command}`);
  process.exit(1);
}
console.error(`installing test dependencies: ${pkgs.join(' ')}`);
try {
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
} catch (err) {
  console.error(`installing ${pkgs.join(', ')} failed (${err.message}); run: ${command}`);
  process.exit(1);
}
