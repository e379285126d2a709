import { statSync } from 'node:fs';
import { Command } from 'commander';
import { withHeadOptions } from '../head-options.js';
import type { RuleFlags } from '../remote/rules.js';
import { withRuleOptions } from '../rule-options.js';

interface VerifyFlags extends RuleFlags {
  namespace?: string;
  saveDir: string;
  json?: boolean;
  head?: string;
  token?: string;
}

export const command = withHeadOptions(
  withRuleOptions(
    new Command('verify')
      .description("Check a batch's pulled files on disk against the SHA-256 the head recorded for each; exit 1 on any mismatch or missing file")
      .argument('<batch>', 'a batch name, or the batch file you added')
      .option('--namespace <name>', "the batch's namespace, when the name alone is ambiguous")
      .option('-s, --save-dir <dir>', 'where the results were pulled to (as for pull)', '.'),
  )
    .option('--json', 'print {namespace, batch, dest, counts: {ok, mismatch, missing, unchecked}, problems: [{job, file, verdict, reason}]}')
    .addHelpText(
      'after',
      `
Each file of SAVE_DIR/<batch>/<job>/ that the head holds is read and hashed, and compared with
the SHA-256 the head recorded when it stored the result. A file that differs is MISMATCH; one
not on disk is MISSING (give the rules you pulled with to check a partial pull); results archived
before checksums existed say "no checksum recorded". Exit 0 when nothing mismatched or is
missing, 1 otherwise, 2 for bad input.

  distribute verify sweep -s results          # after: distribute pull --batch sweep -s results
  distribute verify distribute-jobs.yaml --job '^re_1' --json`,
    ),
)
  .exitOverride()
  .action(async (given: string, opts: VerifyFlags) => {
    const { connect } = await import('../client.js');
    const { readBatchIdentity } = await import('../remote/pull.js');
    const { rulesFrom } = await import('../remote/rules.js');
    const { checkName, resolveBatch } = await import('../remote/target.js');
    const { verifyBatch, verifyReport } = await import('../remote/verify.js');
    const rules = await rulesFrom(opts);
    const head = connect(opts);
    // a YAML name or a regular file is the batch file; anything else (the pulled folder of the
    // same name included) names the batch
    const isFile = /\.ya?ml$/.test(given) || (statSync(given, { throwIfNoEntry: false })?.isFile() ?? false);
    const target = isFile ? await readBatchIdentity(given) : await resolveBatch(head, checkName('batch', given), opts.namespace);
    const out = await verifyBatch(head, target, opts.saveDir, rules);
    if (out.counts.mismatch > 0 || out.counts.missing > 0) process.exitCode = 1;
    process.stdout.write(opts.json ? JSON.stringify(out, null, 2) + '\n' : verifyReport(out));
  });
