// Fair share with the real daemons: one user queues 500 short jobs, another adds 5 after
// them; the second user's jobs start at the next free slots, long before the first user's
// queue drains — on a single one-slot node (where the two users then take turns, job by job)
// and on several nodes, with assign_ahead 0. Order is read from the head's own log (`batch_added`, then one
// `job_assigned` per placement, in the order the head made them).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestCluster, type LogLine } from '../helpers/cluster.js';

interface StatusJson {
  batch_name: string;
  state: string;
  counts: Record<string, number>;
  jobs: { name: string; state: string; waiting?: string | null }[];
}

function sweep(dir: string, namespace: string, name: string, jobs: number): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      'meta:',
      `  batch_name: ${name}`,
      `  namespace: ${namespace}`,
      'shell:',
      '  jobs:',
      `    - name: ${name}_{i}`,
      `      parameters: {i: [${Array.from({ length: jobs }, (_, i) => i + 1).join(', ')}]}`,
      '      command: "true"',
      '',
    ].join('\n'),
  );
  return file;
}

/** Owners of the jobs the head assigned after `batch` was added, in order. */
function assignedAfterAdding(lines: LogLine[], batch: string): string[] {
  const logged = lines.findIndex((l) => l.event === 'batch_added' && l.batch === batch);
  assert.ok(logged >= 0, `the head logged no batch_added for ${batch}`);
  // The batch is placeable once its transaction commits; `batch_added` is logged after the
  // commit is also on disk, and a pass run in between may already place its first job. So the
  // add happened no later than the first of the two lines.
  const firstPlaced = lines.findIndex((l) => l.event === 'job_assigned' && l.batch === batch);
  const added = firstPlaced >= 0 && firstPlaced < logged ? firstPlaced : logged + 1;
  return lines.slice(added).filter((l) => l.event === 'job_assigned').map((l) => String(l.owner));
}

/** How many jobs of `batch` the head had assigned when it assigned the last job of `late`. */
function assignedBeforeLast(lines: LogLine[], batch: string, late: string): number {
  const assigned = lines.filter((l) => l.event === 'job_assigned');
  const last = assigned.map((l) => l.batch).lastIndexOf(late);
  return assigned.slice(0, last).filter((l) => l.batch === batch).length;
}

describe('cluster: fair share between users', () => {
  let c: TestCluster;
  before(async () => {
    // strict turns: no jobs assigned ahead (cluster-ahead.test.ts covers what they change)
    c = await TestCluster.start({ nodes: [{ name: 'solo', cpus: 1 }], head: { assign_ahead: 0 } });
  });
  after(async () => c?.stop());

  async function addAs(user: string, file: string): Promise<void> {
    const r = await c.cli(['add', file], { user });
    assert.equal(r.code, 0, r.stderr);
  }

  async function finishedOf(batch: string, n: number): Promise<void> {
    await c.head.events('result_archived', n, (l) => String(l.path).includes(`/${batch}/`), 60_000);
  }

  it('on a single one-slot node, a user adding 5 jobs behind 500 of another gets every other slot', async () => {
    await addAs('alice', sweep(c.root, 'sweep', 'big1', 500));
    await c.head.event('job_assigned', (l) => l.batch === 'big1');
    await addAs('bob', sweep(c.root, 'post', 'small1', 5));
    await finishedOf('small1', 5);

    const owners = assignedAfterAdding(c.head.lines, 'small1');
    const lastBob = owners.lastIndexOf('bob');
    assert.deepEqual(owners.slice(0, lastBob + 1), ['bob', 'alice', 'bob', 'alice', 'bob', 'alice', 'bob', 'alice', 'bob']);
    const alice = assignedBeforeLast(c.head.lines, 'big1', 'small1');
    assert.ok(alice < 100, `bob's last job started after ${alice} of alice's 500`);
    const [big] = await c.json<StatusJson[]>(['status', 'big1'], { user: 'alice' });
    assert.ok(big!.counts.queued! > 0, `alice's queue had not drained: ${JSON.stringify(big!.counts)}`);
    const waiting = big!.jobs.find((j) => j.state === 'queued')!;
    assert.match(String(waiting.waiting), /node solo|about to be placed/);
    assert.equal((await c.cli(['kill', 'big1'], { user: 'alice' })).code, 0);
  });

  it('on several nodes, the later user takes the next free slot and finishes long before the first queue drains', async () => {
    await c.startNode({ name: 'pair', cpus: 2 });
    await addAs('alice', sweep(c.root, 'sweep', 'big2', 500));
    await c.head.events('job_assigned', 3, (l) => l.batch === 'big2');
    await addAs('bob', sweep(c.root, 'post', 'small2', 5));
    await finishedOf('small2', 5);

    const owners = assignedAfterAdding(c.head.lines, 'small2');
    assert.equal(owners[0], 'bob', `the first slot after bob's add went to ${owners[0]}`);
    // fair share keeps their running jobs within one of each other, so they take turns: while
    // bob's 5 start, alice starts about as many (here, they alternate), nowhere near her 500
    const window = owners.slice(0, owners.lastIndexOf('bob') + 1);
    assert.ok(window.filter((o) => o === 'alice').length <= 8, `alice's jobs started while bob's waited: ${window.join(' ')}`);
    const alice = assignedBeforeLast(c.head.lines, 'big2', 'small2');
    assert.ok(alice < 100, `bob's last job started after ${alice} of alice's 500`);
    const [big] = await c.json<StatusJson[]>(['status', 'big2'], { user: 'alice' });
    assert.ok(big!.counts.queued! > 0, `alice's queue had not drained: ${JSON.stringify(big!.counts)}`);
    const [small] = await c.json<StatusJson[]>(['status', 'small2'], { user: 'bob' });
    assert.equal(small!.state, 'done');
    assert.equal((await c.cli(['kill', 'big2'], { user: 'alice' })).code, 0);
  });
});
