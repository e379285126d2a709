// Pausing a workstation, with real daemons: a head and compute daemons as child processes,
// the built CLI talking to a compute daemon's control socket, job processes read in /proc.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestCluster } from '../helpers/cluster.js';
import { CLI, runCli } from '../helpers/cli.js';
import { busyTreeCommand, cpuTicks } from '../compute/job-tree.js';
import { processPaused, processState } from '../compute/support.js';
import { ForeignLoadMeter } from '../../compute/cpu-usage.js';
import type { PauseStatus } from '../../shared/protocol/control.js';
import { until } from '../helpers/until.js';

const WAIT_MS = 20_000;

interface StatusJson {
  state: string;
  jobs: { name: string; state: string; node: string | null; attempt: number; exit_code: number | null; waiting?: string | null }[];
}
interface NodeJson {
  name: string;
  state: string;
}

/** Milliseconds until every pid is held by the pause (state T, or a frozen cgroup), polled every 2 ms; Infinity after 1 s. */
async function msUntilStopped(pids: number[], from: number): Promise<number> {
  for (;;) {
    if (pids.every((p) => processPaused(p))) return performance.now() - from;
    if (performance.now() - from > 1000) return Infinity;
    await new Promise((r) => setTimeout(r, 2));
  }
}

function readPidFile(file: string): number[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number) : [];
}

