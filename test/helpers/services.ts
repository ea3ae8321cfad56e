/**
 * Real services for integration tests: a Mosquitto broker and an InfluxDB 1.x server, each started on a
 * free loopback port in its own temporary folder and stopped (and the folder removed) by `stop()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunningService {
  host: string;
  port: number;
  url: string;
  /** Output of the process so far, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') return reject(new Error('no port'));
      server.close(() => resolve(address.port));
    });
  });
}

/**
 * A free loopback port BELOW the kernel's ephemeral range (32768-60999 on Linux), for services a test stops
 * and starts again on the same port. A port from the ephemeral range can be taken while the service is down:
 * by another test's `freePort()`, or by a client of the stopped service itself, whose reconnection attempts
 * occasionally connect a socket to itself (TCP self-connect, same source and destination port). Ports
 * below the range are only ever handed out here.
 */
export async function servicePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.unref();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port found in 20000-31999');
}

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, child: ChildProcess, log: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}:\n${log()}`);
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready within ${timeoutMs} ms:\n${log()}`);
}

/** What answered on the port must be this process: one that failed to bind exits at once. */
async function stillRunning(what: string, child: ChildProcess, log: () => string): Promise<void> {
  await new Promise((r) => setTimeout(r, 300));
  if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited after its restart (port taken?):\n${log()}`);
}

function spawnLogged(cmd: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (chunk: Buffer): void => {
    out = (out + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => out };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

const MOSQUITTO_PATHS = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'];

/** A service that can be stopped and started again on the same port with the same data (fault tests). */
export interface RestartableService extends RunningService {
  /** Stops the process (SIGTERM), keeping its folder and data. */
  halt(): Promise<void>;
  /** Starts it again on the same port, with the same configuration and data. */
  restart(): Promise<void>;
}

export interface MosquittoOptions {
  /** Require this user (password file made with mosquitto_passwd); anonymous clients are refused. */
  user?: { username: string; password: string };
  /** TLS listener with these PEM files; `requireClientCertificate` makes it mutual TLS. */
  tls?: { caFile: string; certFile: string; keyFile: string; requireClientCertificate: boolean };
  /**
   * Keep sessions (subscriptions and queued QoS 1 messages of persistent clients) across a restart, with no
   * bound on the queue: how a broker serving durable consumers is set up.
   */
  persistent?: boolean;
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<RestartableService> {
  const dir = await mkdtemp(join(tmpdir(), 'fw-mosquitto-'));
  // Started as root, mosquitto drops to the `mosquitto` user: it must be able to read what we give it.
  await chmod(dir, 0o755);
  const port = await servicePort();
  const conf = join(dir, 'mosquitto.conf');
  const lines = [`listener ${port} 127.0.0.1`, 'log_dest stderr', 'log_type error', 'log_type warning'];
  if (opts.persistent) {
    // Started as root, mosquitto drops to the `mosquitto` user, which must be able to write its database here:
    // without it sessions silently do not survive the restart ("Error: Permission denied" in its log).
    await chmod(dir, 0o777);
    lines.push('persistence true', `persistence_location ${dir}/`, 'max_queued_messages 0', 'max_inflight_messages 0');
  }
  else lines.push('persistence false');
  if (opts.user) {
    const passwordFile = join(dir, 'passwd');
    await runTool('mosquitto_passwd', ['-c', '-b', passwordFile, opts.user.username, opts.user.password]);
    await chmod(passwordFile, 0o644);
    lines.push('allow_anonymous false', `password_file ${passwordFile}`);
  } else {
    lines.push('allow_anonymous true');
  }
  if (opts.tls) {
    lines.push(`cafile ${opts.tls.caFile}`, `certfile ${opts.tls.certFile}`, `keyfile ${opts.tls.keyFile}`, `require_certificate ${opts.tls.requireClientCertificate}`);
  }
  await writeFile(conf, lines.join('\n') + '\n');
  const { existsSync } = await import('node:fs');
  const bin = MOSQUITTO_PATHS.find((p) => existsSync(p)) ?? 'mosquitto';
  let { child, output } = spawnLogged(bin, ['-c', conf]);
  await waitFor('mosquitto', () => canConnect(port), child, output);
  return {
    host: '127.0.0.1',
    port,
    url: `${opts.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    output: () => output(),
    halt: async () => {
      await stopChild(child);
      if (opts.persistent && /Error/.test(output())) throw new Error(`mosquitto did not save its sessions:\n${output()}`);
    },
    restart: async () => {
      ({ child, output } = spawnLogged(bin, ['-c', conf]));
      await waitFor('mosquitto', () => canConnect(port), child, output);
      await stillRunning('mosquitto', child, output);
    },
    stop: async () => {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function runTool(cmd: string, args: string[]): Promise<void> {
  const { child, output } = spawnLogged(cmd, args);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${code}):\n${output()}`);
}

export interface TestPki {
  dir: string;
  caFile: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A throwaway CA with a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
export async function makeTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'fw-pki-'));
  await chmod(dir, 0o755);
  const f = (name: string): string => join(dir, name);
  await runTool('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=feederwatch test CA', '-keyout', f('ca.key'), '-out', f('ca.pem')]);
  await writeFile(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const who of ['server', 'client']) {
    await runTool('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=feederwatch test ${who}`, '-keyout', f(`${who}.key`), '-out', f(`${who}.csr`)]);
    const ext = who === 'server' ? ['-extfile', f('server.ext')] : [];
    await runTool('openssl', ['x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-out', f(`${who}.pem`), ...ext]);
  }
  // Readable by a broker that dropped root privileges (test keys only).
  for (const name of ['ca.pem', 'server.pem', 'server.key', 'client.pem', 'client.key']) await chmod(f(name), 0o644);
  return { dir, caFile: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}

export async function startInfluxd(opts: { port?: number } = {}): Promise<RestartableService> {
  const dir = await mkdtemp(join(tmpdir(), 'fw-influxd-'));
  const port = opts.port ?? (await servicePort());
  const rpcPort = await servicePort();
  const conf = join(dir, 'influxdb.conf');
  await writeFile(
    conf,
    `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${join(dir, 'meta')}"
[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${port}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
`,
  );
  let { child, output } = spawnLogged('influxd', ['run', '-config', conf]);
  const ping = async (): Promise<boolean> => {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/ping`);
      return res.status === 204;
    } catch {
      return false;
    }
  };
  await waitFor('influxd', ping, child, output, 60_000);
  return {
    host: '127.0.0.1',
    port,
    url: `http://127.0.0.1:${port}`,
    output: () => output(),
    halt: () => stopChild(child),
    restart: async () => {
      ({ child, output } = spawnLogged('influxd', ['run', '-config', conf]));
      await waitFor('influxd', ping, child, output, 60_000);
      await stillRunning('influxd', child, output);
    },
    stop: async () => {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
