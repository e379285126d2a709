import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { until } from '../helpers/until.js';
import { TestCluster } from '../helpers/cluster.js';
import { spawnCli } from '../helpers/cli.js';

const WAIT_MS = 20_000;

interface StatusJson {
  batch_name: string;
  state: string;
  jobs: { name: string; state: string; node: string | null; attempt: number; exit_code: number | null }[];
}

/** True while the process exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

describe('cluster: kill, retry, logs', () => {
  let c: TestCluster;
  let dir: string;
  const batchFile = (name: string, jobs: [string, string][]) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, ['meta:', `  batch_name: ${name}`, '  namespace: jobs', 'shell:', '  jobs:', ...jobs.flatMap(([n, cmd]) => [`    - name: ${n}`, `      command: ${JSON.stringify(cmd)}`]), ''].join('\n'));
    return file;
  };
  const status = async (batch: string) => (await c.json<StatusJson[]>(['status', batch]))[0]!;

  before(async () => {
    c = await TestCluster.start({ nodes: [{ name: 'ws1', capabilities: ['shell'], cpus: 2 }] });
    dir = c.root;
  });
  after(async () => c?.stop());

  it('kill leaves no process of the job behind on the node', async () => {
    const pids = join(dir, 'pids');
    // a shell and its child; both should die with the job's process group
    const file = batchFile('sleepy', [['nap', `sleep 120 & echo $! >> ${pids}; echo $$ >> ${pids}; wait`]]);
    assert.equal((await c.cli(['add', file])).code, 0);
    await until(() => existsSync(pids) && readFileSync(pids, 'utf8').trim().split('\n').length === 2, 'the job to write its pids', WAIT_MS);
    const [child, shell] = readFileSync(pids, 'utf8').trim().split('\n').map(Number) as [number, number];
    assert.ok(alive(child) && alive(shell));
    const r = await c.cli(['kill', 'sleepy']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'cancelled 1 job of jobs/sleepy');
    await until(() => !alive(child) && !alive(shell), 'the job\'s processes to be gone', WAIT_MS);
    await until(async () => (await status('sleepy')).jobs[0]!.state === 'cancelled', 'the job to be cancelled', WAIT_MS);
    assert.equal((await status('sleepy')).state, 'cancelled');
  });

  it('retry reruns the failed jobs, which then succeed', async () => {
    const marker = join(dir, 'second-time');
    const file = batchFile('flaky', [
      ['once', `if [ -e ${marker} ]; then echo fine > "$DISTRIBUTE_SAVE/ok"; else touch ${marker}; exit 3; fi`],
      ['steady', 'true'],
    ]);
    assert.equal((await c.cli(['add', file])).code, 0);
    await until(async () => {
      const s = await status('flaky');
      return s.jobs.every((j) => j.state === 'done' || j.state === 'failed');
    }, 'both jobs to end', WAIT_MS);
    const first = await status('flaky');
    const once = first.jobs.find((j) => j.name === 'once')!;
    assert.equal(once.state, 'failed');
    assert.equal(once.exit_code, 3);
    assert.equal(first.state, 'failed');

    const r = await c.cli(['retry', 'flaky']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'requeued 1 failed job of jobs/flaky');
    await until(async () => (await status('flaky')).jobs.find((j) => j.name === 'once')!.state === 'done', 'the retried job to succeed', WAIT_MS);
    const after = await status('flaky');
    const again = after.jobs.find((j) => j.name === 'once')!;
    assert.equal(again.exit_code, 0);
    assert.equal(again.attempt, 2);
    assert.equal(after.jobs.find((j) => j.name === 'steady')!.attempt, 1);
    assert.equal(after.state, 'done');
  });

  it('logs --follow shows the lines of a running job as they are printed', async () => {
    const gate = join(dir, 'gate');
    // the wait is bounded, so a failing test leaves no job behind
    const file = batchFile('chatty', [['talker', `echo first line; i=0; while [ ! -e ${gate} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; echo second line; echo to stderr >&2`]]);
    assert.equal((await c.cli(['add', file])).code, 0);
    await c.node('ws1').event('started', (l) => l.job === 'talker');
    const follow = spawnCli(['logs', 'chatty', 'talker', '--follow'], { env: c.env(await c.user('alice')), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    follow.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    follow.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<number | null>((r) => follow.on('exit', (code) => r(code)));
    // the first line arrives while the job still waits for the gate: it is live
    try {
      await until(() => out.includes('first line\n'), 'the first line through logs --follow', WAIT_MS);
    } catch (e) {
      writeFileSync(gate, '');
      follow.kill('SIGKILL');
      throw new Error(`${(e as Error).message}; logs --follow said: ${err}`);
    }
    assert.equal(existsSync(gate), false);
    assert.equal(out, 'first line\n');
    writeFileSync(gate, '');
    assert.equal(await exited, 0, err);
    assert.equal(out, 'first line\nsecond line\n');

    // once ended, from the archive; --stderr for the other stream
    const archived = await c.cli(['logs', 'chatty', 'talker']);
    assert.equal(archived.stdout, 'first line\nsecond line\n');
    const stderr = await c.cli(['logs', 'chatty', 'talker', '--stderr']);
    assert.equal(stderr.stdout, 'to stderr\n');
  });
});
