/**
 * A pair of connected pseudo-terminals made by socat, standing in for an RS-485 line: what is written to
 * one end is read from the other. The gateway opens one end as its serial port, the simulator the other.
 *
 *   socat -d -d pty,raw,echo=0,link=<a> pty,raw,echo=0,link=<b>
 *
 * socat creates each pty and a symlink to it at the given path; `open()` resolves once both links exist.
 * Both ends can be opened and closed again any number of times while socat runs (checked by the RTU tests).
 * `close()` stops socat, which removes its links. Baud rate and parity settings on a pty are accepted and
 * ignored: the simulator reproduces the line timing itself.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type SimLogger, silentLogger } from './logger.js';

export interface PtyPairOptions {
  /** Path of the first end's symlink (the gateway end); its folder is created if missing. */
  a: string;
  /** Path of the second end's symlink (the simulator end). */
  b: string;
  logger?: SimLogger;
  /** How long to wait for socat to create both links. Default 5 s. */
  readyTimeoutMs?: number;
  /** The socat executable. Default `socat` from PATH. */
  socat?: string;
}

/** Whether `path` is a symlink (false when it does not exist); throws if it exists as something else. */
async function isSymlink(path: string): Promise<boolean> {
  try {
    const stat = await lstat(path);
    if (stat.isSymbolicLink()) return true;
    throw new Error(`${path} exists and is not a symlink; refusing to replace it with a pty link`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class PtyPair {
  readonly a: string;
  readonly b: string;
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private exitCode: number | null | undefined;
  /** Set by close(): socat's exit is expected from then on. */
  private closing = false;

  private constructor(a: string, b: string, child: ChildProcess, exited: Promise<void>) {
    this.a = a;
    this.b = b;
    this.child = child;
    this.exited = exited;
    void exited.then(() => {
      this.exitCode = child.exitCode;
    });
  }

  /** socat's process id (for logs). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Whether socat is still running. */
  get running(): boolean {
    return this.exitCode === undefined;
  }

  static async open(opts: PtyPairOptions): Promise<PtyPair> {
    const logger = opts.logger ?? silentLogger();
    const readyTimeoutMs = opts.readyTimeoutMs ?? 5000;
    for (const path of [opts.a, opts.b]) {
      await mkdir(dirname(path), { recursive: true });
      // A link left behind by a socat that was killed -9 would make the wait below succeed too early.
      if (await isSymlink(path)) await unlink(path);
    }
    const child = spawn(
      opts.socat ?? 'socat',
      ['-d', '-d', `pty,raw,echo=0,link=${opts.a}`, `pty,raw,echo=0,link=${opts.b}`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      stderr = (stderr + text).slice(-4000);
    });
    let spawnError: Error | null = null;
    const exited = new Promise<void>((resolve) => {
      child.once('error', (err) => {
        spawnError = err;
        resolve();
      });
      child.once('exit', () => resolve());
    });
    let gone = false;
    void exited.then(() => {
      gone = true;
    });
    const pair = new PtyPair(opts.a, opts.b, child, exited);

    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (gone) {
        const why = spawnError !== null ? (spawnError as Error).message : `exit code ${String(child.exitCode)}`;
        throw new Error(`socat could not make the pty pair ${opts.a} <-> ${opts.b} (${why}): ${stderr.trim()}`);
      }
      if ((await isSymlink(opts.a)) && (await isSymlink(opts.b))) break;
      if (Date.now() > deadline) {
        await pair.close();
        throw new Error(`socat did not create ${opts.a} and ${opts.b} within ${readyTimeoutMs} ms: ${stderr.trim()}`);
      }
      await delay(10);
    }
    logger.debug('pty pair ready', { a: opts.a, b: opts.b, pid: child.pid });
    child.once('exit', (code, signal) => {
      if (pair.closing) return;
      logger.error('socat exited, the pty pair is gone', { a: opts.a, b: opts.b, code, signal, stderr: stderr.trim() });
    });
    return pair;
  }

  /** Stops socat (SIGTERM, then SIGKILL after a second) and waits for it to exit; removes stale links. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.running && this.child.exitCode === null) {
      this.child.kill('SIGTERM');
      const killed = await Promise.race([this.exited.then(() => true), delay(1000).then(() => false)]);
      if (!killed) {
        this.child.kill('SIGKILL');
        await this.exited;
      }
    }
    // socat removes its links on a clean exit; after SIGKILL they stay.
    for (const path of [this.a, this.b]) {
      try {
        if (await isSymlink(path)) await unlink(path);
      } catch {
        // Not ours any more (replaced by something that is not a symlink): leave it.
      }
    }
  }
}
