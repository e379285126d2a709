// Scheduling with the real daemons: GPUs handed out by index (a node configured with 4 GPUs,
// none real), an admin's drain, and a batch whose build fails on every capable node. Jobs
// that must stay running wait for a release file, and give up by themselves after 60 s so
// nothing outlives a failed test.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TestCluster } from '../helpers/cluster.js';
import { waitFor } from '../compute/support.js';

interface StatusJson {
  batch_name: string;
  state: string;
  counts: Record<string, number>;
  jobs: { name: string; state: string; node: string | null; error?: string | null; waiting?: string | null }[];
  build_failures?: { node: string; log: string; at: number }[];
}

interface NodeJson {
  name: string;
  state: string;
  running: unknown[];
}

/** A command that waits for `flag` to exist (at most 60 s). */
function waitForFlag(flag: string): string {
  return `i=0; while [ ! -e ${flag} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done`;
}

describe('cluster: GPUs, drain and failed builds', () => {
  let c: TestCluster;
  let dir: string;
  const batchFile = (name: string, body: Record<string, unknown>) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, stringify(body));
    return file;
  };
  const status = async (batch: string) => (await c.json<StatusJson[]>(['status', batch]))[0]!;

  before(async () => {
    c = await TestCluster.start({
      nodes: [
        { name: 'gpu', capabilities: ['shell', 'cuda'], cpus: 4, gpus: 4 },
        { name: 'cpu', capabilities: ['shell'], cpus: 2 },
      ],
    });
    dir = c.root;
    await c.user('root', true);
  });
  after(async () => c?.stop());

  it('runs two gpus:2 jobs at once on a 4-GPU node with disjoint CUDA_VISIBLE_DEVICES, and the third waits', async () => {
    const flag = join(dir, 'release-gpus');
    const seen = (job: string) => join(dir, `${job}.gpus`);
    const file = batchFile('gpus', {
      meta: { batch_name: 'gpus', namespace: 'lab', capabilities: ['cuda'] },
      shell: {
        jobs: ['g1', 'g2', 'g3'].map((name) => ({
          name,
          command: `echo "$CUDA_VISIBLE_DEVICES" > ${seen(name)}; ${waitForFlag(flag)}`,
          resources: { gpus: 2 },
        })),
      },
    });
    const add = await c.cli(['add', file]);
    assert.equal(add.code, 0, add.stderr);
    await waitFor(() => existsSync(seen('g1')) && existsSync(seen('g2')), 'the first two GPU jobs to start', 30_000);
    const devices = (job: string) => readFileSync(seen(job), 'utf8').trim().split(',').map(Number);
    const [a, b] = [devices('g1'), devices('g2')];
    assert.equal(a.length, 2);
    assert.equal(b.length, 2);
    assert.deepEqual([...a, ...b].sort(), [0, 1, 2, 3], `g1 got ${a}, g2 got ${b}`);

    const before = await status('gpus');
    const g3 = before.jobs.find((j) => j.name === 'g3')!;
    assert.equal(g3.state, 'queued');
    assert.match(String(g3.waiting), /needs 2 GPUs, node gpu has 0 free/);
    assert.match(String(g3.waiting), /node cpu lacks capability cuda/);
    assert.equal(existsSync(seen('g3')), false);
    assert.equal(c.node('gpu').count('assigned', (l) => l.batch === 'gpus'), 2);

    writeFileSync(flag, '');
    await c.head.events('result_archived', 3, (l) => String(l.path).includes('/gpus/'), 30_000);
    const g3Devices = devices('g3');
    assert.equal(g3Devices.length, 2);
    assert.ok(g3Devices.every((d) => d >= 0 && d < 4), `g3 got ${g3Devices}`);
    assert.deepEqual((await status('gpus')).counts.done, 3);
  });

  it('drain: an admin stops new placements on a node while its running job finishes; undrain opens it again', async () => {
    const flag = join(dir, 'release-drain');
    const running = batchFile('long', {
      meta: { batch_name: 'long', namespace: 'lab', capabilities: ['shell'], nodes: ['cpu'] },
      shell: { jobs: [{ name: 'l1', command: waitForFlag(flag) }] },
    });
    assert.equal((await c.cli(['add', running])).code, 0);
    await c.node('cpu').event('started', (l) => l.batch === 'long');

    const refused = await c.cli(['drain', 'cpu'], { user: 'alice' });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /only an admin may drain a node/);
    const unknown = await c.cli(['drain', 'nowhere'], { user: 'root' });
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no node nowhere/);
    const drained = await c.cli(['drain', 'cpu'], { user: 'root' });
    assert.equal(drained.code, 0, drained.stderr);
    assert.match(drained.stdout, /node cpu is draining/);
    const nodes = await c.json<NodeJson[]>(['nodes']);
    assert.equal(nodes.find((n) => n.name === 'cpu')!.state, 'draining');

    const later = batchFile('later', {
      meta: { batch_name: 'later', namespace: 'lab', capabilities: ['shell'], nodes: ['cpu'] },
      shell: { jobs: [{ name: 'a1', command: 'true' }] },
    });
    assert.equal((await c.cli(['add', later])).code, 0);
    writeFileSync(flag, '');
    await c.head.event('result_archived', (l) => String(l.path).includes('/long/'), 30_000);
    assert.equal((await status('long')).state, 'done');
    const waiting = await status('later');
    assert.equal(waiting.jobs[0]!.state, 'queued');
    assert.match(String(waiting.jobs[0]!.waiting), /node cpu is draining/);
    assert.equal(c.node('cpu').count('assigned', (l) => l.batch === 'later'), 0);

    const undrained = await c.cli(['undrain', 'cpu'], { user: 'root' });
    assert.equal(undrained.code, 0, undrained.stderr);
    assert.match(undrained.stdout, /node cpu takes jobs again/);
    await c.head.event('result_archived', (l) => String(l.path).includes('/later/'), 30_000);
    assert.equal((await status('later')).state, 'done');
  });

  it('fails a batch whose build fails on every capable node, with the build logs in status', async () => {
    const file = batchFile('broken', {
      meta: { batch_name: 'broken', namespace: 'lab', capabilities: ['shell'] },
      shell: {
        initialize: { command: 'echo "compiling"; echo "libfoo.so: cannot open shared object file" >&2; exit 3' },
        jobs: [{ name: 'b1', command: 'true' }, { name: 'b2', command: 'true' }],
      },
    });
    assert.equal((await c.cli(['add', file])).code, 0);
    await c.head.events('build_failed', 2, (l) => l.node === 'cpu' || l.node === 'gpu');
    await waitFor(async () => (await status('broken')).state === 'failed', 'the batch to fail', 15_000);

    const s = await status('broken');
    for (const j of s.jobs) {
      assert.equal(j.state, 'failed');
      assert.match(String(j.error), /its build failed on every capable node \(cpu, gpu\)/);
    }
    assert.deepEqual(s.build_failures!.map((f) => f.node), ['cpu', 'gpu']);
    for (const f of s.build_failures!) {
      assert.match(f.log, /exit code 3/);
      assert.match(f.log, /libfoo\.so: cannot open shared object file/);
    }
    const table = await c.cli(['status', 'broken']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /build failed on node cpu at /);
    assert.match(table.stdout, /^ {2}libfoo\.so: cannot open shared object file$/m);
  });
});
