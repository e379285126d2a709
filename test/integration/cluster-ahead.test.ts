// Assigning ahead with the real daemons (head.yaml `assign_ahead`, default 2): a busy node of one
// cpu holds two more jobs, assigned and waiting, and starts each the moment the one before it
// ends — never two at once. A waiting job can be killed without ever starting, a pause hands
// the waiting jobs back to the queue at once, and a user who adds jobs behind another's sweep
// waits for no more than the two already held by the node.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { TestCluster } from '../helpers/cluster.js';
import { until } from '../helpers/until.js';

const WAIT_MS = 30_000;

interface StatusJson {
  state: string;
  counts: Record<string, number>;
  jobs: { name: string; state: string; node: string | null; exit_code: number | null }[];
}

describe('cluster: assigning ahead', () => {
  let c: TestCluster;
  let sock: string;
  const status = async (batch: string) => (await c.json<StatusJson[]>(['status', batch]))[0]!;

  before(async () => {
    c = await TestCluster.start({ nodes: [] });
    sock = join(c.root, 'solo.sock');
    await c.startNode({ name: 'solo', cpus: 1, config: { control_socket: sock } });
  });
  after(async () => c?.stop());

  /**
   * A batch of `n` jobs that each hold a lock folder while they run (a second job running at the
   * same time fails with exit code 9) and wait for the gate file before they end.
   */
  function gated(name: string, n: number): { file: string; gate: string } {
    const gate = join(c.root, `${name}.go`);
    const lock = join(c.root, `${name}.lock`);
    const file = join(c.root, `${name}.yaml`);
    const command = `mkdir '${lock}' || exit 9; while [ ! -e '${gate}' ]; do sleep 0.02; done; rmdir '${lock}'`;
    writeFileSync(file, ['meta:', `  batch_name: ${name}`, '  namespace: ahead', 'shell:', '  jobs:', `    - name: ${name}_{i}`, `      parameters: {i: [${Array.from({ length: n }, (_, i) => i + 1).join(', ')}]}`, `      command: ${JSON.stringify(command)}`, ''].join('\n'));
    return { file, gate };
  }

  const oneRunningTwoWaiting = (s: StatusJson) => s.counts.running === 1 && s.counts.assigned === 2 && s.jobs.filter((j) => j.state === 'assigned').every((j) => j.node === 'solo');

  it('a node of one cpu runs one job and holds two; they run one after the other; a waiting job is killed without starting', async () => {
    const { file, gate } = gated('line', 5);
    assert.equal((await c.cli(['add', file])).code, 0);
    await until(async () => oneRunningTwoWaiting(await status('line')), 'one job running and two assigned ahead', WAIT_MS);
    const s = await status('line');
    assert.equal(s.counts.queued, 2, 'the rest stay queued on the head');

    const victim = s.jobs.find((j) => j.state === 'assigned')!.name;
    assert.equal((await c.cli(['kill', 'line', '--job', victim])).code, 0);
    await until(async () => (await status('line')).jobs.find((j) => j.name === victim)!.state === 'cancelled', 'the waiting job to be cancelled', WAIT_MS);

    writeFileSync(gate, '');
    await until(async () => (await status('line')).state !== 'running', 'the batch to end', 60_000);
    const end = await status('line');
    for (const j of end.jobs.filter((j) => j.name !== victim)) assert.deepEqual([j.name, j.state, j.exit_code], [j.name, 'done', 0], 'no job ran beside another');
    const started = c.node('solo').lines.filter((l) => l.event === 'started' && l.job === victim);
    assert.deepEqual(started, [], 'the killed job never started a process');
  });

  it('a later user is served at the next free place: behind at most the two jobs the node already holds', async () => {
    const { file: sweep, gate } = gated('sweep', 30);
    assert.equal((await c.cli(['add', sweep], { user: 'alice' })).code, 0);
    await until(async () => oneRunningTwoWaiting(await status('sweep')), 'alice holding the node', WAIT_MS);
    const late = join(c.root, 'late.yaml');
    writeFileSync(late, ['meta:', '  batch_name: late', '  namespace: bobs', 'shell:', '  jobs:', '    - name: late_{i}', '      parameters: {i: [1, 2]}', '      command: "true"', ''].join('\n'));
    assert.equal((await c.cli(['add', late], { user: 'bob' })).code, 0);
    writeFileSync(gate, '');
    await until(async () => (await c.json<StatusJson[]>(['status', 'late'], { user: 'bob' }))[0]!.state === 'done', 'bob\'s jobs to be done', WAIT_MS);
    // the order the node started jobs in, from its log: bob's first is the first placed after
    // his add, behind the job that ran and the two that waited then. The node starts jobs in
    // the order their folders are ready, and the first job of a batch new to the node also
    // sets up the batch's build folder, so one more of alice's may slip in before it.
    const starts = c.node('solo').lines.filter((l) => l.event === 'started' && (l.batch === 'sweep' || l.batch === 'late')).map((l) => String(l.batch));
    const firstBob = starts.indexOf('late');
    assert.ok(firstBob >= 0 && firstBob <= 4, `bob's first job was the ${firstBob + 1}th to start: ${starts.slice(0, 8).join(' ')}`);
    // and then the two take turns: bob's second is not kept behind alice's 27 others
    const lastBob = starts.lastIndexOf('late');
    assert.ok(lastBob <= 7, `bob's last job was the ${lastBob + 1}th to start: ${starts.slice(0, 8).join(' ')}`);
    assert.equal((await c.cli(['kill', 'sweep'], { user: 'alice' })).code, 0);
    await until(async () => (await status('sweep')).state !== 'running', 'the sweep to end', 60_000);
  });

  it('a pause hands the waiting jobs back to the queue; resume runs them', async () => {
    const { file, gate } = gated('desk', 3);
    assert.equal((await c.cli(['add', file])).code, 0);
    await until(async () => oneRunningTwoWaiting(await status('desk')), 'one job running and two assigned ahead', WAIT_MS);
    assert.equal((await runCli(['pause', '--socket', sock])).code, 0);
    await until(async () => {
      const s = await status('desk');
      return s.counts.queued === 2 && s.counts.paused === 1;
    }, 'the two waiting jobs to be queued again and the running one paused', WAIT_MS);
    assert.equal((await runCli(['resume', '--socket', sock])).code, 0);
    writeFileSync(gate, '');
    await until(async () => (await status('desk')).state !== 'running', 'the batch to end', 60_000);
    const end = await status('desk');
    assert.deepEqual(end.jobs.map((j) => [j.state, j.exit_code]), [['done', 0], ['done', 0], ['done', 0]]);
  });
});
