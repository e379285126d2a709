import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startControlServer, type ControlServer } from '../../compute/control-socket.js';
import { PauseController, type Pausable } from '../../compute/pause.js';
import { controlRequest, thisClient } from '../../src/control.js';
import { UserError } from '../../shared/errors.js';
import { tempDir } from '../helpers/cli.js';

class Job implements Pausable {
  stopped = false;
  pause() {
    this.stopped = true;
  }
  resume() {
    this.stopped = false;
  }
}

/** A logger whose lines the test can read. */
function captureLog() {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, dest), lines };
}

let dir: string;
let cleanup: () => void;
before(() => ({ dir, cleanup } = tempDir('distribute-control-')));
after(() => cleanup());

describe('control socket', () => {
  let server: ControlServer;
  let controller: PauseController;
  let job: Job;
  let log: ReturnType<typeof captureLog>;
  let path: string;

  before(async () => {
    path = join(dir, 'run', 'control.sock');
    controller = new PauseController({ maxPauseMs: 2 * 3600_000, vacateAfterMs: 600_000 });
    job = new Job();
    controller.track(12, 'study/sweep/re_100', job);
    log = captureLog();
    server = await startControlServer({ path, group: 'nogroup', node: 'ws1', controller, logger: log.logger });
  });
  after(async () => {
    controller.close();
    await server.close();
  });

  it('is a socket of mode 0660 that belongs to control_group', () => {
    const st = statSync(path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.gid, 65534, 'nogroup');
  });

  it('pauses: the job stops, and the status says who, since and until when', async () => {
    const before = Date.now();
    const { status, changed } = await controlRequest(path, { op: 'pause', duration_ms: 30 * 60_000, client: thisClient() });
    assert.equal(changed, true);
    assert.equal(job.stopped, true);
    assert.equal(status.node, 'ws1');
    assert.equal(status.paused, true);
    assert.equal(status.by, thisClient().user);
    assert.equal(status.source, 'user');
    const since = Date.parse(status.since!);
    assert.ok(since >= before - 5 && since <= Date.now());
    assert.equal(Date.parse(status.until!) - since, 30 * 60_000);
    assert.deepEqual(status.jobs.map((j) => [j.attempt, j.job, j.paused]), [[12, 'study/sweep/re_100', true]]);
    // vacate_after counts from the moment the job was stopped, which follows the pause by a moment
    const vacateIn = Date.parse(status.jobs[0]!.vacate_at!) - since;
    assert.ok(vacateIn >= 600_000 && vacateIn < 601_000, `vacate ${vacateIn} ms after the pause`);

    const asked = await controlRequest(path, { op: 'status' });
    assert.deepEqual(asked.status, status);
  });

  it('logs the local user who asked, as the kernel names them', () => {
    const entry = log.lines.find((l) => l.event === 'pause_request');
    assert.ok(entry, 'a pause_request line');
    assert.equal(entry.uid, process.getuid!());
    assert.equal(entry.pid, process.pid);
    assert.equal(entry.verified, 'kernel');
    assert.equal(entry.duration_ms, 30 * 60_000);
  });

  it('refuses a duration above max_pause as bad input, and changes nothing', async () => {
    const untilBefore = controller.state.until;
    await assert.rejects(
      controlRequest(path, { op: 'pause', duration_ms: 3 * 3600_000, client: thisClient() }),
      (e: unknown) => e instanceof UserError && e.exitCode === 2 && /3h 00m is longer than this node allows \(max_pause 2h 00m\)/.test(e.message),
    );
    assert.equal(controller.state.until, untilBefore);
  });

  it('resumes: the job runs again', async () => {
    const { status, changed } = await controlRequest(path, { op: 'resume', client: thisClient() });
    assert.equal(changed, true);
    assert.equal(status.paused, false);
    assert.equal(job.stopped, false);
    const again = await controlRequest(path, { op: 'resume', client: thisClient() });
    assert.equal(again.changed, false);
  });

  it('answers a malformed request with an error instead of falling over', async () => {
    await assert.rejects(controlRequest(path, { op: 'pause', duration_ms: -5, client: thisClient() } as never), (e: unknown) => e instanceof UserError && e.exitCode === 2 && /duration_ms/.test(e.message));
    assert.equal((await controlRequest(path, { op: 'status' })).status.node, 'ws1');
  });

  it('refuses to start where another daemon listens', async () => {
    await assert.rejects(startControlServer({ path, node: 'ws2', controller, logger: log.logger }), /another compute daemon already listens/);
  });
});

describe('control socket files', () => {
  it('replaces the socket a crashed daemon left behind', async () => {
    const path = join(dir, 'stale.sock');
    // a daemon killed outright leaves its socket file behind
    const old = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(old.stdout!, 'data');
    old.kill('SIGKILL');
    await once(old, 'exit');
    assert.ok(statSync(path).isSocket());
    const c = new PauseController({ maxPauseMs: 3600_000 });
    const s = await startControlServer({ path, node: 'ws1', controller: c, logger: captureLog().logger });
    assert.equal((await controlRequest(path, { op: 'status' })).status.paused, false);
    await s.close();
  });

  it('says what is wrong when there is no daemon or no socket', async () => {
    const missing = join(dir, 'nothing-here.sock');
    await assert.rejects(controlRequest(missing, { op: 'status' }), (e: unknown) => e instanceof UserError && e.exitCode === 1 && e.message.startsWith(`cannot reach the compute daemon at ${missing}: no such socket`));
    const file = join(dir, 'plain-file');
    writeFileSync(file, '');
    await assert.rejects(controlRequest(file, { op: 'status' }), (e: unknown) => e instanceof UserError && e.message.startsWith(`cannot reach the compute daemon at ${file}`));
  });

  it('refuses a control_group that does not exist, naming it', async () => {
    const c = new PauseController({ maxPauseMs: 3600_000 });
    await assert.rejects(startControlServer({ path: join(dir, 'g.sock'), group: 'no-such-group-xyz', node: 'ws1', controller: c, logger: captureLog().logger }), /control_group: no group named no-such-group-xyz/);
  });
});
