/** Runs the feederwatch CLI from its TypeScript sources, with the same loaders as the test process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { packagePath } from '../../gateway/paths.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function spawnCli(args: string[], env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; output: () => CliResult; exited: Promise<CliResult> } {
  const child = spawn(process.execPath, [...process.execArgv, packagePath('gateway/cli.ts'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const output = (): CliResult => ({ code: child.exitCode, stdout, stderr });
  const exited = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, output, exited };
}

export async function runCli(args: string[], env?: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<CliResult> {
  const { child, exited } = spawnCli(args, env);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const result = await exited;
  clearTimeout(timer);
  return result;
}
