import { Command } from 'commander';
import { withHeadOptions } from '../head-options.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export const command = withHeadOptions(
  new Command('pull')
    .description('Download the results of a batch into SAVE_DIR/<batch_name>/<job>/')
    .argument('<batch.yaml>', 'the batch file you added (names the namespace and batch)')
    .option('--save-dir <dir>', 'where the results go', '.')
    .option('--include <regex>', 'keep only members whose <job>/<path> matches (repeatable)', collect, [] as string[])
    .option('--exclude <regex>', 'leave out members whose <job>/<path> matches (repeatable)', collect, [] as string[]),
)
  .exitOverride()
  .action(async (file: string, opts: { saveDir: string; include: string[]; exclude: string[]; head?: string; token?: string }) => {
    const { connect } = await import('../client.js');
    const { readBatchIdentity, pullBatch } = await import('../remote/pull.js');
    const { formatBytes } = await import('../../shared/spec/units.js');
    const target = await readBatchIdentity(file);
    const out = await pullBatch(connect(opts), target, opts.saveDir, { include: opts.include, exclude: opts.exclude });
    for (const r of out.refused) process.stderr.write(`warning: not extracted: ${r}\n`);
    process.stdout.write(`pulled ${out.files} file${out.files === 1 ? '' : 's'} (${formatBytes(out.bytes)}) of ${target.namespace}/${target.batch} into ${out.dest}\n`);
  });
