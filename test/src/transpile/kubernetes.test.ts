// The manifest has no API server to meet here, so its structure is checked against the
// parts of the batch/v1 Job and v1 ConfigMap schemas it relies on.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { UserError } from '../../../shared/errors.js';
import { DEFAULT_RESOURCES, type BatchSpec } from '../../../shared/spec/types.js';
import { CONFIGMAP_LIMIT, dnsLabel, transpileKubernetes, type KubernetesTranspileOptions } from '../../../src/transpile/kubernetes/transpile.js';
import { meta, shellBatch, write } from './batches.js';
import { tempDir } from '../../helpers/cli.js';

const tmp = tempDir('distribute-k8s-');
after(() => tmp.cleanup());

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const Quantity = z.string().regex(/^\d+(\.\d+)?(Ki|Mi|Gi|Ti|m)?$/);
const Mount = z.object({ name: z.string(), mountPath: z.string().startsWith('/'), readOnly: z.boolean().optional() }).strict();
const Container = z
  .object({
    name: z.string().regex(DNS_LABEL),
    image: z.string().min(1),
    command: z.array(z.string()).min(1),
    resources: z.object({ requests: z.record(z.string(), Quantity), limits: z.record(z.string(), Quantity) }).strict(),
    volumeMounts: z.array(Mount),
  })
  .strict();
const Labels = z.record(z.string().regex(/^([a-z0-9.-]+\/)?[A-Za-z0-9._-]{1,63}$/), z.string().regex(/^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/));
const Metadata = z.object({ name: z.string().regex(DNS_LABEL).max(63), namespace: z.string().regex(DNS_LABEL).optional(), labels: Labels }).strict();
const ConfigMap = z
  .object({
    apiVersion: z.literal('v1'),
    kind: z.literal('ConfigMap'),
    metadata: Metadata,
    data: z.record(z.string().regex(/^[-._a-zA-Z0-9]+$/), z.string()),
    binaryData: z.record(z.string().regex(/^[-._a-zA-Z0-9]+$/), z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/)),
  })
  .strict();
const Volume = z.union([
  z.object({ name: z.string(), configMap: z.object({ name: z.string() }).strict() }).strict(),
  z.object({ name: z.string(), emptyDir: z.object({}).strict() }).strict(),
  z.object({ name: z.string(), persistentVolumeClaim: z.object({ claimName: z.string() }).strict() }).strict(),
]);
const Job = z
  .object({
    apiVersion: z.literal('batch/v1'),
    kind: z.literal('Job'),
    metadata: Metadata,
    spec: z
      .object({
        completionMode: z.literal('Indexed'),
        completions: z.number().int().min(1),
        parallelism: z.number().int().min(1),
        backoffLimitPerIndex: z.number().int().min(0),
        template: z
          .object({
            metadata: z.object({ labels: Labels }).strict(),
            spec: z
              .object({
                restartPolicy: z.literal('Never'),
                initContainers: z.array(Container).optional(),
                containers: z.array(Container).length(1),
                volumes: z.array(Volume),
              })
              .strict(),
          })
          .strict(),
      })
      .strict(),
  })
  .strict();
const Manifest = z.tuple([ConfigMap]).rest(Job);

function opts(extra: Partial<KubernetesTranspileOptions> = {}): KubernetesTranspileOptions {
  return { strategy: 'kubernetes', jobResources: [], ...extra };
}

async function manifest(batch: BatchSpec, o: Partial<KubernetesTranspileOptions> = {}) {
  const t = await transpileKubernetes(batch, opts(o));
  const text = t.bundle.texts().get('manifest.yaml')!;
  const docs = parseAllDocuments(text).map((d) => d.toJS());
  assert.deepEqual(docs, t.objects, 'the YAML says what the objects say');
  return Manifest.parse(docs);
}

