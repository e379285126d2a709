// A batch as a folder that runs on PBS (Pro / OpenPBS): the same job folders and task
// runtime as Slurm's, one `#PBS -J` array per resource shape, submit.sh and upload.sh.
import type { BatchSpec } from '../../../shared/spec/types.js';
import { Bundle } from '../bundle.js';
import { planInputs } from '../inputs.js';
import { parseJobResources } from '../job-resources.js';
import { addBatchFolder } from '../layout.js';
import { checkJobNames, planShapes, type Shape } from '../plan.js';
import { checkCluster, renderUpload, type ClusterTarget } from '../upload.js';
import { groupingFor, renderIndex } from '../tasks.js';
import { checkPbsFlags, pbsShapeOf, type PbsOptions } from './options.js';
import { PBS_BUILD_SCRIPT, PBS_DIR, PBS_FINALIZE_SCRIPT, renderPbsFinalizeScript, pbsArrayIndexPath, pbsArrayScriptPath, renderPbsArrayScript, renderPbsBuildScript, renderPbsSubmit } from './render.js';

export interface PbsTranspileOptions {
  /** `pbs` or `pbs+batching` */
  strategy: string;
  jobs?: number;
  jobResources: string[];
  extraDirectives: string[];
  setup: string[];
  cluster: Partial<ClusterTarget>;
}

export interface PbsTranspiled {
  bundle: Bundle;
  shapes: Shape<PbsOptions>[];
  build: boolean;
}

export function transpilePbs(batch: BatchSpec, opts: PbsTranspileOptions): PbsTranspiled {
  checkJobNames(batch);
  checkCluster(opts.cluster);
  const resources = checkPbsFlags(parseJobResources(opts.jobResources));
  const grouping = groupingFor('pbs', opts.strategy, opts.jobs, resources.batch_size);
  const shapeOf = pbsShapeOf(batch.meta.batch_name, { resources, extraDirectives: opts.extraDirectives, setup: opts.setup });
  const shapes = planShapes(batch, shapeOf, grouping);
  const finalize = batch.finalize ? shapeOf(batch.finalize) : undefined;
  const bundle = new Bundle();
  const { build } = addBatchFolder(bundle, batch, planInputs(batch), shapes, finalize);
  for (const shape of shapes) {
    bundle.text(pbsArrayScriptPath(shape), renderPbsArrayScript(batch, shape), true);
    bundle.text(pbsArrayIndexPath(shape), renderIndex(shape.tasks));
  }
  if (build) bundle.text(PBS_BUILD_SCRIPT, renderPbsBuildScript(batch, shapes[0]!, resources.walltime), true);
  if (finalize) bundle.text(PBS_FINALIZE_SCRIPT, renderPbsFinalizeScript(batch, finalize), true);
  bundle.dir(PBS_DIR);
  bundle.text('submit.sh', renderPbsSubmit(batch, shapes, build), true);
  bundle.text('upload.sh', renderUpload(batch, opts.cluster), true);
  return { bundle, shapes, build };
}
