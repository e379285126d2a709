import { Command } from 'commander';
import { collect, positiveInteger } from '../transpile/cli-options.js';

export const command = new Command('slurm')
  .description('Transpile a batch to a folder of Slurm job arrays (one per resource shape); optionally submit it here and wait')
  .argument('[batch.yaml]', 'the batch file', 'distribute-jobs.yaml')
  .requiredOption('--output <dir>', 'the folder to write (new, or empty)')
  .option('--strategy <name>', 'slurm: an array task per job; slurm+batching: each task runs several jobs one after another', 'slurm')
  .option('--jobs <n>', 'slurm+batching: how many array tasks (per array)', positiveInteger)
  .option('--job-resources <spec>', 'Slurm options as key=value,... or JSON (cpus_per_task=4,mem=8G,time=2h,partition=gpu); batch_size=K for slurm+batching; repeatable', collect, [])
  .option('--array-limit <n>', 'at most N tasks of an array at once (#SBATCH --array=0-M%N); default slurm.array_limit', positiveInteger)
  .option('--extra-directive <line>', 'a raw directive for every script (--exclusive or "#SBATCH --exclusive"); repeatable', collect, [])
  .option('--setup <line>', 'a shell line run before the jobs of every task (module load python); repeatable', collect, [])
  .option('--cluster-username <name>', 'upload.sh: your user name on the cluster')
  .option('--cluster-address <host>', 'upload.sh: the cluster\'s login node')
  .option('--cluster-upload-destination <path>', 'upload.sh: the folder on the cluster to copy into')
  .option('--submit', 'run submit.sh here (sbatch on PATH, the output folder on a file system the nodes share)')
  .option('--wait', 'with --submit: follow the jobs to their end with progress; exit 1 if a job failed or did not run')
  .option('--poll <duration>', 'with --wait: how often to ask squeue', '2s')
  .option('--force', 'replace the output folder if it exists')
  .option('--json', 'print a summary as JSON on stdout')
  .exitOverride()
  .action(async (file: string, opts) => {
    const { slurmAction } = await import('../transpile/slurm/action.js');
    process.exitCode = await slurmAction(file, opts);
  });
