// `distribute kubernetes`: load, transpile, write the manifest; with --apply hand it to kubectl.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { loadBatch } from '../../../shared/spec/load.js';
import { UserError } from '../../../shared/errors.js';
import { writeBundle } from '../bundle.js';
import { batchNotes, count, describeShapes, summary } from '../report.js';
import { MANIFEST, kubeJobName, transpileKubernetes, type KubernetesTranspileOptions } from './transpile.js';

export interface KubernetesCliOptions extends KubernetesTranspileOptions {
  output: string;
  apply?: boolean;
  force?: boolean;
  json?: boolean;
}

function kubectlApply(manifest: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('kubectl', ['apply', '-f', manifest], { stdio: 'inherit' });
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new UserError(`kubectl is not on PATH; the manifest is in ${manifest}`, 1) : err),
    );
    child.on('close', (code) => resolve(code ?? 1));
  });
}

export async function kubernetesAction(file: string, opts: KubernetesCliOptions, out = process.stdout, err = process.stderr): Promise<number> {
  const batch = await loadBatch(file);
  const t = await transpileKubernetes(batch, {
    strategy: opts.strategy,
    jobs: opts.jobs,
    jobResources: opts.jobResources,
    image: opts.image,
    volumeClaim: opts.volumeClaim,
    kubeNamespace: opts.kubeNamespace,
    gpuResource: opts.gpuResource,
  });
  const dir = await writeBundle(t.bundle, opts.output, opts.force);
  const manifest = join(dir, MANIFEST);
  const script = (s: { name: string }) => `Job ${kubeJobName(batch, s)}`;
  const info = summary(dir, batch.meta.batch_name, t.shapes, script);
  if (opts.json) out.write(JSON.stringify({ ...info, manifest }) + '\n');
  else {
    out.write(`${batch.meta.batch_name}: ${count(info.jobs, 'job')} in ${count(t.shapes.length, 'Indexed Job')} in ${manifest}\n${describeShapes(t.shapes, script).join('\n')}\n`);
  }
  const notes = batchNotes(batch);
  if (!opts.volumeClaim) notes.push("no --volume-claim: results stay in each pod's emptyDir and vanish with it");
  for (const note of notes) err.write(`note: ${note}\n`);
  if (!opts.apply) return 0;
  const code = await kubectlApply(manifest);
  if (code !== 0) throw new UserError(`kubectl apply -f ${manifest} failed with status ${code}`, 1);
  return 0;
}
