/** The command table of the CLI: one file per command. */
import { demoCommand } from './demo.js';
import { runCommand } from './run.js';
import { simulateCommand } from './simulate.js';
import { validateCommand } from './validate.js';

export type OptionSpec = { type: 'string' | 'boolean'; short?: string };

export interface CommandContext {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
}

export interface Command {
  name: string;
  summary: string;
  help: string;
  options: Record<string, OptionSpec>;
  run(values: Record<string, string | boolean | undefined>, ctx: CommandContext): Promise<number>;
}

export const COMMANDS: Record<string, Command> = {
  run: runCommand,
  validate: validateCommand,
  simulate: simulateCommand,
  demo: demoCommand,
};
