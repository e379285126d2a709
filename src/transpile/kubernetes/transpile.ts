// A batch as Kubernetes objects in one manifest: a ConfigMap with the task runtime, the job
// scripts, the indexes and the batch's files, and one Indexed Job per resource shape whose
// pods run task `JOB_COMPLETION_INDEX` of its index.
//
// Pods have no shared file system: the initialize step runs in an init container of every
// pod (in an emptyDir mounted as the build folder), and each job's files are copied from the
// ConfigMap into its folder when it starts. Results go to `/distribute/results/<namespace>/
// <batch>/<job>/` on the volume claim given with --volume-claim; without one they live in an
// emptyDir and vanish with the pod. A ConfigMap holds at most 1 MiB, so the batch's files
// must fit in that; apptainer batches are refused (a pod runs OCI images, not .sif files).
import { readFile, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { UserError } from '../../../shared/errors.js';
import type { BatchSpec } from '../../../shared/spec/types.js';
import { Bundle } from '../bundle.js';
import { planInputs, storeName } from '../inputs.js';
import { parseJobResources } from '../job-resources.js';
import { checkJobNames, planShapes, refuseOrder, type Shape } from '../plan.js';
import { buildStepScript, jobScript, taskRuntime } from '../runtime.js';
import { commentText, shellQuote } from '../shell.js';
import { count } from '../report.js';
import { groupingFor, renderIndex } from '../tasks.js';
import { checkKubernetesFlags, formatQuantity, kubernetesShapeOf, type KubernetesOptions } from './options.js';

export const MANIFEST = 'manifest.yaml';
/** What a ConfigMap may hold (etcd's limit is 1 MiB; leave room for the object itself). */
export const CONFIGMAP_LIMIT = 1000 * 1000;
export const DEFAULT_IMAGES = { python: 'python:3.12-slim', shell: 'debian:bookworm-slim' } as const;

const FILES = '/distribute/files';
const BUILD = '/distribute/build';
const RESULTS = '/distribute/results';

export interface KubernetesTranspileOptions {
  /** `kubernetes` or `kubernetes+batching` */
  strategy: string;
  jobs?: number;
  jobResources: string[];
  /** the container image; default by batch kind */
  image?: string;
  /** a PersistentVolumeClaim for the results */
  volumeClaim?: string;
  /** metadata.namespace of every object; default kubectl's current namespace */
  kubeNamespace?: string;
  /** resource name of a GPU; default nvidia.com/gpu */
  gpuResource?: string;
}

export interface KubernetesTranspiled {
  bundle: Bundle;
  shapes: Shape<KubernetesOptions>[];
  /** the objects of the manifest, in order */
  objects: Record<string, unknown>[];
}

/** A DNS-1123 label of at most `max` characters, with a hash when it had to be cut. */
export function dnsLabel(s: string, max = 52): string {
  const clean = s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').replace(/-{2,}/g, '-') || 'x';
  if (clean.length <= max) return clean;
  const hash = createHash('sha256').update(s).digest('hex').slice(0, 8);
  return `${clean.slice(0, max - 9).replace(/-+$/, '')}-${hash}`;
}

/** A label value: at most 63 characters of [A-Za-z0-9._-], alphanumeric at both ends. */
function labelValue(s: string): string {
  return s.slice(0, 63).replace(/[^A-Za-z0-9]+$/, '');
}

/** The name of the ConfigMap and the prefix of the Jobs of a batch. */
export function kubeBaseName(batch: BatchSpec): string {
  return dnsLabel(`${batch.meta.namespace}-${batch.meta.batch_name}`, 40);
}

export function kubeJobName(batch: BatchSpec, shape: { name: string }): string {
  return dnsLabel(`${kubeBaseName(batch)}-${shape.name}`);
}

export async function transpileKubernetes(batch: BatchSpec, opts: KubernetesTranspileOptions): Promise<KubernetesTranspiled> {
  checkJobNames(batch);
  refuseOrder(batch, 'a Kubernetes manifest', 'kubectl apply starts every Job of it at once and Kubernetes has no dependency between Jobs, and without --volume-claim a job\'s results vanish with its pod');
  if (batch.kind === 'apptainer') {
    throw new UserError(`batch ${batch.meta.batch_name}: apptainer batches cannot run on Kubernetes, which runs OCI images; build an OCI image with the program and transpile a shell batch with --image`);
  }
  if (opts.volumeClaim !== undefined && dnsLabel(opts.volumeClaim, 253) !== opts.volumeClaim) throw new UserError(`--volume-claim: "${opts.volumeClaim}" is not a Kubernetes object name`);
  if (opts.kubeNamespace !== undefined && dnsLabel(opts.kubeNamespace, 63) !== opts.kubeNamespace) throw new UserError(`--kube-namespace: "${opts.kubeNamespace}" is not a Kubernetes namespace name`);
  if (opts.image !== undefined && (opts.image === '' || /\s/.test(opts.image))) throw new UserError(`--image: "${opts.image}" is not an image reference`);
  const flags = checkKubernetesFlags(parseJobResources(opts.jobResources));
  const grouping = groupingFor('kubernetes', opts.strategy, opts.jobs, flags.batch_size);
  const shapes = planShapes(batch, kubernetesShapeOf(flags), grouping);
  const inputs = planInputs(batch);

  // every file goes through the ConfigMap: one key per distinct source
  const keys = new Map<string, string>();
  const allSources = [...[...inputs.jobs.values()].flat(), ...inputs.build].map((p) => p.source);
  for (const source of allSources) if (!keys.has(source)) keys.set(source, storeName(keys.size + 1, source));
  const fromStore = (source: string) => keys.get(source) ?? null;

  const data: Record<string, string> = { 'task.sh': taskRuntime(batch) };
  for (const shape of shapes) {
    for (const job of shape.jobs) data[`job-${job.name}.sh`] = jobScript(batch, job, inputs.jobs.get(job.name) ?? [], fromStore, shape.cpus, shape.timeLimit);
    data[`index-${shape.name}.tsv`] = renderIndex(shape.tasks);
  }
  const build = buildStepScript(batch, inputs.build, fromStore, shapes[0]?.cpus ?? 1);
  if (build) data['build-step.sh'] = build;

  let size = Object.values(data).reduce((n, s) => n + Buffer.byteLength(s), 0);
  const sources = [...keys.entries()];
  for (const [source] of sources) size += Math.ceil((await stat(source)).size / 3) * 4;
  if (size > CONFIGMAP_LIMIT) {
    throw new UserError(`batch ${batch.meta.batch_name}: its scripts and files take ${size} bytes in a ConfigMap, which holds at most ${CONFIGMAP_LIMIT}; put large inputs into the image (--image) or use batching to make fewer scripts`);
  }
  const binaryData: Record<string, string> = {};
  for (const [source, key] of sources) binaryData[key] = (await readFile(source)).toString('base64');

  const base = kubeBaseName(batch);
  const labels = { 'app.kubernetes.io/managed-by': 'distribute', 'distribute/namespace': labelValue(batch.meta.namespace), 'distribute/batch': labelValue(batch.meta.batch_name) };
  const metadata = (name: string) => ({ name, ...(opts.kubeNamespace ? { namespace: opts.kubeNamespace } : {}), labels });
  const configMapName = `${base}-files`;
  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: metadata(configMapName), data: sortKeys(data), binaryData: sortKeys(binaryData) };

  const image = opts.image ?? DEFAULT_IMAGES[batch.kind];
  const root = `${RESULTS}/${batch.meta.namespace}/${batch.meta.batch_name}`;
  // shell variables of task.sh, not environment: the jobs do not see them
  const folders = [`root=${shellQuote(root)}`, `store=${FILES}`, `job_scripts=${FILES}/job-`, `build_dir=${BUILD}`, `. ${FILES}/task.sh`].join('\n');
  const mounts = [
    { name: 'files', mountPath: FILES, readOnly: true },
    { name: 'build', mountPath: BUILD },
    { name: 'results', mountPath: RESULTS },
  ];
  const jobs = shapes.map((shape) => {
    const o = shape.options;
    const amounts: Record<string, string> = { cpu: String(o.cpus) };
    if (o.memory !== null) amounts.memory = formatQuantity(o.memory);
    if (o.gpus > 0) amounts[opts.gpuResource ?? 'nvidia.com/gpu'] = String(o.gpus);
    const resources = { requests: { ...amounts }, limits: { ...amounts } };
    const container = (name: string, script: string) => ({
      name,
      image,
      command: ['/bin/bash', '-c', `${folders}\n${script}`],
      resources,
      volumeMounts: mounts,
    });
    const runTask = `distribute_run_task ${FILES}/index-${shape.name}.tsv "$JOB_COMPLETION_INDEX"`;
    const runBuild = `distribute_run_build ${FILES}/build-step.sh`;
    return {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: metadata(kubeJobName(batch, shape)),
      spec: {
        completionMode: 'Indexed',
        completions: shape.tasks.length,
        parallelism: Math.min(o.parallelism ?? shape.tasks.length, shape.tasks.length),
        // a failed task is not run again, and does not stop the others
        backoffLimitPerIndex: 0,
        template: {
          metadata: { labels },
          spec: {
            restartPolicy: 'Never',
            ...(build ? { initContainers: [container('build', runBuild)] } : {}),
            containers: [container('tasks', runTask)],
            volumes: [
              { name: 'files', configMap: { name: configMapName } },
              { name: 'build', emptyDir: {} },
              opts.volumeClaim ? { name: 'results', persistentVolumeClaim: { claimName: opts.volumeClaim } } : { name: 'results', emptyDir: {} },
            ],
          },
        },
      },
    };
  });

  const objects: Record<string, unknown>[] = [configMap, ...jobs];
  const header = `# batch ${commentText(batch.meta.batch_name)} (namespace ${commentText(batch.meta.namespace)}): ${count(batch.jobs.length, 'job')} in ${count(shapes.length, 'Indexed Job')}\n# kubectl apply -f ${MANIFEST}\n`;
  const bundle = new Bundle();
  bundle.text(MANIFEST, header + objects.map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n'));
  return { bundle, shapes, objects };
}

function sortKeys(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));
}
