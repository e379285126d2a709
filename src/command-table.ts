// Every subcommand of `distribute`, in the order `distribute --help` lists them. Each is
// imported only when needed: `distribute pause` loads its own file alone (the person at the
// desk times it), `--help` loads them all. A new command is its file in commands/ and one
// line here.
import type { Command } from 'commander';

type CommandModule = Promise<{ command: Command }>;

export const COMMANDS: { name: string; load: () => CommandModule }[] = [
  { name: 'up', load: () => import('./commands/up.js') },
  { name: 'add', load: () => import('./commands/add.js') },
  { name: 'status', load: () => import('./commands/status.js') },
  { name: 'nodes', load: () => import('./commands/nodes.js') },
  { name: 'logs', load: () => import('./commands/logs.js') },
  { name: 'kill', load: () => import('./commands/kill.js') },
  { name: 'retry', load: () => import('./commands/retry.js') },
  { name: 'pull', load: () => import('./commands/pull.js') },
  { name: 'verify', load: () => import('./commands/verify.js') },
  { name: 'rm', load: () => import('./commands/rm.js') },
  { name: 'pause', load: () => import('./commands/pause.js') },
  { name: 'resume', load: () => import('./commands/resume.js') },
  { name: 'run', load: () => import('./commands/run.js') },
  { name: 'validate', load: () => import('./commands/validate.js') },
  { name: 'template', load: () => import('./commands/template.js') },
  { name: 'schema', load: () => import('./commands/schema.js') },
  { name: 'slurm', load: () => import('./commands/slurm.js') },
  { name: 'pbs', load: () => import('./commands/pbs.js') },
  { name: 'kubernetes', load: () => import('./commands/kubernetes.js') },
  { name: 'head', load: () => import('./commands/head.js') },
  { name: 'compute', load: () => import('./commands/compute.js') },
  { name: 'token', load: () => import('./commands/token.js') },
  { name: 'drain', load: () => import('./commands/drain.js') },
  { name: 'undrain', load: () => import('./commands/undrain.js') },
  { name: 'alloc', load: () => import('./commands/alloc.js') },
  { name: 'doctor', load: () => import('./commands/doctor.js') },
  { name: 'install', load: () => import('./commands/install.js') },
];
