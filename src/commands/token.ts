import { Command } from 'commander';
import { UserError } from '../../shared/errors.js';
import { parseSize } from '../../shared/spec/units.js';
import type { TokenPins } from '../../head/token-pins.js';

interface CreateOptions {
  stateDir: string;
  node?: string;
  user?: string;
  admin?: boolean;
  init?: boolean;
  cpus?: string;
  memory?: string;
  gpus?: string;
  capabilities?: string;
}

/** The pins given as flags; the head checks their ranges (head/tokens.ts). */
function parsePins(opts: CreateOptions): TokenPins {
  const pins: TokenPins = {};
  const count = (v: string, flag: string) => {
    if (!/^\d+$/.test(v.trim())) throw new UserError(`--${flag} ${JSON.stringify(v)}: give a whole number`);
    return Number(v);
  };
  if (opts.cpus !== undefined) pins.cpus = count(opts.cpus, 'cpus');
  if (opts.gpus !== undefined) pins.gpus = count(opts.gpus, 'gpus');
  if (opts.memory !== undefined) {
    const size = parseSize(opts.memory);
    if (!size.ok) throw new UserError(`--memory: ${size.error}`);
    pins.memory = size.value;
  }
  if (opts.capabilities !== undefined) pins.capabilities = [...new Set(opts.capabilities.split(',').map((c) => c.trim()).filter((c) => c !== ''))];
  return pins;
}

/** Opens the head database in --state-dir, refusing a folder that holds none unless `init`. */
async function openHeadStore(stateDir: string, init: boolean) {
  const { existsSync } = await import('node:fs');
  const { join, resolve } = await import('node:path');
  const { openStore, DB_FILE } = await import('../../head/store.js');
  const { knownHeadDirs } = await import('../user-state.js');
  const dir = resolve(stateDir);
  // a token in a database no head reads is a node refused with 401 forever after
  if (!init && !existsSync(join(dir, DB_FILE))) {
    throw new UserError(`--state-dir ${dir}: no head database (${DB_FILE}) there; ${knownHeadDirs()}. Give --init to start a new head's database in ${dir}`);
  }
  return openStore(dir);
}

const create = new Command('create')
  .description("Create a token for a user or a compute node, written straight into the head's state dir (works whether or not the head runs)")
  .requiredOption('--state-dir <dir>', "the head's state_dir (as in head.yaml; `distribute up`'s is the head/ folder of its state dir)")
  .option('--node <name>', 'a token for the compute node of this name')
  .option('--user <name>', 'a token for this user')
  .option('--admin', 'the user sees and manages every namespace')
  .option('--init', 'make a new, empty head database in --state-dir when it holds none')
  .option('--cpus <n>', 'node token: its hello may claim at most this many cpus')
  .option('--memory <size>', 'node token: at most this much memory (8G, 512M)')
  .option('--gpus <n>', 'node token: at most this many GPUs')
  .option('--capabilities <list>', 'node token: only these capabilities, comma-separated (a,b)')
  .action(async (opts: CreateOptions) => {
    if (!!opts.node === !!opts.user) throw new UserError('give exactly one of --node NAME or --user NAME');
    const pins = parsePins(opts);
    const { createToken } = await import('../../head/tokens.js');
    const store = await openHeadStore(opts.stateDir, !!opts.init);
    try {
      const kind = opts.node ? 'node' : 'user';
      const name = (opts.node ?? opts.user)!;
      const token = createToken(store, { kind, name, admin: !!opts.admin, pins });
      const { describePins, hasPins } = await import('../../head/token-pins.js');
      const pinned = hasPins(pins) ? `, pinned to ${describePins(pins)}` : '';
      const what = kind === 'node' ? `node ${name}${pinned} (compute.yaml: token or token_file)` : `user ${name}${opts.admin ? ' (admin)' : ''} (DISTRIBUTE_TOKEN or --token)`;
      process.stdout.write(`token for ${what}; it is shown only once:\n${token}\n`);
    } finally {
      store.close();
    }
  });

const list = new Command('list')
  .description("The tokens in the head's state dir: kind, name, admin, created, a node token's pins (never the token)")
  .requiredOption('--state-dir <dir>', "the head's state_dir")
  .option('--json', 'print [{kind, name, admin, created, pins: {cpus?, memory?, gpus?, capabilities?}}] on stdout')
  .action(async (opts: { stateDir: string; json?: boolean }) => {
    const { listTokens } = await import('../../head/tokens.js');
    const { describePins } = await import('../../head/token-pins.js');
    const { table } = await import('../remote/tables.js');
    const store = await openHeadStore(opts.stateDir, false);
    try {
      const tokens = listTokens(store);
      if (opts.json) return void process.stdout.write(JSON.stringify(tokens, null, 2) + '\n');
      if (tokens.length === 0) return void process.stdout.write('no tokens\n');
      const rows = tokens.map((t) => [t.kind, t.name, t.admin ? 'yes' : '', t.created, describePins(t.pins) || (t.kind === 'node' ? 'none' : '')]);
      process.stdout.write(table(['KIND', 'NAME', 'ADMIN', 'CREATED', 'PINS'], rows) + '\n');
    } finally {
      store.close();
    }
  });

export const command = new Command('token').description('Manage access tokens of the head').addCommand(create).addCommand(list);
