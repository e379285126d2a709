#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { commands } from './commands/index.js';
import { UserError, errorMessage } from '../shared/errors.js';

const VERSION = '0.1.0';

export function buildProgram(): Command {
  const program = new Command('distribute')
    .description('Run batches of jobs on a lab cluster, on this machine, or on Slurm/PBS/Kubernetes')
    .version(VERSION)
    .option('--debug', 'show stack traces for unexpected errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const cmd of commands) program.addCommand(cmd);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; usage errors are bad input
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof UserError) {
      process.stderr.write(`error: ${err.message}\n`);
      return err.exitCode;
    }
    const debug = program.opts().debug || process.env.DISTRIBUTE_DEBUG;
    process.stderr.write(`error: ${debug && err instanceof Error ? err.stack : errorMessage(err)}\n`);
    return 1;
  }
}

const code = await main(process.argv);
process.exitCode = code;
