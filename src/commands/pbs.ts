import { Command } from 'commander';
import { collect, positiveInteger } from '../transpile/cli-options.js';

export const command = new Command('pbs')
  .description('Transpile a batch to a folder of PBS job arrays (#PBS -J, one per resource shape)')
  .argument('<batch.yaml>', 'the batch file')
  .requiredOption('--output <dir>', 'the folder to write (new, or empty)')
  .option('--strategy <name>', 'pbs: an array task per job; pbs+batching: each task runs several jobs one after another', 'pbs')
  .option('--jobs <n>', 'pbs+batching: how many array tasks (per array)', positiveInteger)
  .option('--job-resources <spec>', 'PBS options as key=value,... or JSON (queue=workq,walltime=2h,ncpus=4,mem=8G); batch_size=K for pbs+batching; repeatable', collect, [])
  .option('--extra-directive <line>', 'a raw directive for every script (-m abe or "#PBS -m abe"); repeatable', collect, [])
  .option('--setup <line>', 'a shell line run before the jobs of every task (module load python); repeatable', collect, [])
  .option('--cluster-username <name>', 'upload.sh: your user name on the cluster')
  .option('--cluster-address <host>', 'upload.sh: the cluster\'s login node')
  .option('--cluster-upload-destination <path>', 'upload.sh: the folder on the cluster to copy into')
  .option('--force', 'replace the output folder if it exists')
  .option('--json', 'print a summary as JSON on stdout')
  .exitOverride()
  .action(async (file: string, opts) => {
    const { pbsAction } = await import('../transpile/pbs/action.js');
    process.exitCode = await pbsAction(file, opts);
  });
