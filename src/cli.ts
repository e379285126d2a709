#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { UserError, errorMessage } from '../shared/errors.js';

import { VERSION } from '../shared/version.js';
import { COMMANDS } from './command-table.js';

/** The commands of the table (command-table.ts), or `only` alone when the table has it. */
async function loadCommands(only?: string): Promise<Command[]> {
  const named = COMMANDS.filter((c) => c.name === only);
  const wanted = named.length === 1 ? named : COMMANDS;
  return Promise.all(wanted.map(async (c) => (await c.load()).command));
}

/** Subcommands do not inherit exitOverride; without it their usage errors would exit 1, not 2. */
function withExitOverride(cmd: Command): Command {
  cmd.exitOverride();
  for (const sub of cmd.commands) withExitOverride(sub);
  return cmd;
}

/** The program with every subcommand, or with `only` alone when it is one. */
export async function buildProgram(only?: string): Promise<Command> {
  const program = new Command('distribute')
    .description('Run batches of jobs on a lab cluster, on this machine, or on Slurm/PBS/Kubernetes')
    .version(VERSION)
    .option('--debug', 'show stack traces for unexpected errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const cmd of await loadCommands(only)) program.addCommand(withExitOverride(cmd));
  return program;
}

export async function main(argv: string[]): Promise<number> {
  // the subcommand named first (no global option before it): only its module is loaded
  const first = argv[2];
  const program = await buildProgram(first !== undefined && /^[a-z]+$/.test(first) ? first : undefined);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; usage errors are bad input
      return err.exitCode === 0 ? 0 : 2;
    }
    const debug = program.opts().debug || process.env.DISTRIBUTE_DEBUG;
    // an error without a message still says what it was
    const message = errorMessage(err) || `${err instanceof Error ? err.name : typeof err} without a message (run with --debug for where)`;
    if (err instanceof UserError) {
      process.stderr.write(`error: ${message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`error: ${debug && err instanceof Error ? err.stack : message}\n`);
    return 1;
  }
}

// The reader of our output went away (`distribute status | head -1`): nothing more is
// wanted, which is no error. Without this, the first write after it is an EPIPE stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
});

process.exitCode = await main(process.argv);