/** Kills what a job left if a test failed half-way (the daemons die by SIGKILL and do not take their jobs along). */
function killGroups(pids: number[]): void {
  for (const p of pids) {
    try {
      process.kill(-p, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

function batchYaml(dir: string, name: string, jobs: { name: string; command: string; time?: string }[]): string {
  const file = join(dir, `${name}.yaml`);
  const lines = ['meta:', `  batch_name: ${name}`, '  namespace: desk', 'shell:', '  jobs:'];
  for (const j of jobs) {
    lines.push(`    - name: ${j.name}`, `      command: ${JSON.stringify(j.command)}`);
    if (j.time) lines.push(`      resources: {time: ${j.time}}`);
  }
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

describe('pause at a workstation', () => {
  let c: TestCluster;
  let sock: string;
  const leftovers: number[] = [];
  const status = async (batch: string) => (await c.json<StatusJson[]>(['status', batch]))[0]!;
  const nodeState = async (name = 'desk') => (await c.json<NodeJson[]>(['nodes'])).find((n) => n.name === name)!.state;
  const pause = (...args: string[]) => runCli(['pause', '--socket', sock, ...args]);
  const resume = () => runCli(['resume', '--socket', sock]);
  const desk = () => c.node('desk');

  before(async () => {
    c = await TestCluster.start({ nodes: [] });
    sock = join(c.root, 'desk.sock');
    await c.startNode({ name: 'desk', cpus: 2, config: { control_socket: sock, max_pause: '1h' } });
  });
  after(async () => {
    killGroups(leftovers);
    await c?.stop();
  });

  it('stops a job\'s leader, child and grandchild within 100 ms; status and nodes say paused; resume lets it finish', async (t) => {
    const dir = join(c.root, 'tree');
    mkdirSync(dir);
    assert.equal((await c.cli(['add', batchYaml(c.root, 'tree', [{ name: 'spin', command: busyTreeCommand(dir) }])])).code, 0);
    const pidFile = join(dir, 'pids');
    await until(() => readPidFile(pidFile).length === 3, 'the job tree to write its pids', WAIT_MS);
    const pids = readPidFile(pidFile);
    leftovers.push(pids[0]!);
    await until(async () => (await status('tree')).jobs[0]!.state === 'running', 'the job to run', WAIT_MS);

    // latency is the feature: on a loaded machine the measurement is retried, the bound is kept
    const tries: string[] = [];
    let stoppedIn = Infinity;
    for (let i = 0; i < 3 && stoppedIn > 100; i++) {
      if (i > 0) {
        assert.equal((await resume()).code, 0);
        await until(() => pids.every((p) => !processPaused(p)), 'the tree to run again', WAIT_MS);
      }
      const r = await pause('--duration', '10m');
      const returned = performance.now();
      assert.equal(r.code, 0, r.stderr);
      stoppedIn = await msUntilStopped(pids, returned);
      tries.push(`${stoppedIn.toFixed(1)} ms`);
    }
    assert.ok(stoppedIn <= 100, `every process of the job held (state T or frozen) within 100 ms of pause returning (tries: ${tries.join(', ')})`);
    t.diagnostic(`all three stopped ${tries.join(', then ')} after \`distribute pause\` returned`);

    const ticks = pids.map(cpuTicks);
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(pids.map(cpuTicks), ticks, 'their CPU time stops advancing');

    await until(async () => (await status('tree')).jobs[0]!.state === 'paused', 'status to show the job paused', WAIT_MS);
    assert.equal(await nodeState(), 'paused');
    const table = await c.cli(['nodes']);
    assert.match(table.stdout, /^desk\s+paused\s/m);

    const st = await pause('--status');
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /^node desk: paused by root since \d\d:\d\d:\d\d until \d\d:\d\d:\d\d \(9m \d\ds left\)$/m);
    assert.match(st.stdout, /1 of 1 job stopped \(desk\/tree\/spin\)/);
    const json = JSON.parse((await pause('--status', '--json')).stdout) as PauseStatus;
    assert.equal(json.by, 'root');
    assert.ok(Math.abs(Date.parse(json.until!) - Date.parse(json.since!) - 10 * 60_000) < 5000);
    const logged = desk().lines.find((l) => l.event === 'pause_request');
    assert.equal(logged?.user, 'root');
    assert.equal(logged?.verified, 'kernel');

    const r = await resume();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^resumed node desk: 1 job running again$/m);
    await until(() => pids.slice(1).every((p, i) => (cpuTicks(p) ?? 0) > (ticks[i + 1] ?? 0)), 'child and grandchild to use CPU again', 5000);
    await until(async () => (await status('tree')).jobs[0]!.state === 'running', 'status to show it running', WAIT_MS);
    assert.equal(await nodeState(), 'busy');
    writeFileSync(join(dir, 'stop'), '');
    await until(async () => (await status('tree')).jobs[0]!.state === 'done', 'the job to complete', WAIT_MS);
  });

  it('resumes by itself when a 2 s pause ends, with no terminal left to ask', async () => {
    const dir = join(c.root, 'auto');
    mkdirSync(dir);
    assert.equal((await c.cli(['add', batchYaml(c.root, 'auto', [{ name: 'spin', command: busyTreeCommand(dir) }])])).code, 0);
    await until(() => readPidFile(join(dir, 'pids')).length === 3, 'the job tree', WAIT_MS);
    const pids = readPidFile(join(dir, 'pids'));
    leftovers.push(pids[0]!);
    const resumedBefore = desk().count('resumed');
    const r = await pause('--duration', '2s');
    assert.equal(r.code, 0, r.stderr);
    await until(() => pids.every((p) => processPaused(p)), 'the tree stopped', 1000);
    await desk().events('resumed', resumedBefore + 1, () => true, 10_000);
    // the daemon's own log says when it paused and when it resumed
    const pausedLine = desk().lines.filter((l) => l.event === 'paused').at(-1)!;
    const resumedLine = desk().lines.filter((l) => l.event === 'resumed').at(-1)!;
    const lasted = Date.parse(String(resumedLine.time)) - Date.parse(String(pausedLine.time));
    // (the log's clock has millisecond steps, taken just after the pause's own)
    assert.ok(lasted >= 1990 && lasted < 2500, `resumed ${lasted} ms after pausing`);
    assert.equal(resumedLine.source, 'deadline');
    await until(() => pids.every((p) => !processPaused(p)), 'the tree to run again', 2000);
    await until(async () => (await nodeState()) !== 'paused', 'the head to know', WAIT_MS);
    writeFileSync(join(dir, 'stop'), '');
    await until(async () => (await status('auto')).jobs[0]!.state === 'done', 'the job to complete', WAIT_MS);
  });

  it('does not kill a job with time: 3s for its time limit while it is paused for 5 s', async () => {
    const started = join(c.root, 'timed-started');
    // about 2 s of running time, in steps so the time after the pause is really spent
    const command = `touch ${started}; for i in 1 2 3 4 5 6 7 8; do sleep 0.25; done; echo finished`;
    assert.equal((await c.cli(['add', batchYaml(c.root, 'timed', [{ name: 'short', command, time: '3s' }])])).code, 0);
    await until(() => existsSync(started), 'the job to start', WAIT_MS);
    const r = await pause('--duration', '5s');
    assert.equal(r.code, 0, r.stderr);
    const t0 = Date.now();
    await until(async () => (await status('timed')).jobs[0]!.state === 'done' || (await status('timed')).jobs[0]!.state === 'failed', 'the job to end', 20_000);
    const job = (await status('timed')).jobs[0]!;
    assert.ok(Date.now() - t0 >= 5000, 'it ended after the pause');
    assert.equal(job.state, 'done', `the job ended ${job.state} (exit ${job.exit_code})`);
    assert.equal(job.exit_code, 0);
  });

  it('refuses a --duration above max_pause, saying why, and does not pause', async () => {
    const r = await pause('--duration', '2h');
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim(), 'error: a pause of 2h 00m is longer than this node allows (max_pause 1h 00m)');
    assert.match((await pause('--status')).stdout, /^node desk: not paused/);
    const bad = await pause('--duration', 'soon');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: --duration: /);
  });

  it('pausing an idle node still keeps new jobs off it', async () => {
    assert.equal((await pause('--duration', '1m')).code, 0);
    await until(async () => (await nodeState()) === 'paused', 'the head to know', WAIT_MS);
    assert.equal((await c.cli(['add', batchYaml(c.root, 'later', [{ name: 'one', command: 'true' }])])).code, 0);
    const waiting = (await status('later')).jobs[0]!;
    assert.equal(waiting.state, 'queued');
    assert.match(waiting.waiting ?? '', /paused/);
    assert.equal((await resume()).code, 0);
    await until(async () => (await status('later')).jobs[0]!.state === 'done', 'the job to run after resume', WAIT_MS);
  });

  it('says what is wrong when no daemon listens there', async () => {
    const missing = join(c.root, 'nobody-here.sock');
    const r = await runCli(['pause', '--socket', missing]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^error: cannot reach the compute daemon at ${missing}: no such socket`));
  });
});

describe('vacate after a long pause', () => {
  let c: TestCluster;
  const leftovers: number[] = [];
  after(async () => {
    killGroups(leftovers);
    await c?.stop();
  });

  it('kills the paused job after vacate_after and runs it on another node', async () => {
    c = await TestCluster.start({ nodes: [] });
    const sock = join(c.root, 'desk.sock');
    await c.startNode({ name: 'desk', cpus: 1, config: { control_socket: sock, vacate_after: '2s' } });
    const dir = join(c.root, 'v');
    mkdirSync(dir);
    // a second run finds the first's pids: it stops at once and writes its node's name
    const command = `if [ -e ${dir}/pids ]; then echo "$DISTRIBUTE_ATTEMPT" > ${dir}/second; exit 0; fi\n${busyTreeCommand(dir)}`;
    assert.equal((await c.cli(['add', batchYaml(c.root, 'vac', [{ name: 'long', command }])])).code, 0);
    await until(() => readPidFile(join(dir, 'pids')).length === 3, 'the job tree on desk', WAIT_MS);
    const pids = readPidFile(join(dir, 'pids'));
    leftovers.push(pids[0]!);
    assert.equal((await runCli(['pause', '--socket', sock, '--duration', '1h'])).code, 0);
    await c.startNode({ name: 'spare', cpus: 1 });
    await c.node('desk').event('vacate', () => true, 10_000);
    await until(() => pids.every((p) => processState(p) === null), 'the paused job\'s processes to be gone from desk', 15_000);
    const status = async () => (await c.json<StatusJson[]>(['status', 'vac']))[0]!.jobs[0]!;
    await until(async () => (await status()).state === 'done', 'the job to run again and finish', 20_000);
    const job = await status();
    assert.equal(job.node, 'spare');
    assert.equal(job.attempt, 2);
    assert.equal(readFileSync(join(dir, 'second'), 'utf8').trim(), '2');
    const nodes = await c.json<NodeJson[]>(['nodes']);
    assert.equal(nodes.find((n) => n.name === 'desk')?.state, 'paused', 'desk stays paused');
  });
});

describe('idle policy', () => {
  let c: TestCluster;
  const loops: ChildProcess[] = [];
  const stopLoops = () => {
    for (const l of loops.splice(0)) if (l.exitCode === null) l.kill('SIGKILL');
  };
  after(async () => {
    stopLoops();
    await c?.stop();
  });

  it('pauses under load that is not the cluster\'s and resumes once the machine is quiet', async (t) => {
    // other work on this machine counts as foreign load too: set the threshold above what it is now
    // (two successive 1 s windows, up to 10 s, until there is room above them for the test's load)
    const cpus = Number(execFileSync('nproc').toString());
    const meter = new ForeignLoadMeter();
    await meter.sample(new Set());
    const windows: number[] = [];
    let background = Infinity;
    while (windows.length < 10 && background > cpus - 1.1) {
      await new Promise((r) => setTimeout(r, 1000));
      windows.push((await meter.sample(new Set()))!.foreign);
      if (windows.length >= 2) background = Math.max(...windows.slice(-2));
    }
    if (background > cpus - 1.1) {
      t.skip(`the machine stayed busy (${windows.map((w) => w.toFixed(2)).join(', ')} of ${cpus} cores): a synthetic load cannot raise it past a threshold`);
      return;
    }
    const loadAbove = Math.round((background + 0.5) * 100) / 100;
    c = await TestCluster.start({ nodes: [] });
    const sock = join(c.root, 'desk.sock');
    const desk = await c.startNode({ name: 'desk', cpus: 1, config: { control_socket: sock, idle_policy: { load_above: loadAbove, for: '1s', quiet_for: '1s' } } });
    for (let i = 0; i < cpus; i++) loops.push(spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
    const paused = await desk.event('idle_pause', () => true, 15_000);
    assert.ok(Number(paused.load) > loadAbove);
    await until(async () => (await c.json<NodeJson[]>(['nodes']))[0]!.state === 'paused', 'the head to show the node paused', WAIT_MS);
    const st = JSON.parse((await runCli(['pause', '--socket', sock, '--status', '--json'])).stdout) as PauseStatus;
    assert.equal(st.by, 'idle_policy');
    assert.equal(st.until, null);
    stopLoops();
    // others' work may keep the machine busy after the test's load ends: then staying paused is right
    try {
      await desk.event('idle_resume', () => true, 60_000);
    } catch (err) {
      const now = JSON.parse((await runCli(['pause', '--socket', sock, '--status', '--json'])).stdout) as PauseStatus;
      if (now.paused && (now.idle_policy?.load ?? 0) > loadAbove) {
        t.skip(`other work kept the machine busy after the test's load ended (${now.idle_policy?.load} cores > ${loadAbove}): the resume could not be shown`);
        return;
      }
      throw err;
    }
    await until(async () => (await c.json<NodeJson[]>(['nodes']))[0]!.state === 'idle', 'the head to show the node idle', WAIT_MS);
  });
});

