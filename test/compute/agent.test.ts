import { describe, it, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ComputeAgent } from '../../compute/agent.js';
import { headEndpoint } from '../../shared/head-http.js';
import { silentLogger } from '../../shared/log.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/common.js';
import type { NodeMessage } from '../../shared/protocol/messages.js';
import { tempDir } from '../helpers/cli.js';
import { spooledAttempts } from '../../compute/results.js';
import { FakeHead, shellAssign } from './agent-fake-head.js';
import { tarMembers } from './agent-tar.js';
import { isAlive, readPids, waitFor } from './support.js';

describe('ComputeAgent', () => {
  let head: FakeHead;
  let work: { dir: string; cleanup: () => void };
  let agent: ComputeAgent;

  const startAgent = async (token = head.token) => {
    agent = new ComputeAgent({
      head: headEndpoint(head.url, token),
      node: 'n1',
      capabilities: ['shell', 'gfortran'],
      resources: { cpus: 3, memory: 1 << 30, gpus: 0 },
      maxJobs: null,
      workDir: work.dir,
      logger: silentLogger(),
      killGraceMs: 2000,
      reconnectMs: { min: 20, max: 200 },
    });
    await agent.start();
  };

  beforeEach(async () => {
    head = new FakeHead();
    await head.start();
    work = tempDir('distribute-agent-');
  });
  afterEach(async () => {
    await agent.stop();
    await head.stop();
    work.cleanup();
  });

  it('says hello with its token, protocol, capabilities and resources', async () => {
    await startAgent();
    const hello = await head.next('hello');
    assert.deepEqual(hello, {
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      node: 'n1',
      capabilities: ['shell', 'gfortran'],
      resources: { cpus: 3, memory: 1 << 30, gpus: 0 },
      maxJobs: null,
      running: [],
      unacknowledged: [],
      paused: false,
    });
    await head.next('heartbeat');
  });

  it('keeps dialling when its token is refused', async () => {
    await startAgent('wrong');
    await waitFor(() => head.refusedUpgrades.length >= 2, 'a second refused upgrade');
    assert.deepEqual(head.refusedUpgrades.slice(0, 2), ['Bearer wrong', 'Bearer wrong']);
    assert.equal(head.received.length, 0);
  });

  it('runs an assigned job and uploads its result, then deletes its copy', async () => {
    await startAgent();
    await head.next('hello');
    const hash = head.addInput(Buffer.from('forty-two\n'));
    const a = shellAssign(7, 'j1', 'cat input/answer.txt > distribute_save/out.txt; echo "cpus $DISTRIBUTE_CPUS"; echo oops >&2', {
      job: { name: 'j1', file: null, command: 'cat input/answer.txt > distribute_save/out.txt; echo "cpus $DISTRIBUTE_CPUS"; echo oops >&2', requiredFiles: [{ alias: 'answer.txt', hash, size: 10 }], resources: { cpus: 2, memory: null, gpus: 0, time: null } },
      cpus: 2,
    });
    head.send(a);
    const started = await head.next('started', (m) => m.attempt === 7);
    assert.ok(started.pid > 0);
    const finished = await head.next('finished', (m) => m.attempt === 7);
    assert.deepEqual(finished, { type: 'finished', attempt: 7, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
    const members = await tarMembers(await head.result(7));
    assert.equal(members.get('out.txt'), 'forty-two\n');
    assert.equal(members.get('_distribute/stdout.log'), 'cpus 2\n');
    assert.equal(members.get('_distribute/stderr.log'), 'oops\n');
    const result = JSON.parse(members.get('_distribute/result.json')!) as Record<string, unknown>;
    assert.equal(result.node, 'n1');
    assert.equal(result.exit_code, 0);
    assert.equal(result.job, 'j1');
    // acknowledged: nothing left in the spool nor the workspace
    await waitFor(() => spooledAttempts(join(work.dir, '.spool')).length === 0, 'an empty spool');
    assert.equal(existsSync(join(work.dir, 'ns', 'b', 'j1', 'attempt-1')), false);
    assert.deepEqual(readdirSync(join(work.dir, '.inputs')), [hash]);
  });

  it('fetches an input once for all the jobs that share it', async () => {
    await startAgent();
    await head.next('hello');
    const hash = head.addInput(Buffer.alloc(512 * 1024, 'z'));
    for (let i = 1; i <= 4; i++) {
      head.send(shellAssign(i, `j${i}`, 'test "$(wc -c < input/big)" -eq 524288', {
        job: { name: `j${i}`, file: null, command: 'test "$(wc -c < input/big)" -eq 524288', requiredFiles: [{ alias: 'big', hash, size: 524288 }], resources: { cpus: 1, memory: null, gpus: 0, time: null } },
      }));
    }
    for (let i = 1; i <= 4; i++) assert.equal((await head.next('finished', (m) => m.attempt === i)).exitCode, 0);
    assert.equal(head.inputGets.get(hash), 1);
  });

  it('fails a job whose input does not match its hash, with the reason', async () => {
    await startAgent();
    await head.next('hello');
    const hash = head.addInput(Buffer.from('real'));
    head.inputs.set(hash, Buffer.from('tampered'));
    head.send(shellAssign(3, 'j', 'true', { job: { name: 'j', file: null, command: 'true', requiredFiles: [{ alias: 'x', hash, size: 4 }], resources: { cpus: 1, memory: null, gpus: 0, time: null } } }));
    const fin = await head.next('finished', (m) => m.attempt === 3);
    assert.equal(fin.exitCode, null);
    assert.match(fin.error ?? '', /cannot fetch input [0-9a-f]{64} from the head: received 8 bytes whose SHA-256 is/);
    assert.equal(existsSync(join(work.dir, '.inputs', hash)), false);
    const members = await tarMembers(await head.result(3));
    assert.match(members.get('_distribute/stderr.log')!, /cannot fetch input/);
  });

  it('sends a small result in a message on its connection, a big one over HTTP', async () => {
    await startAgent();
    await head.next('hello');
    head.send(shellAssign(20, 'small', 'echo small > distribute_save/s'));
    head.send(shellAssign(21, 'big', 'head -c 3000000 /dev/urandom > distribute_save/b'));
    assert.equal((await tarMembers(await head.result(20))).get('s'), 'small\n');
    await head.result(21, 20_000);
    assert.deepEqual(head.resultPuts.filter((p) => p.attempt >= 20).map((p) => [p.attempt, p.via]).sort(), [[20, 'message'], [21, 'http']]);
  });

  it('sends a job\'s finished and its small result in one frame, and no frame of its own for either', async () => {
    await startAgent();
    await head.next('hello');
    for (const [attempt, name] of [[30, 'a'], [31, 'b'], [32, 'c']] as const) head.send(shellAssign(attempt, name, 'true'));
    for (const attempt of [30, 31, 32]) await head.result(attempt);
    const frameOf = (type: string, attempt: number) => {
      let seen = 0;
      for (const [i, f] of head.frames.entries()) {
        for (const t of f) if (t === type && (head.received.filter((m) => m.type === type)[seen++] as { attempt?: number }).attempt === attempt) return i;
      }
      return -1;
    };
    for (const attempt of [30, 31, 32]) {
      const finished = frameOf('finished', attempt);
      assert.notEqual(finished, -1);
      assert.equal(frameOf('result', attempt), finished, `attempt ${attempt}: finished and result in one frame`);
      assert.ok(head.frames[finished]!.length >= 2);
    }
  });

  it('keeps a result the head could not take and sends it again; a 409 discards it', async () => {
    await startAgent();
    await head.next('hello');
    let refusals = 2;
    head.resultStatus = (attempt) => (attempt === 11 ? 409 : refusals-- > 0 ? 503 : 200);
    head.send(shellAssign(10, 'kept', 'echo kept > distribute_save/k'));
    head.send(shellAssign(11, 'stale', 'echo stale'));
    const members = await tarMembers(await head.result(10, 15_000));
    assert.equal(members.get('k'), 'kept\n');
    assert.deepEqual(head.resultPuts.filter((p) => p.attempt === 10).map((p) => p.status), [503, 503, 200]);
    await waitFor(() => spooledAttempts(join(work.dir, '.spool')).length === 0, 'an empty spool');
    assert.equal(head.results.has(11), false);
    assert.equal(existsSync(join(work.dir, 'ns', 'b', 'stale')), false);
  });

  it('kills the whole process group of a cancelled job', async () => {
    await startAgent();
    await head.next('hello');
    const pids = join(work.dir, 'pids');
    head.send(shellAssign(5, 'long', `sleep 300 & echo $! >> ${pids}; echo $$ >> ${pids}; wait`));
    const [child, shell] = await readPids(pids, 2);
    assert.ok(isAlive(child!) && isAlive(shell!));
    head.send({ type: 'cancel', attempt: 5, reason: 'killed by the user' });
    const fin = await head.next('finished', (m) => m.attempt === 5);
    assert.equal(fin.cancelled, true);
    // SIGKILLed by now; on a busy machine the kernel may take a moment to finish them
    await waitFor(() => !isAlive(child!) && !isAlive(shell!), 'the job\'s processes to be gone', 2000);
  });

  it('builds a batch once, and reports a failed build for each of its jobs', async () => {
    await startAgent();
    await head.next('hello');
    const count = join(work.dir, 'builds');
    const ok = { kind: 'shell' as const, command: `echo built >> ${count}; echo tool > tool`, requiredFiles: [] };
    head.send(shellAssign(1, 'a', 'cat "$DISTRIBUTE_BUILD/tool"', { batchId: 4, initialize: ok }));
    head.send(shellAssign(2, 'b', 'cat "$DISTRIBUTE_BUILD/tool"', { batchId: 4, initialize: ok }));
    assert.equal((await head.next('finished', (m) => m.attempt === 1)).exitCode, 0);
    assert.equal((await head.next('finished', (m) => m.attempt === 2)).exitCode, 0);
    assert.equal((await tarMembers(await head.result(2))).get('_distribute/stdout.log'), 'tool\n');
    assert.equal(readFileSync(count, 'utf8'), 'built\n');

    const bad = { kind: 'shell' as const, command: 'echo no compiler >&2; exit 3', requiredFiles: [] };
    head.send(shellAssign(3, 'c', 'true', { batchId: 5, batch: 'broken', initialize: bad }));
    const failed = await head.next('build_failed', (m) => m.attempt === 3);
    assert.equal(failed.batchId, 5);
    assert.match(failed.log, /exit code 3[\s\S]*no compiler/);
    const fin = await head.next('finished', (m) => m.attempt === 3);
    assert.equal(fin.exitCode, null);
    assert.match(fin.error ?? '', /initialize step of ns\/broken failed on node n1/);
  });

  it('answers read_log from the running job\'s log', async () => {
    await startAgent();
    await head.next('hello');
    const gate = join(work.dir, 'gate');
    head.send(shellAssign(9, 'talk', `echo first; echo second; while [ ! -e ${gate} ]; do sleep 0.05; done`));
    await head.next('started', (m) => m.attempt === 9);
    let answer: Extract<NodeMessage, { type: 'log_data' }> | undefined;
    await waitFor(async () => {
      const id = Math.floor(Math.random() * 1e9);
      head.send({ type: 'read_log', id, attempt: 9, stream: 'stdout', offset: 6, max: 100 });
      answer = await head.next('log_data', (m) => m.re === id);
      return answer.size === 13;
    }, 'both lines in the log');
    assert.equal(Buffer.from(answer!.data).toString(), 'second\n');
    assert.equal(answer!.running, true);
    writeFileSync(gate, '');
    await head.next('finished', (m) => m.attempt === 9);
    head.send({ type: 'read_log', id: 1, attempt: 12345, stream: 'stdout', offset: 0, max: 10 });
    assert.match((await head.next('error', (m) => m.re === 1)).message, /attempt 12345 is not on node n1/);
  });

  it('reconnects after a cut and lists the attempts it still runs', async () => {
    await startAgent();
    await head.next('hello');
    const gate = join(work.dir, 'gate');
    head.send(shellAssign(21, 'survivor', `while [ ! -e ${gate} ]; do sleep 0.05; done`));
    await head.next('started', (m) => m.attempt === 21);
    head.cut();
    const hello = await head.next('hello', (m) => m.running.length > 0);
    assert.deepEqual(hello.running, [{ attempt: 21, paused: false }]);
    writeFileSync(gate, '');
    assert.equal((await head.next('finished', (m) => m.attempt === 21)).exitCode, 0);
    await head.result(21);
  });

  it('drops the attempts the welcome names as stale', async () => {
    await startAgent();
    await head.next('hello');
    head.resultStatus = () => 503;
    head.send(shellAssign(31, 'held', 'echo x > distribute_save/x'));
    await head.next('finished', (m) => m.attempt === 31);
    await waitFor(() => head.resultPuts.some((p) => p.attempt === 31), 'a refused upload');
    head.drop = [31];
    head.cut();
    const hello = await head.next('hello', (m) => m.unacknowledged.includes(31));
    assert.deepEqual(hello.unacknowledged, [31]);
    await waitFor(() => spooledAttempts(join(work.dir, '.spool')).length === 0, 'the dropped result gone from the spool');
    assert.equal(existsSync(join(work.dir, 'ns', 'b', 'held')), false);
  });
});

describe('ComputeAgent spool across restarts', () => {
  let head: FakeHead;
  let work: { dir: string; cleanup: () => void };
  before(async () => {
    head = new FakeHead();
    await head.start();
    work = tempDir('distribute-agent-');
  });
  after(async () => {
    await head.stop();
    work.cleanup();
  });

  it('uploads after a restart the results an earlier run could not deliver', async () => {
    const make = () =>
      new ComputeAgent({
        head: headEndpoint(head.url, head.token),
        node: 'n1',
        capabilities: [],
        resources: { cpus: 1, memory: 0, gpus: 0 },
        maxJobs: null,
        workDir: work.dir,
        logger: silentLogger(),
        reconnectMs: { min: 20, max: 200 },
      });
    head.resultStatus = () => 503;
    const first = make();
    await first.start();
    await head.next('hello');
    head.send(shellAssign(41, 'late', 'echo late > distribute_save/l'));
    await waitFor(() => head.resultPuts.some((p) => p.attempt === 41), 'a refused upload');
    await first.stop();
    assert.deepEqual(spooledAttempts(join(work.dir, '.spool')), [41]);

    head.resultStatus = () => 200;
    head.received.length = 0;
    const second = make();
    await second.start();
    const hello = await head.next('hello');
    assert.deepEqual(hello.unacknowledged, [41]);
    assert.equal((await tarMembers(await head.result(41))).get('l'), 'late\n');
    await waitFor(() => spooledAttempts(join(work.dir, '.spool')).length === 0, 'an empty spool');
    await second.stop();
  });
});
