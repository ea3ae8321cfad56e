/** The command table of the CLI: one file per command. */
import { demoCommand } from './demo.js';
import { generateSubstationCommand } from './generate-substation.js';
import { importOpenDssCommand } from './import-opendss.js';
import { pkiCommand } from './pki.js';
import { reportCommand } from './report.js';
import { runCommand } from './run.js';
import { simulateCommand } from './simulate.js';
import { statusCommand } from './status.js';
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
  /** Commands that take positional arguments (e.g. `pki trust <file>`) say so. */
  allowPositionals?: boolean;
  run(values: Record<string, string | boolean | undefined>, ctx: CommandContext, positionals?: string[]): Promise<number>;
}

export const COMMANDS: Record<string, Command> = {
  run: runCommand,
  validate: validateCommand,
  simulate: simulateCommand,
  demo: demoCommand,
  pki: pkiCommand,
  report: reportCommand,
  status: statusCommand,
  'import-opendss': importOpenDssCommand,
  'generate-substation': generateSubstationCommand,
};
