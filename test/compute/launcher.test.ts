// The launcher (compute/launcher.ts, launcher-client.ts): a small child of the daemon starts
// the jobs. Each job still leads its own process group with its output in its log files, its
// exit comes back, a program that does not exist is an error, and a launcher that dies takes
// the jobs it can no longer reap with it.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Launcher } from '../../compute/launcher-client.js';
import { silentLogger } from '../../shared/log.js';
import { tempDir } from '../helpers/cli.js';
import { until } from '../helpers/until.js';

function statOf(pid: number): { ppid: number; pgrp: number; sid: number } | null {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(rest[1]), pgrp: Number(rest[2]), sid: Number(rest[3]) };
  } catch {
    return null;
  }
}

describe('launcher', () => {
  const { dir, cleanup } = tempDir('launcher-');
  const launcher = new Launcher(silentLogger(), { cpus: 1, memory: 1024 ** 3, maxJobs: null });
  after(() => {
    launcher.stop();
    cleanup();
  });
  const logs = (name: string) => ({ stdoutPath: join(dir, `${name}.out`), stderrPath: join(dir, `${name}.err`) });

  it('starts a job as the leader of its own group, in its folder, with its env and logs', async () => {
    const g = await launcher.spawn({ argv: ['sh', '-c', 'echo "$GREETING $(pwd)"; echo oops >&2; sleep 0.2; exit 3'], cwd: dir, env: { PATH: process.env.PATH, GREETING: 'hello' }, ...logs('a') });
    assert.ok(g.pid !== null);
    const s = statOf(g.pid)!;
    assert.equal(s.pgrp, g.pid, 'leads its process group');
    assert.equal(s.sid, g.pid, 'and its session');
    assert.notEqual(s.ppid, process.pid, 'started by the launcher, not this process');
    assert.deepEqual(await g.exited, { code: 3, signal: null, error: null });
    assert.ok(g.hasExited);
    assert.equal(readFileSync(join(dir, 'a.out'), 'utf8'), `hello ${dir}\n`);
    assert.equal(readFileSync(join(dir, 'a.err'), 'utf8'), 'oops\n');
  });

  it('signals reach the whole group', async () => {
    const g = await launcher.spawn({ argv: ['sh', '-c', 'sleep 30 & sleep 30; wait'], cwd: dir, env: { PATH: process.env.PATH }, ...logs('b') });
    assert.equal(g.signal('SIGTERM'), true);
    const e = await g.exited;
    assert.equal(e.signal, 'SIGTERM');
  });

  it('a program that does not exist is an error, not a crash', async () => {
    const g = await launcher.spawn({ argv: ['no-such-program-here'], cwd: dir, env: { PATH: process.env.PATH }, ...logs('c') });
    const e = await g.exited;
    assert.equal(e.code, null);
    assert.match(String(e.error?.message), /ENOENT/);
    const bad = await launcher.spawn({ argv: ['true'], cwd: dir, env: {}, stdoutPath: join(dir, 'missing', 'x.out'), stderrPath: join(dir, 'x.err') });
    assert.equal(bad.pid, null);
    assert.match(String((await bad.exited).error?.message), /ENOENT/, 'a log that cannot be opened');
    const ok = await launcher.spawn({ argv: ['true'], cwd: dir, env: {}, ...logs('d') });
    assert.equal((await ok.exited).code, 0, 'the launcher goes on');
  });

  it('a job that asks for room waits for the one before it to exit, and starts then; one cancelled while it waits never starts', async () => {
    const gate = join(dir, 'gate');
    const env = { PATH: process.env.PATH };
    const room = () => ({ need: { cpus: 1, memory: null }, cancelled: new AbortController().signal });
    const first = await launcher.spawn({ argv: ['sh', '-c', `while [ ! -e '${gate}' ]; do sleep 0.01; done`], cwd: dir, env, ...logs('r1'), room: room() });
    assert.ok(first.pid !== null);
    let secondStarted = false;
    const second = launcher.spawn({ argv: ['sh', '-c', 'echo second'], cwd: dir, env, ...logs('r2'), room: room() }).then((g) => {
      secondStarted = true;
      return g;
    });
    const cancel = new AbortController();
    const third = launcher.spawn({ argv: ['sh', '-c', 'echo third'], cwd: dir, env, ...logs('r3'), room: { need: { cpus: 1, memory: null }, cancelled: cancel.signal } });
    // the launcher answers in order: the cancelled third one is answered, the second still waits
    cancel.abort();
    const never = await third;
    assert.equal(never.pid, null);
    assert.deepEqual(await never.exited, { code: null, signal: null, error: null });
    assert.equal(secondStarted, false, 'no room while the first one runs');
    assert.equal(existsSync(join(dir, 'r2.out')), false, 'not even its log was opened');
    writeFileSync(gate, '');
    assert.equal((await first.exited).code, 0);
    const g = await second;
    assert.ok(g.pid !== null);
    assert.equal((await g.exited).code, 0);
    assert.equal(readFileSync(join(dir, 'r2.out'), 'utf8'), 'second\n');
    assert.equal(existsSync(join(dir, 'r3.out')), false, 'the cancelled one never ran');
  });

  it('when the launcher dies, its jobs are killed and reported, and the next job gets a new launcher', async () => {
    const g = await launcher.spawn({ argv: ['sleep', '30'], cwd: dir, env: { PATH: process.env.PATH }, ...logs('e') });
    const launcherPid = statOf(g.pid!)!.ppid;
    process.kill(launcherPid, 'SIGKILL');
    const e = await g.exited;
    assert.match(String(e.error?.message), /launcher process died/);
    await until(() => {
      const s = statOf(g.pid!);
      return s === null || readFileSync(`/proc/${g.pid}/stat`, 'utf8').includes(') Z');
    }, 'the job to be gone', 10_000);
    const next = await launcher.spawn({ argv: ['true'], cwd: dir, env: {}, ...logs('f') });
    assert.equal((await next.exited).code, 0);
    assert.ok(existsSync(join(dir, 'f.out')));
  });
});

describe('launcher: its answers', () => {
  it('writes the answers of one turn together: a job\'s exit and the start of the job that waited for its room', async () => {
    const { dir, cleanup } = tempDir('launcher-answers-');
    const script = new URL('../../compute/launcher.ts', import.meta.url).pathname;
    const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify({ cpus: 1, memory: 0, maxJobs: null })], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const reads: string[] = [];
      child.stdout.setEncoding('utf8').on('data', (d: string) => reads.push(d));
      const job = (id: number, argv: string[]) => JSON.stringify({ id, argv, cwd: dir, env: { PATH: process.env.PATH }, stdout: join(dir, `${id}.out`), stderr: join(dir, `${id}.err`), need: { cpus: 1, memory: null } }) + '\n';
      child.stdin.write(job(1, ['sleep', '0.3']));
      await until(() => reads.join('').includes('"pid"') || undefined, 'job 1 started');
      // job 2 waits for job 1's cpu
      child.stdin.write(job(2, ['true']));
      await until(() => reads.join('').includes('"id":2,"exit"') || undefined, 'job 2 ended', 10_000);
      const exit1 = reads.find((r) => r.includes('"id":1,"exit"'))!;
      assert.match(exit1, /"id":2,"pid":\d+/, 'job 2 started in the read that brought job 1\'s exit');
    } finally {
      child.stdin.end();
      cleanup();
    }
  });
});