describe('the control socket\'s group', () => {
  const tag = `dp${process.pid % 100000}`;
  const group = `${tag}g`;
  const member = `${tag}in`;
  const outsider = `${tag}out`;
  let c: TestCluster;
  let cliCopy: string;
  let made = false;

  before(() => {
    if (process.getuid?.() !== 0) return;
    execFileSync('groupadd', ['--system', group]);
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '--groups', group, member]);
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', outsider]);
    made = true;
  });
  after(async () => {
    await c?.stop();
    if (made) {
      for (const u of [member, outsider]) execFileSync('userdel', [u]);
      execFileSync('groupdel', [group]);
    }
  });

  it('lets a member of control_group pause without sudo, and refuses a user outside it with a message that says why', async (t) => {
    if (!made) {
      t.skip('needs root to create throwaway users');
      return;
    }
    c = await TestCluster.start({ nodes: [] });
    // the users must reach the socket's folder, and read the CLI
    chmodSync(c.root, 0o755);
    const sock = join(c.root, 'node-desk', 'control.sock');
    mkdirSync(join(c.root, 'node-desk'), { recursive: true });
    chmodSync(join(c.root, 'node-desk'), 0o755);
    await c.startNode({ name: 'desk', cpus: 1, config: { control_socket: sock, control_group: group } });
    cliCopy = CLI;
    const as = (user: string, args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn('runuser', ['-u', user, '--', process.execPath, cliCopy, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d));
        child.stderr.on('data', (d: Buffer) => (stderr += d));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });

    const ok = await as(member, ['pause', '--socket', sock, '--duration', '1m']);
    assert.equal(ok.code, 0, ok.stderr);
    const st = JSON.parse((await as(member, ['pause', '--socket', sock, '--status', '--json'])).stdout) as PauseStatus;
    assert.equal(st.by, member);
    const logged = c.node('desk').lines.find((l) => l.event === 'pause_request');
    assert.equal(logged?.user, member);
    assert.equal(logged?.verified, 'kernel');

    const refused = await as(outsider, ['resume', '--socket', sock]);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr.trim(), `error: cannot reach the compute daemon at ${sock}: permission denied — are you in the group that owns it (ls -l ${sock})?`);
    assert.equal(JSON.parse((await runCli(['pause', '--socket', sock, '--status', '--json'])).stdout).paused, true, 'still paused');
  });
});
