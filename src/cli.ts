#!/usr/bin/env node
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { UserError, errorMessage } from '../shared/errors.js';

import { VERSION } from '../shared/version.js';

// Order of `distribute --help`; a command file not named here comes after, alphabetically.
const HELP_ORDER = [
  'up', 'add', 'status', 'nodes', 'logs', 'kill', 'retry', 'pull', 'rm', 'pause', 'resume',
  'run', 'validate', 'template', 'schema', 'slurm', 'pbs', 'kubernetes',
  'head', 'compute', 'token', 'drain', 'undrain', 'doctor', 'install',
];

/**
 * Every file in commands/ exports `command`, one subcommand each. They are found here rather
 * than listed, so adding a command is adding its file. Heavy modules are imported inside
 * the actions, so `distribute --help` stays fast.
 */
async function loadCommands(only?: string): Promise<Command[]> {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'commands');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    names = [];
  }
  let files = names.filter((f) => /\.(js|ts)$/.test(f) && !f.endsWith('.d.ts') && !f.endsWith('.map'));
  // `distribute pause`: only its file (each import costs; `pause` is timed by the person at the desk)
  const named = only === undefined ? [] : files.filter((f) => f.replace(/\.(js|ts)$/, '') === only);
  if (named.length === 1) files = named;
  const loaded: Command[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(dir, f)).href)) as { command?: Command };
    if (mod.command instanceof Command) loaded.push(mod.command);
  }
  const rank = (c: Command) => {
    const i = HELP_ORDER.indexOf(c.name());
    return i === -1 ? HELP_ORDER.length : i;
  };
  return loaded.sort((a, b) => rank(a) - rank(b) || a.name().localeCompare(b.name()));
}

/** Subcommands do not inherit exitOverride; without it their usage errors would exit 1, not 2. */
function withExitOverride(cmd: Command): Command {
  cmd.exitOverride();
  for (const sub of cmd.commands) withExitOverride(sub);
  return cmd;
}

/** The program with every subcommand, or with `only` alone when a file of that name exists. */
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
    if (err instanceof UserError) {
      process.stderr.write(`error: ${err.message}\n`);
      return err.exitCode;
    }
    const debug = program.opts().debug || process.env.DISTRIBUTE_DEBUG;
    process.stderr.write(`error: ${debug && err instanceof Error ? err.stack : errorMessage(err)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv);
