// A real compute daemon, as root, on this machine's cgroup hierarchies: what a job starts is
// killed with it, paused with it, held to its memory and process count; /proc is the witness.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { until } from '../helpers/until.js';
import { TestCluster } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';

const WAIT_MS = 30_000;
const asRoot = process.getuid?.() === 0 && existsSync('/sys/fs/cgroup/freezer/cgroup.procs');

interface StatusJson {
  state: string;
  jobs: {
    name: string; state: string; attempt: number; exit_code: number | null; error?: string | null;
    memory?: number | null; usage?: { cpu_seconds: number | null; peak_memory_bytes: number | null; wall_seconds: number | null } | null;
  }[];
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

const pidsIn = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map(Number) : []);

// the job's shell, a setsid'd sleep and a double-forked one write their pids to `file`
const escapers = (file: string) =>
  `echo $$ >> ${file}; setsid sh -c 'echo $$ >> ${file}; exec sleep 1000' & (sh -c 'echo $$ >> ${file}; exec sleep 1001' &);`;

describe('containment: a job in its cgroup on a real daemon', { skip: asRoot ? false : 'needs root and the cgroup v1 hierarchies' }, () => {
  let c: TestCluster;
  let sock: string;
  const batchFile = (name: string, jobs: { name: string; command: string; memory?: string }[], extra: string[] = []) => {
    const file = join(c.root, `${name}.yaml`);
    const lines = ['meta:', `  batch_name: ${name}`, '  namespace: contain', ...extra, 'shell:', '  jobs:'];
    for (const j of jobs) {
      lines.push(`    - name: ${j.name}`, `      command: ${JSON.stringify(j.command)}`);
      if (j.memory) lines.push('      resources:', `        memory: ${j.memory}`);
    }
    writeFileSync(file, lines.join('\n') + '\n');
    return file;
  };
  const status = async (batch: string) => (await c.json<StatusJson[]>(['status', batch]))[0]!;
  const ended = (batch: string) => until(async () => ['done', 'failed', 'cancelled'].includes((await status(batch)).state), `${batch} to end`, WAIT_MS);

  before(async () => {
    c = await TestCluster.start();
    sock = join(c.root, 'ws.sock');
    await c.startNode({ name: 'ws', cpus: 2, capabilities: ['shell'], config: { control_socket: sock, max_processes: 24 } });
  });
  after(async () => c?.stop());

  it('says in its start-up log which containment is in force', async () => {
    const line = await c.node('ws').event('containment');
    assert.equal(line.kind, 'cgroup-v1');
    assert.match(String(line.msg), new RegExp(`^cgroup v1 \\(freezer, memory, pids, cpuacct under /sys/fs/cgroup/<controller>/${c.cgroupParent}/ws\\)`));
  });

  it('distribute kill leaves none of its processes, setsid\'d and double-forked ones included', async () => {
    const file = join(c.root, 'kill.pids');
    assert.equal((await c.cli(['add', batchFile('killme', [{ name: 'k', command: `${escapers(file)} sleep 1000` }])])).code, 0);
    const pids = await until(() => (pidsIn(file).length === 3 ? pidsIn(file) : null), 'three pids', WAIT_MS);
    assert.ok(pids.every(alive));
    assert.equal((await c.cli(['kill', 'killme'])).code, 0);
    await until(() => pids.every((p) => !alive(p)), 'every process of the job to be gone', WAIT_MS);
    await ended('killme');
    assert.equal((await status('killme')).jobs[0]!.state, 'cancelled');
  });

  it('a job that ends by itself leaves none of its processes', async () => {
    const file = join(c.root, 'end.pids');
    const wait = `while [ $(wc -l < ${file}) -lt 3 ]; do sleep 0.01; done`;
    assert.equal((await c.cli(['add', batchFile('ends', [{ name: 'e', command: `${escapers(file)} ${wait}` }])])).code, 0);
    await ended('ends');
    assert.equal((await status('ends')).jobs[0]!.state, 'done');
    const pids = pidsIn(file);
    assert.equal(pids.length, 3);
    assert.deepEqual(pids.filter(alive), []);
  });

  it('distribute pause freezes its setsid\'d child; resume thaws it', async () => {
    const count = join(c.root, 'count');
    const ticker = `setsid sh -c 'i=0; while true; do i=$((i+1)); echo $i > ${count}; sleep 0.02; done' & sleep 1000`;
    assert.equal((await c.cli(['add', batchFile('ticks', [{ name: 't', command: ticker }])])).code, 0);
    const read = () => (existsSync(count) ? Number(readFileSync(count, 'utf8').trim() || '0') : 0);
    await until(() => read() > 2, 'the child to count', WAIT_MS);
    assert.equal((await runCli(['pause', '--socket', sock])).code, 0);
    const frozenAt = await until(async () => {
      const x = read();
      await new Promise((r) => setTimeout(r, 400));
      return read() === x ? x + 1 : 0;
    }, 'the count to stand still', WAIT_MS);
    assert.equal((await runCli(['resume', '--socket', sock])).code, 0);
    await until(() => read() > frozenAt + 2, 'the count to go on', WAIT_MS);
    assert.equal((await c.cli(['kill', 'ticks'])).code, 0);
    await ended('ticks');
  });

  it('a job over its memory fails as out of memory; a fork loop stops at max_processes while another job runs on', async () => {
    const flag = join(c.root, 'steady');
    assert.equal((await c.cli(['add', batchFile('steady', [{ name: 's', command: `touch ${flag}; sleep 1000` }])])).code, 0);
    await until(() => existsSync(flag), 'the steady job to run', WAIT_MS);
    const greedy = 'python3 -c "a = bytearray(400 * 1024 * 1024)"';
    const forks = 'i=0; while [ $i -lt 200 ]; do sleep 1000 & i=$((i+1)); done; wait';
    assert.equal((await c.cli(['add', batchFile('limits', [{ name: 'greedy', command: greedy, memory: '100M' }, { name: 'forks', command: forks }])])).code, 0);
    await ended('limits');
    const s = await status('limits');
    const g = s.jobs.find((j) => j.name === 'greedy')!;
    assert.equal(g.state, 'failed');
    assert.match(g.error ?? '', /out of memory: peak \d+\.\dM, limit 100M/);
    assert.equal(s.jobs.find((j) => j.name === 'forks')!.state, 'failed');
    const st = await status('steady');
    assert.equal(st.jobs[0]!.state, 'running');
    assert.equal((await c.cli(['kill', 'steady'])).code, 0);
  });

  it('with memory_retry, an out-of-memory job runs again with more memory and ends done', async () => {
    // 400 MB (381.5 MiB): over 100M, under 400M with the interpreter's own
    const greedy = 'python3 -c "a = bytearray(400 * 1000 * 1000)"';
    assert.equal((await c.cli(['add', batchFile('grows', [{ name: 'g', command: greedy, memory: '100M' }], ['  memory_retry: {factor: 4, max: 1G}'])])).code, 0);
    await until(async () => ['done', 'failed', 'cancelled'].includes((await status('grows')).state), 'grows to end', 2 * WAIT_MS);
    const j = (await status('grows')).jobs[0]!;
    assert.equal(j.state, 'done');
    assert.equal(j.attempt, 2);
    assert.equal(j.memory, 400 * 1024 ** 2);
    assert.ok(j.usage!.peak_memory_bytes! > 400 * 1000 ** 2, `peak ${j.usage!.peak_memory_bytes}`);
    const text = await c.cli(['status', 'grows']);
    assert.match(text.stdout, /^g +done +ws +2 +0 +3\d\d\.\dM \/ 400M /m);
  });

  it('status shows what each job used beside what it asked, and how the batch could be sized', async () => {
    const touch = 'python3 -c "a = bytearray(200 * 1024 * 1024)\nfor i in range(0, len(a), 4096): a[i] = 1"';
    assert.equal((await c.cli(['add', batchFile('sized', [{ name: 'fat', command: touch, memory: '2G' }])])).code, 0);
    await ended('sized');
    const j = (await status('sized')).jobs[0]!;
    assert.equal(j.state, 'done');
    assert.equal(j.memory, 2 * 1024 ** 3);
    const peak = j.usage!.peak_memory_bytes!;
    assert.ok(peak >= 200 * 1024 ** 2 && peak < 260 * 1024 ** 2, `peak ${peak}`);
    assert.ok(j.usage!.cpu_seconds! > 0);
    assert.ok(j.usage!.wall_seconds! > 0);
    const text = await c.cli(['status', 'sized']);
    assert.match(text.stdout, /^memory: 1 job measured, peak 1\d% of what they asked on average, 1\d% at most \(largest peak 2\d\d\.\dM\); memory: \d+M would do$/m);
    assert.match(text.stdout, /^fat +done +ws +1 +0 +2\d\d\.\dM \/ 2G +\d+\.\ds$/m);
  });
});
