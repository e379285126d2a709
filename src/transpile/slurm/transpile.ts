// A batch as a folder that runs on Slurm: job folders, one job array per resource shape
// with its index, the initialize step as a job the arrays depend on, the finalize step as a
// job that depends on them all, submit.sh, upload.sh.
import { UserError } from '../../../shared/errors.js';
import type { BatchSpec } from '../../../shared/spec/types.js';
import { Bundle } from '../bundle.js';
import { planInputs } from '../inputs.js';
import { checkOptions, parseJobResources } from '../job-resources.js';
import { addBatchFolder } from '../layout.js';
import { checkJobNames, planShapes, type Shape } from '../plan.js';
import { groupingFor, renderIndex } from '../tasks.js';
import type { RawValue } from '../values.js';
import { SLURM_KEYS, checkSlurmFlags, slurmShapeOf, type SlurmOptions } from './options.js';
import { BUILD_SCRIPT, FINALIZE_SCRIPT, SLURM_DIR, renderFinalizeScript, arrayIndexPath, arrayScriptPath, renderArrayScript, renderBuildScript, renderSubmit } from './render.js';
import { checkCluster, renderUpload, type ClusterTarget } from '../upload.js';

export interface SlurmTranspileOptions {
  /** `slurm` (a task per job) or `slurm+batching` */
  strategy: string;
  /** slurm+batching: how many array tasks */
  jobs?: number;
  /** `--job-resources` arguments, unparsed (`key=value,...` or JSON) */
  jobResources: string[];
  extraDirectives: string[];
  setup: string[];
  arrayLimit?: number;
  cluster: Partial<ClusterTarget>;
}

export interface SlurmTranspiled {
  bundle: Bundle;
  shapes: Shape<SlurmOptions>[];
  /** whether the batch has an initialize step, run as its own job first */
  build: boolean;
}

export function transpileSlurm(batch: BatchSpec, opts: SlurmTranspileOptions): SlurmTranspiled {
  checkJobNames(batch);
  checkCluster(opts.cluster);
  const raw: Record<string, RawValue> = parseJobResources(opts.jobResources);
  const resources = checkSlurmFlags(raw);
  if (opts.arrayLimit !== undefined && (!Number.isSafeInteger(opts.arrayLimit) || opts.arrayLimit < 1)) {
    throw new UserError(`--array-limit: "${opts.arrayLimit}" must be a whole number of at least 1`);
  }
  const grouping = groupingFor('slurm', opts.strategy, opts.jobs, resources.batch_size);
  const shapeOf = slurmShapeOf(batch.meta.batch_name, {
    resources,
    extraDirectives: opts.extraDirectives,
    setup: opts.setup,
    arrayLimit: opts.arrayLimit ?? null,
  });
  const shapes = planShapes(batch, shapeOf, grouping);
  const inputs = planInputs(batch);
  const finalize = batch.finalize ? shapeOf(batch.finalize) : undefined;

  const bundle = new Bundle();
  const { build } = addBatchFolder(bundle, batch, inputs, shapes, finalize);
  for (const shape of shapes) {
    bundle.text(arrayScriptPath(shape), renderArrayScript(batch, shape), true);
    bundle.text(arrayIndexPath(shape), renderIndex(shape.tasks));
  }
  if (build) {
    const batchTime = batch.slurm.time === undefined ? {} : checkOptions({ time: batch.slurm.time }, { time: SLURM_KEYS.time! }, `batch ${batch.meta.batch_name}: slurm`);
    bundle.text(BUILD_SCRIPT, renderBuildScript(batch, shapes[0]!, resources.time ?? batchTime.time), true);
  }
  if (finalize) bundle.text(FINALIZE_SCRIPT, renderFinalizeScript(batch, finalize), true);
  bundle.dir(SLURM_DIR);
  bundle.text('submit.sh', renderSubmit(batch, shapes, build), true);
  bundle.text('upload.sh', renderUpload(batch, opts.cluster), true);
  return { bundle, shapes, build };
}
