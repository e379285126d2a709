// A real compute daemon as root with job_uids: alice's and bob's jobs run side by side on one
// node, each under a uid of its own. Bob's job tries what a curious user would — alice's
// workspace, the node token, the config, the head's state folder, the control socket, alice's
// processes — and records each errno; /proc says which uid each job runs as.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { until } from '../helpers/until.js';
import { TestCluster } from '../helpers/cluster.js';

const WAIT_MS = 30_000;
const asRoot = process.getuid?.() === 0 && existsSync('/usr/bin/setpriv') && existsSync('/sys/fs/cgroup/freezer/cgroup.procs');

/** Real, effective, saved and filesystem uid of a process, from /proc. */
function uidsOf(pid: number): number[] {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'))!;
  return line.split(/\s+/).slice(1).map(Number);
}

const alive = (pid: number) => existsSync(`/proc/${pid}`);

// bob's probe: every attempt prints `<what> <errno name or OK>`
const PROBE = `
import errno, os, signal, socket, sys
alice_pid, alice_dir, token, config, state, sock = sys.argv[1:7]
def attempt(what, f):
    try:
        f()
        print(what, 'OK')
    except OSError as e:
        print(what, errno.errorcode.get(e.errno, e.errno))
attempt('workspace-list', lambda: os.listdir(alice_dir))
attempt('workspace-read', lambda: open(os.path.join(alice_dir, 'secret.txt')).read())
attempt('token', lambda: open(token).read())
attempt('config', lambda: open(config).read())
attempt('state', lambda: os.listdir(state))
def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
attempt('socket', connect)
attempt('kill', lambda: os.kill(int(alice_pid), signal.SIGKILL))
attempt('stop', lambda: os.kill(int(alice_pid), signal.SIGSTOP))
print('uid', os.getuid(), os.getgid(), 'groups', ','.join(map(str, os.getgroups())) or '-')
`;

