import { Command } from 'commander';
import { UserError } from '../../shared/errors.js';

const create = new Command('create')
  .description("Create a token for a user or a compute node, written straight into the head's state dir (works whether or not the head runs)")
  .requiredOption('--state-dir <dir>', "the head's state_dir (as in head.yaml)")
  .option('--node <name>', 'a token for the compute node of this name')
  .option('--user <name>', 'a token for this user')
  .option('--admin', 'the user sees and manages every namespace')
  .action(async (opts: { stateDir: string; node?: string; user?: string; admin?: boolean }) => {
    if (!!opts.node === !!opts.user) throw new UserError('give exactly one of --node NAME or --user NAME');
    const { openStore } = await import('../../head/store.js');
    const { createToken } = await import('../../head/tokens.js');
    const store = openStore(opts.stateDir);
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
