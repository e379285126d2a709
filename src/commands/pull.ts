import { Command } from 'commander';
import { UserError } from '../../shared/errors.js';
import { withHeadOptions } from '../head-options.js';
import { withRuleOptions } from '../rule-options.js';

const DEFAULT_BATCH_FILE = 'distribute-jobs.yaml';

/**
 * `pull [FILE] include --include RE...` / `... exclude --exclude RE...`, the original's form:
 * the word may stand in the file's place (the file then defaults), and each form takes only
 * its own flag.
 */
function originalForm(given: string | undefined, form: string | undefined, opts: PullFlags): { file: string | undefined; form: 'include' | 'exclude' | undefined } {
  const isForm = (w: string | undefined): w is 'include' | 'exclude' => w === 'include' || w === 'exclude';
  let file = given;
  let word = form;
  if (word === undefined && isForm(given)) {
    word = given;
    file = undefined;
  }
  if (word === undefined) return { file, form: undefined };
  if (!isForm(word)) throw new UserError(`"${word}" is not include or exclude`, 2);
  const other = word === 'include' ? opts.exclude : opts.include;
  if (other !== undefined) throw new UserError(`the ${word} form takes --${word} patterns only`, 2);
  return { file, form: word };
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
  withRuleOptions(
    new Command('pull')
      .description('Download the results of a batch into SAVE_DIR/<batch_name>/<job>/, filtered by query rules; files already there are skipped')
      .argument('[batch.yaml]', 'the batch file you added (names the namespace and batch; default distribute-jobs.yaml); or --batch')
      .argument('[include|exclude]', 'the original distribute\'s form: its --include/--exclude regexes then see <namespace>/<batch>/<job>/<file>')
      .option('--batch <name>', 'the batch name (instead of a batch file)')
      .option('--namespace <name>', 'with --batch: its namespace, when the name alone is ambiguous')
      .option('-s, --save-dir <dir>', 'where the results go', '.'),
  )
    .option('--skip-folders', 'accepted for the original distribute\'s scripts; folders are only made for files pulled')
    .option('-d, --dry', 'list what would be downloaded, with sizes and the total, and download nothing')
    .option('--force', 'download every selected file again, even those already here')
    .option('--json', 'print the outcome as JSON (failed: the files not in place, with their job and why)')
    .addHelpText(
      'after',
      `
Every file is checked against the SHA-256 the head recorded when it stored the result; one that
does not match is not placed. A job whose archive on the head is damaged or truncated fails
alone: its files are named, every other job's files still arrive. Exit 1 when any file did not
arrive intact. Later, \`distribute verify\` checks the files on disk again.`,
    ),
)
  .exitOverride()
  .action(async (given: string | undefined, form: string | undefined, opts: PullFlags) => {
    const original = originalForm(given, form, opts);
    let file = original.file;
    const { connect } = await import('../client.js');
    const { readBatchIdentity, pullBatch } = await import('../remote/pull.js');
    const { rulesFrom } = await import('../remote/rules.js');
    const { checkName, resolveBatch } = await import('../remote/target.js');
    const { PullProgress } = await import('../remote/pull-progress.js');
    const { pullReport, dryListing, failureLines } = await import('../remote/pull-report.js');

    if (file !== undefined && (opts.namespace !== undefined || opts.batch !== undefined)) {
      throw new UserError('give either a batch file or --batch (with --namespace), not both', 2);
    }
    if (file === undefined && opts.batch === undefined) file = DEFAULT_BATCH_FILE;
    const rules = { ...(await rulesFrom(opts)), ...(original.form ? { whole_path: true } : {}) };
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
    // a file that did not arrive intact fails the pull (exit 1), the others stay in place
    if (out.failed.length > 0 || out.damaged.length > 0) process.exitCode = 1;
    if (opts.json) {
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return;
    }
    if (opts.dry) process.stdout.write(dryListing(out));
    process.stdout.write(pullReport(out));
    process.stderr.write(failureLines(out));
  });