describe('job_uids: each job under a uid of its own on a real root daemon', { skip: asRoot ? false : 'needs root, setpriv and the cgroup v1 hierarchies' }, () => {
  let c: TestCluster;
  let sock: string;
  let drop: string;
  let nodeDir: string;
  // a range of its own, so that test runs side by side do not share uids
  const lo = 62_000 + randomInt(0, 300) * 10;
  const range = `${lo}-${lo + 9}`;

  const batchFile = (name: string, command: string, extra: string[] = [], namespace = name) => {
    const file = join(c.root, `${name}.yaml`);
    writeFileSync(file, ['meta:', `  batch_name: ${name}`, `  namespace: ${namespace}`, 'shell:', ...extra, '  jobs:', `    - name: ${name}-job`, `      command: ${JSON.stringify(command)}`].join('\n') + '\n');
    return file;
  };
  const state = async (batch: string, user: string) => (await c.statusOf(batch, user))?.jobs[0]?.state;

  before(async () => {
    c = await TestCluster.start();
    // jobs may pass through the test's folder (not list it), as through a state dir 0711
    chmodSync(c.root, 0o711);
    chmodSync(c.stateDir, 0o700);
    drop = join(c.root, 'drop');
    mkdirSync(drop);
    chmodSync(drop, 0o1777);
    writeFileSync(join(c.root, 'probe.py'), PROBE);
    sock = join(c.root, 'ws.sock');
    await c.startNode({ name: 'ws', cpus: 2, capabilities: ['shell'], config: { control_socket: sock, job_uids: range } });
    nodeDir = join(c.root, 'node-ws');
    chmodSync(join(nodeDir, 'node.token'), 0o600);
    chmodSync(join(nodeDir, 'compute.yaml'), 0o600);
  });
  after(async () => c?.stop());

  it('says so in its start-up log', async () => {
    const line = await c.node('ws').event('job_identity');
    assert.equal(line.job_uids, range);
    assert.equal(line.msg, `each job runs as a uid of its own from ${range}`);
  });

  it('bob\'s job cannot read alice\'s workspace, the token, the config or the head\'s state, nor reach the control socket or alice\'s processes', async () => {
    const aliceOut = join(drop, 'alice');
    const alice = `echo secret > secret.txt; echo "$$ $PWD" > ${aliceOut}.tmp; mv ${aliceOut}.tmp ${aliceOut}; exec sleep 1000`;
    assert.equal((await c.cli(['add', batchFile('alice', alice)], { user: 'alice' })).code, 0);
    const [alicePid, aliceDir] = await until(() => (existsSync(aliceOut) ? readFileSync(aliceOut, 'utf8').trim().split(' ') : null), 'alice\'s job to run', WAIT_MS);
    const pid = Number(alicePid);

    // her workspace is hers alone
    const ws = statSync(aliceDir!);
    assert.equal(ws.mode & 0o777, 0o700);
    const aliceUid = uidsOf(pid);
    assert.equal(ws.uid, aliceUid[0]);

    const bobOut = join(drop, 'bob');
    const args = [alicePid, aliceDir, join(nodeDir, 'node.token'), join(nodeDir, 'compute.yaml'), c.stateDir, sock].map((a) => JSON.stringify(a)).join(' ');
    const bob = `echo $$ > ${bobOut}.pid; python3 ${join(c.root, 'probe.py')} ${args} > ${bobOut}.tmp 2>&1; mv ${bobOut}.tmp ${bobOut}; sleep 0.3`;
    const addBob = await c.cli(['add', batchFile('bob', bob)], { user: 'bob' });
    assert.equal(addBob.code, 0, addBob.stderr);
    const bobPid = await until(() => (existsSync(`${bobOut}.pid`) ? Number(readFileSync(`${bobOut}.pid`, 'utf8')) : null), 'bob\'s job to run', WAIT_MS);
    const bobUid = uidsOf(bobPid);
    const report = await until(() => (existsSync(bobOut) ? readFileSync(bobOut, 'utf8') : null), 'bob\'s probe', WAIT_MS);

    // two uids of the range, neither root, each the same real, effective, saved and fs uid
    for (const u of [aliceUid, bobUid]) {
      assert.equal(new Set(u).size, 1, `uids ${u.join(' ')}`);
      assert.ok(u[0]! >= lo && u[0]! <= lo + 9, `uid ${u[0]} in ${range}`);
    }
    assert.notEqual(aliceUid[0], bobUid[0]);

    const lines = new Map(report.trim().split('\n').map((l) => [l.split(' ')[0]!, l.split(' ').slice(1).join(' ')]));
    assert.deepEqual(Object.fromEntries(lines), {
      'workspace-list': 'EACCES',
      'workspace-read': 'EACCES',
      token: 'EACCES',
      config: 'EACCES',
      state: 'EACCES',
      socket: 'EACCES',
      kill: 'EPERM',
      stop: 'EPERM',
      uid: `${bobUid[0]} ${bobUid[0]} groups -`,
    }, report);
    assert.ok(alive(pid), 'alice\'s job lives on');
    assert.equal(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0], 'S', 'and is not stopped');
    await until(async () => (await state('bob', 'bob')) === 'done', 'bob\'s job to end done', WAIT_MS);
    assert.equal((await c.cli(['kill', 'alice'], { user: 'alice' })).code, 0);
    await until(() => !alive(pid), 'alice\'s job to be killed', WAIT_MS);
  });

  it('a batch\'s build runs under a uid of its own; its jobs use what it made, and their results reach the head', async () => {
    const file = batchFile('built', 'cat made.txt > distribute_save/out.txt; id -u >> distribute_save/out.txt', ['  initialize:', '    command: "echo made by $(id -u) > made.txt"'], 'alice');
    assert.equal((await c.cli(['add', file], { user: 'alice' })).code, 0);
    await until(async () => ['done', 'failed'].includes((await state('built', 'alice')) ?? ''), 'the job to end', WAIT_MS);
    assert.equal(await state('built', 'alice'), 'done');
    const save = join(c.root, 'pulled');
    const r = await c.cli(['pull', file, '--save-dir', save], { user: 'alice' });
    assert.equal(r.code, 0, r.stderr);
    const [made, jobUid] = readFileSync(join(save, 'built', 'built-job', 'out.txt'), 'utf8').trim().split('\n');
    const buildUid = Number(/^made by (\d+)$/.exec(made!)?.[1]);
    assert.ok(buildUid >= lo && buildUid <= lo + 9, made);
    assert.ok(Number(jobUid) >= lo && Number(jobUid) <= lo + 9, jobUid);
    // the build folder is root's again once the build is over
    const buildDir = join(nodeDir, 'work', 'alice', 'built', 'build');
    assert.equal(statSync(buildDir).uid, 0);
    assert.equal(statSync(join(buildDir, 'made.txt')).uid, 0);
    assert.deepEqual(readdirSync(buildDir).sort(), ['_distribute', 'made.txt']);
  });
});
