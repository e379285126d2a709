// `distribute up`: a whole cluster on this machine in one process — a head and a compute daemon
// for this machine — with its state under the user's data folder. The first start creates a
// user token (admin) and a node token, and writes the user config so that `distribute add`
// works from another terminal. Later starts reuse them.
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { ComputeConfig, HeadConfig, DEFAULT_PORT, userConfigPath } from '../shared/config.js';
import type { Logger } from '../shared/log.js';
import { startHead, type RunningHead } from '../head/daemon.js';
import { openStore } from '../head/store.js';
import { createToken } from '../head/tokens.js';
import { startComputeDaemon, safeHostName, type ComputeDaemon } from '../compute/daemon.js';
import { detectCapabilities } from '../compute/detect.js';
import { UserError } from '../shared/errors.js';
import { defaultStateDir, upControlSocket, upHeadDir } from './user-state.js';

export interface UpOptions {
  stateDir?: string;
  port?: number;
  /** offered on top of the detected ones */
  capabilities?: string[];
  /** a logger for each of the two daemons (`head`, `compute`) */
  logger: (component: 'head' | 'compute') => Logger;
  /** where the user config is written; default userConfigPath() */
  userConfig?: string;
  /** told what to do next; default stderr */
  say?: (text: string) => void;
  /** a line for the banner about the CLI on PATH (see ops/link-cli.ts), null for none */
  pathNote?: string | null;
  /** a line for the banner about where the logs go */
  logNote?: string | null;
}

export interface Up {
  head: RunningHead;
  compute: ComputeDaemon;
  stateDir: string;
  stop(): Promise<void>;
}

/** The name of whoever runs `up`, as a SafeName, for their user token. */
function userName(): string {
  return safeHostName(process.env.USER || userInfo().username || 'user');
}

async function writeSecret(file: string, text: string): Promise<void> {
  await writeFile(file, text, { mode: 0o600 });
  await chmod(file, 0o600);
}

/** The tokens of this cluster, made on first start and kept (plain) in the state dir, mode 600. */
async function ensureTokens(stateDir: string, headDir: string, node: string): Promise<{ user: string; node: string; created: boolean }> {
  const nodeFile = join(stateDir, 'node.token');
  const userFile = join(stateDir, 'user.token');
  if (existsSync(nodeFile) && existsSync(userFile)) {
    return { node: (await readFile(nodeFile, 'utf8')).trim(), user: (await readFile(userFile, 'utf8')).trim(), created: false };
  }
  const store = openStore(headDir);
  try {
    const tokens = { user: createToken(store, { kind: 'user', name: userName(), admin: true }), node: createToken(store, { kind: 'node', name: node }) };
    await writeSecret(userFile, tokens.user + '\n');
    await writeSecret(nodeFile, tokens.node + '\n');
    return { ...tokens, created: true };
  } finally {
    store.close();
  }
}

export async function up(opts: UpOptions): Promise<Up> {
  const say = opts.say ?? ((t: string) => process.stderr.write(t + '\n'));
  const stateDir = resolve(opts.stateDir ?? defaultStateDir());
  const headDir = upHeadDir(stateDir);
  const workDir = join(stateDir, 'work');
  await mkdir(headDir, { recursive: true });
  await mkdir(workDir, { recursive: true });
  const node = safeHostName();
  const tokens = await ensureTokens(stateDir, headDir, node);

  const port = opts.port ?? DEFAULT_PORT;
  let head: RunningHead;
  try {
    head = await startHead(HeadConfig.parse({ listen: `127.0.0.1:${port}`, state_dir: headDir }), { logger: opts.logger('head') });
  } catch (err) {
    if (((err as Error).cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE') {
      throw new UserError(`port ${port} on 127.0.0.1 is taken (another \`distribute up\`?): stop that one, or give this one another with --port N (0: any free port)`, 1);
    }
    throw err;
  }
  // a Unix socket's path holds at most 107 bytes; a deeper state dir goes without one
  const socketPath = upControlSocket(stateDir);
  const controlSocket = Buffer.byteLength(socketPath) <= 100 ? socketPath : undefined;
  let compute: ComputeDaemon;
  try {
    const capabilities = [...new Set([...detectCapabilities(), ...(opts.capabilities ?? [])])];
    // the jobs' cgroups (when up runs as root) under a subtree of this state folder's own
    const cgroupParent = `distribute/up-${createHash('sha256').update(stateDir).digest('hex').slice(0, 12)}`;
    // one person's cluster: its jobs run as that person, whoever it is (no job_uids)
    const config = ComputeConfig.parse({ head: head.url, token: tokens.node, name: node, capabilities, work_dir: workDir, cgroup_parent: cgroupParent, job_uids: 'none', ...(controlSocket ? { control_socket: controlSocket } : {}) });
    compute = await startComputeDaemon(config, null, opts.logger('compute'));
  } catch (err) {
    await head.close();
    throw err;
  }

  // the welcome comes at once from a head in this process; say more than that only if it does not
  const welcomed = await Promise.race([compute.agent.registered.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 10_000).unref())]);
  const configFile = opts.userConfig ?? userConfigPath();
  let configNote: string;
  const existing = existsSync(configFile) ? (parse(await readFile(configFile, 'utf8')) as { head?: unknown; token?: unknown } | null) : null;
  if (!existing) {
    await mkdir(dirname(configFile), { recursive: true });
    await writeSecret(configFile, stringify({ head: head.url, token: tokens.user }));
    configNote = `wrote ${configFile} (head ${head.url}, your admin token)`;
  } else if (existing.token === tokens.user) {
    // written by an earlier `up` of this state dir: follow the head if its port changed
    if (existing.head !== head.url) await writeSecret(configFile, stringify({ ...existing, head: head.url }));
    configNote = `${configFile} points at this head`;
  } else {
    configNote = `${configFile} exists and was left as it is; if it names another head, use\n  DISTRIBUTE_HEAD=${head.url} DISTRIBUTE_TOKEN=$(cat ${join(stateDir, 'user.token')}) distribute ...`;
  }
  say(
    [
      '',
      `distribute is up: head on ${head.url}, compute node "${node}" offering ${compute.capabilities.join(', ')}${welcomed ? '' : ' (not yet registered: see the log)'}`,
      `state in ${stateDir}${tokens.created ? ' (tokens created)' : ''}: the head's in ${headDir} (for \`distribute token create --state-dir\`)`,
      configNote,
      ...(opts.pathNote ? [opts.pathNote] : []),
      ...(opts.logNote ? [opts.logNote] : []),
      '',
      'In another terminal:',
      '  distribute add configs/shell-batch.yaml',
      '  distribute status',
      '  distribute pull configs/shell-batch.yaml --save-dir results',
      !controlSocket
        ? `  (no pause socket: ${socketPath} is too long a path for one)`
        : stateDir === resolve(defaultStateDir())
          ? '  distribute pause --duration 1h      # take this machine back; distribute resume'
          : `  distribute pause --socket ${controlSocket} --duration 1h`,
      '',
      `The dashboard: ${head.httpUrl}/?token=${tokens.user}`,
      '',
      'Ctrl-C stops both.',
      '',
    ].join('\n'),
  );
  return {
    head,
    compute,
    stateDir,
    async stop() {
      await compute.stop();
      await head.close();
    },
  };
}
