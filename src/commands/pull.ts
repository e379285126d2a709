import { Command } from 'commander';
import { withHeadOptions } from '../head-options.js';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

interface PullFlags {
  namespace?: string;
  batch?: string;
  saveDir: string;
  include?: string[];
  exclude?: string[];
  glob?: string[];
  job?: string[];
  rules?: string;
  dry?: boolean;
  force?: boolean;
  json?: boolean;
  head?: string;
  token?: string;
}

export const command = withHeadOptions(
  new Command('pull')
    .description('Download the results of a batch into SAVE_DIR/<batch_name>/<job>/, filtered by query rules; files already there are skipped')
    .argument('[batch.yaml]', 'the batch file you added (names the namespace and batch); or --batch')
    .option('--batch <name>', 'the batch name (instead of a batch file)')
    .option('--namespace <name>', 'with --batch: its namespace, when the name alone is ambiguous')
    .option('--save-dir <dir>', 'where the results go', '.')
    .option('--include <regex>', 'keep only members whose <job>/<file> path matches one include or glob (repeatable)', collect)
    .option('--exclude <regex>', 'leave out members whose <job>/<file> path matches; exclude wins (repeatable)', collect)
    .option('--glob <pattern>', 'like --include, as a glob: without "/" it matches the file name, with "/" the whole <job>/<file> (repeatable)', collect)
    .option('--job <regex>', 'only jobs whose name matches (repeatable)', collect)
    .option('--rules <file>', 'a YAML file with include, exclude, glob and job keys, joined with the flags')
    .option('--dry', 'list what would be downloaded, with sizes and the total, and download nothing')
    .option('--force', 'download every selected file again, even those already here')
    .option('--json', 'print the outcome as JSON'),
)
  .exitOverride()
  .action(async (file: string | undefined, opts: PullFlags) => {
    const { connect } = await import('../client.js');
    const { readBatchIdentity, pullBatch } = await import('../remote/pull.js');
    const { rulesFrom } = await import('../remote/rules.js');
    const { checkName, resolveBatch } = await import('../remote/target.js');
    const { PullProgress } = await import('../remote/pull-progress.js');
    const { pullReport, dryListing } = await import('../remote/pull-report.js');
    const { UserError } = await import('../../shared/errors.js');

    if (file !== undefined && (opts.namespace !== undefined || opts.batch !== undefined)) {
      throw new UserError('give either a batch file or --batch (with --namespace), not both', 2);
    }
    if (file === undefined && opts.batch === undefined) {
      throw new UserError('name the batch: distribute pull BATCH.yaml, or --batch B [--namespace N]', 2);
    }
    const rules = await rulesFrom(opts);
    const head = connect(opts);
    const target = file !== undefined ? await readBatchIdentity(file) : await resolveBatch(head, checkName('--batch', opts.batch!), opts.namespace);
    const out = await pullBatch(head, target, {
      saveDir: opts.saveDir,
      rules,
      dry: opts.dry,
      force: opts.force,
      progress: (total) => {
        const bar = new PullProgress(process.stderr, total);
        return { onBytes: (n) => bar.addBytes(n), onMember: () => bar.addFile(), end: () => bar.end() };
      },
    });
    for (const s of out.skipped) process.stderr.write(`warning: not extracted: ${s}\n`);
    if (opts.json) {
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return;
    }
    if (opts.dry) process.stdout.write(dryListing(out));
    process.stdout.write(pullReport(out));
  });
