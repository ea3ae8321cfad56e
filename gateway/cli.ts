#!/usr/bin/env node
/**
 * The `feederwatch` command. Each subcommand has its own `--help`. Exit codes (README, Commands):
 * 0 success, 1 runtime failure, 2 invalid configuration or usage.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { COMMANDS, type Command, type CommandContext } from './cli/commands.js';
import { UsageError } from './cli/usage-error.js';

/** The command column: the longest name plus two spaces. */
const NAME_WIDTH = Math.max(...Object.values(COMMANDS).map((c) => c.name.length)) + 2;

const GLOBAL_HELP = `feederwatch - edge gateway for electricity distribution

Usage: feederwatch <command> [options]

Commands:
${Object.values(COMMANDS)
  .map((c) => `  ${c.name.padEnd(NAME_WIDTH)}${c.summary}`)
  .join('\n')}

Run 'feederwatch <command> --help' for the options of a command.
Exit codes: 0 success, 1 runtime failure, 2 invalid configuration or usage.
`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(GLOBAL_HELP);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    const { packageVersion } = await import('./paths.js');
    process.stdout.write(packageVersion() + '\n');
    return 0;
  }
  const command: Command | undefined = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`feederwatch: unknown command "${name}"\n\n${GLOBAL_HELP}`);
    return 2;
  }
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[] = [];
  try {
    const parsed = parseArgs({
      args: rest,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } } as ParseArgsConfig['options'],
      strict: true,
      allowPositionals: command.allowPositionals === true,
    });
    values = parsed.values as Record<string, string | boolean | undefined>;
    positionals = parsed.positionals;
  } catch (err) {
    process.stderr.write(`feederwatch ${name}: ${(err as Error).message}\n\n${command.help}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(command.help);
    return 0;
  }
  const ctx: CommandContext = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s), env: process.env };
  try {
    return await command.run(values, ctx, positionals);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`feederwatch ${name}: ${err.message}\n\n${command.help}`);
      return 2;
    }
    process.stderr.write(`feederwatch ${name}: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // Long-running commands resolve only once stopped; give stdout a moment to drain.
    process.exitCode = code;
    if (code !== 0) setTimeout(() => process.exit(code), 50).unref();
  },
  (err: unknown) => {
    process.stderr.write(`feederwatch: ${String(err)}\n`);
    process.exit(1);
  },
);
