import { Command } from 'commander';
import { collect, positiveInteger } from '../transpile/cli-options.js';

export const command = new Command('kubernetes')
  .description('Transpile a batch to a Kubernetes manifest: a ConfigMap with its files and an Indexed Job per resource shape')
  .argument('<batch.yaml>', 'the batch file (shell or python)')
  .requiredOption('--output <dir>', 'the folder to write manifest.yaml into (new, or empty)')
  .option('--strategy <name>', 'kubernetes: a pod per job; kubernetes+batching: each pod runs several jobs one after another', 'kubernetes')
  .option('--jobs <n>', 'kubernetes+batching: how many pods (completions) per Job', positiveInteger)
  .option('--job-resources <spec>', 'key=value,... or JSON: cpus, memory, gpus, time, parallelism, batch_size; repeatable', collect, [])
  .option('--image <ref>', 'the container image (default python:3.12-slim for python, debian:bookworm-slim for shell); it needs bash')
  .option('--volume-claim <name>', 'a PersistentVolumeClaim the results are written to')
  .option('--kube-namespace <name>', 'the Kubernetes namespace of the objects (default: kubectl\'s current one)')
  .option('--gpu-resource <name>', 'the extended resource a GPU is requested as', 'nvidia.com/gpu')
  .option('--apply', 'hand the manifest to kubectl apply')
  .option('--force', 'replace the output folder if it exists')
  .option('--json', 'print a summary as JSON on stdout')
  .exitOverride()
  .action(async (file: string, opts) => {
    const { kubernetesAction } = await import('../transpile/kubernetes/action.js');
    process.exitCode = await kubernetesAction(file, opts);
  });
