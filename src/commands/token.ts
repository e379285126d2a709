import { Command } from 'commander';
import { UserError } from '../../shared/errors.js';

const create = new Command('create')
  .description("Create a token for a user or a compute node, written straight into the head's state dir (works whether or not the head runs)")
  .requiredOption('--state-dir <dir>', "the head's state_dir (as in head.yaml; `distribute up`'s is the head/ folder of its state dir)")
  .option('--node <name>', 'a token for the compute node of this name')
  .option('--user <name>', 'a token for this user')
  .option('--admin', 'the user sees and manages every namespace')
  .option('--init', 'make a new, empty head database in --state-dir when it holds none')
  .action(async (opts: { stateDir: string; node?: string; user?: string; admin?: boolean; init?: boolean }) => {
    if (!!opts.node === !!opts.user) throw new UserError('give exactly one of --node NAME or --user NAME');
    const { existsSync } = await import('node:fs');
    const { join, resolve } = await import('node:path');
    const { openStore, DB_FILE } = await import('../../head/store.js');
    const { createToken } = await import('../../head/tokens.js');
    const { knownHeadDirs } = await import('../user-state.js');
    const dir = resolve(opts.stateDir);
    // a token in a database no head reads is a node refused with 401 forever after
    if (!opts.init && !existsSync(join(dir, DB_FILE))) {
      throw new UserError(`--state-dir ${dir}: no head database (${DB_FILE}) there; ${knownHeadDirs()}. Give --init to start a new head's database in ${dir}`);
    }
    const store = openStore(dir);
    try {
      const kind = opts.node ? 'node' : 'user';
      const name = (opts.node ?? opts.user)!;
      const token = createToken(store, { kind, name, admin: !!opts.admin });
      const what = kind === 'node' ? `node ${name} (compute.yaml: token or token_file)` : `user ${name}${opts.admin ? ' (admin)' : ''} (DISTRIBUTE_TOKEN or --token)`;
      process.stdout.write(`token for ${what}; it is shown only once:\n${token}\n`);
    } finally {
      store.close();
    }
  });

export const command = new Command('token').description('Manage access tokens of the head').addCommand(create);