describe('kubernetes manifest', () => {
  it('is a ConfigMap and an Indexed Job per shape, with requests and limits from resources', async () => {
    const b = shellBatch(`${tmp.dir}/a`, 5, { resources: { cpus: 2, memory: 3 * 1024 ** 3, gpus: 1 } });
    b.jobs[4]!.resources = { ...DEFAULT_RESOURCES };
    const [cm, ...jobs] = await manifest(b, { volumeClaim: 'lab-results', kubeNamespace: 'physics' });
    assert.equal(jobs.length, 2);
    const [big, small] = jobs as [z.infer<typeof Job>, z.infer<typeof Job>];
    assert.equal(big.spec.completions, 4);
    assert.equal(big.spec.parallelism, 4);
    const c = big.spec.template.spec.containers[0]!;
    assert.deepEqual(c.resources, { requests: { cpu: '2', memory: '3Gi', 'nvidia.com/gpu': '1' }, limits: { cpu: '2', memory: '3Gi', 'nvidia.com/gpu': '1' } });
    assert.deepEqual(small.spec.template.spec.containers[0]!.resources, { requests: { cpu: '1' }, limits: { cpu: '1' } });
    assert.equal(c.image, 'debian:bookworm-slim');
    assert.match(c.command.at(-1)!, /distribute_run_task \/distribute\/files\/index-\S+\.tsv "\$JOB_COMPLETION_INDEX"$/);
    assert.ok(big.spec.template.spec.volumes.some((v) => 'persistentVolumeClaim' in v && v.persistentVolumeClaim.claimName === 'lab-results'));
    assert.equal(big.metadata.namespace, 'physics');
    assert.equal(Buffer.from(Object.values(cm.binaryData)[0]!, 'base64').toString(), 'hello from the shared input\n');
    assert.equal(cm.data['index-c1.tsv'], '0\tjob-04\n');
    assert.ok(cm.data['job-job-00.sh']!.includes('cp -f -- "$store"/'));
  });

  it('runs the initialize step in an init container and python jobs in the --image', async () => {
    const d = `${tmp.dir}/py`;
    const runPy = write(d, 'run.py', 'print(1)\n');
    const b: BatchSpec = {
      meta: meta('py'),
      kind: 'python',
      initialize: { kind: 'python', buildFile: { path: write(d, 'build.py', 'pass\n'), alias: 'build.py' }, requiredFiles: [] },
      jobs: [{ name: 'a', file: { path: runPy, alias: 'run.py' }, command: null, requiredFiles: [], resources: { ...DEFAULT_RESOURCES }, nodes: null, retries: 0, slurm: {} }],
      slurm: {},
      source: { file: `${d}/b.yaml`, dir: d },
    };
    const [, job] = await manifest(b, { image: 'ghcr.io/lab/solver:1.2' });
    const spec = job!.spec.template.spec;
    assert.equal(spec.initContainers?.length, 1);
    assert.match(spec.initContainers![0]!.command.at(-1)!, /distribute_run_build \/distribute\/files\/build-step.sh$/);
    assert.equal(spec.containers[0]!.image, 'ghcr.io/lab/solver:1.2');
  });

  it('kubernetes+batching --jobs 2 makes 2 completions; parallelism from --job-resources', async () => {
    const [, job] = await manifest(shellBatch(`${tmp.dir}/b`, 7), { strategy: 'kubernetes+batching', jobs: 2, jobResources: ['parallelism=1'] });
    assert.equal(job!.spec.completions, 2);
    assert.equal(job!.spec.parallelism, 1);
  });

  it('refuses apptainer batches, files over a ConfigMap\'s size, and bad names', async () => {
    const d = `${tmp.dir}/c`;
    const app: BatchSpec = { ...shellBatch(d, 1), kind: 'apptainer', initialize: { kind: 'apptainer', sif: { path: write(d, 'x.sif', 'x'), alias: 'x.sif' }, requiredFiles: [], requiredMounts: [] } };
    await assert.rejects(transpileKubernetes(app, opts()), (e: unknown) => e instanceof UserError && /apptainer batches cannot run on Kubernetes/.test(e.message));
    const big = shellBatch(d, 1);
    big.jobs[0]!.requiredFiles = [{ path: write(d, 'big.bin', 'x'.repeat(CONFIGMAP_LIMIT)), alias: 'big.bin' }];
    await assert.rejects(transpileKubernetes(big, opts()), (e: unknown) => e instanceof UserError && /holds at most/.test(e.message));
    await assert.rejects(transpileKubernetes(shellBatch(d, 1), opts({ volumeClaim: 'Bad_Name' })), /--volume-claim/);
    await assert.rejects(transpileKubernetes(shellBatch(d, 1), opts({ jobResources: ['partition=x'] })), /unknown key "partition"; allowed keys: batch_size, cpus, gpus, memory, parallelism, time/);
  });

  it('makes DNS labels of any batch name, cut with a hash when too long', () => {
    assert.equal(dnsLabel('Cylinder_Study-re_sweep'), 'cylinder-study-re-sweep');
    const long = dnsLabel('x'.repeat(100));
    assert.ok(long.length <= 52 && DNS_LABEL.test(long));
    assert.notEqual(dnsLabel('x'.repeat(100)), dnsLabel(`${'x'.repeat(99)}y`));
  });
});
