// `distribute pbs`: load, transpile, write the folder.
import { loadBatch } from '../../../shared/spec/load.js';
import { writeBundle } from '../bundle.js';
import type { Shape } from '../plan.js';
import { batchNotes, count, describeFinalize, describeShapes, summary } from '../report.js';
import type { PbsOptions } from './options.js';
import { PBS_FINALIZE_SCRIPT, pbsArrayScriptPath } from './render.js';
import { transpilePbs } from './transpile.js';

export interface PbsCliOptions {
  output: string;
  strategy: string;
  jobs?: number;
  jobResources: string[];
  extraDirective: string[];
  setup: string[];
  clusterUsername?: string;
  clusterAddress?: string;
  clusterUploadDestination?: string;
  force?: boolean;
  json?: boolean;
}

export async function pbsAction(file: string, opts: PbsCliOptions, out = process.stdout, err = process.stderr): Promise<number> {
  const batch = await loadBatch(file);
  const t = transpilePbs(batch, {
    strategy: opts.strategy,
    jobs: opts.jobs,
    jobResources: opts.jobResources,
    extraDirectives: opts.extraDirective,
    setup: opts.setup,
    cluster: { username: opts.clusterUsername, address: opts.clusterAddress, destination: opts.clusterUploadDestination },
  });
  const dir = await writeBundle(t.bundle, opts.output, opts.force);
  const script = (s: Shape<unknown>) => pbsArrayScriptPath(s as Shape<PbsOptions>);
  const info = summary(dir, batch.meta.batch_name, t.shapes, script);
  if (opts.json) out.write(JSON.stringify(info) + '\n');
  else {
    const lines = [...describeShapes(t.shapes, script), ...(batch.finalize ? [describeFinalize(PBS_FINALIZE_SCRIPT)] : [])];
    out.write(`${batch.meta.batch_name}: ${count(info.jobs, 'job')} in ${count(t.shapes.length, 'PBS array')} in ${dir}\n${lines.join('\n')}\nnext: ${dir}/upload.sh, then ./submit.sh on the cluster\n`);
  }
  for (const note of batchNotes(batch)) err.write(`note: ${note}\n`);
  if (t.shapes.some((s) => s.after.some((d) => d.tasks !== null))) {
    err.write('note: PBS takes no single task as a dependency: a job waits for every task of an array it depends on, and a failed task there cancels it (docs/dependencies.md)\n');
  }
  return 0;
}
