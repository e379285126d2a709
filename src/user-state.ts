// Where `distribute up` keeps a user's cluster, and where the CLI finds it again without
// being told: the state dir (`$XDG_DATA_HOME/distribute`, i.e. ~/.local/share/distribute),
// the head's database in its `head/` folder, and the compute daemon's control socket in it.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONTROL_SOCKET } from '../shared/protocol/control.js';
import { INSTALLED } from './ops/layout.js';

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'distribute');
}

/** The head's state dir inside an `up` state dir. */
export function upHeadDir(stateDir: string): string {
  return join(stateDir, 'head');
}

/** The control socket of the compute daemon `up` runs. */
export function upControlSocket(stateDir: string): string {
  return join(stateDir, 'control.sock');
}

/**
 * The sockets `distribute pause` tries when --socket is not given, in order: an installed
 * daemon's, then the one of this user's `up`.
 */
function controlSocketCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  return [DEFAULT_CONTROL_SOCKET, upControlSocket(defaultStateDir(env))];
}

/** The first candidate socket that exists; the first of all when none does (its error names them). */
export function findControlSocket(env: NodeJS.ProcessEnv = process.env, exists: (p: string) => boolean = existsSync): { path: string; tried: string[] } {
  const tried = controlSocketCandidates(env);
  return { path: tried.find(exists) ?? tried[0]!, tried };
}

/** Where `up` and `install` keep their heads' state dirs, for messages that point there. */
export function knownHeadDirs(env: NodeJS.ProcessEnv = process.env): string {
  return `\`distribute up\` keeps its head in ${upHeadDir(defaultStateDir(env))}, \`distribute install\` in ${INSTALLED.headStateDir}`;
}
