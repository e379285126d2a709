// The bwrap job sandbox: a job writes only its workspace, cannot see other workspaces or
// hidden files, and still pauses and dies as a whole process group.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { runBuild, startAttempt, type StartAttemptOptions } from '../../compute/runner.js';
import { sandboxArgv, sandboxProblem, type SandboxPolicy } from '../../compute/sandbox.js';
import { batchOf, shellJob, isAlive, readPids, waitFor, processState } from './support.js';
import type { BatchSpec, JobSpec } from '../../shared/spec/types.js';

const haveBwrap = spawnSync('bwrap', ['--version']).status === 0;
if (!haveBwrap && process.env.CI === 'true') throw new Error('bwrap is missing in CI: install the bubblewrap package');
if (!haveBwrap) console.warn('SKIPPING sandbox tests: bwrap is not installed here');

// Not under /tmp: the sandbox gives jobs a private /tmp, so a folder there would be out of
// the job's sight rather than read-only, and the tests would prove less.
let root: string;
before(() => (root = mkdtempSync(join('/var/tmp', 'distribute-sandbox-'))));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function opts(batch: BatchSpec, job: JobSpec, sandbox: SandboxPolicy | null, extra: Partial<StartAttemptOptions> = {}): StartAttemptOptions {
  return { batch, job, attempt: 1, workDir: join(root, `w${++n}`), node: 'ws-01', cpus: 1, gpus: null, inputs: [], jobFile: null, killGraceMs: 300, sandbox, ...extra };
}

/** A folder standing for the workstation owner's files. */
function ownerFolder(): string {
  const d = join(root, `owner${++n}`);
  mkdirSync(d);
  writeFileSync(join(d, 'thesis.tex'), 'precious\n');
  return d;
}

const BWRAP: SandboxPolicy = { hide: [] };

describe('bwrap sandbox', { skip: !haveBwrap }, () => {
  it('works on this machine', () => {
    assert.equal(sandboxProblem(BWRAP), null);
  });

  it('refuses a write outside the workspace, while an unsandboxed job may write there', async () => {
    const owner = ownerFolder();
    const cmd = `echo ruined > "${owner}/thesis.tex"; echo new > "${owner}/new.txt"; echo saved > "$DISTRIBUTE_SAVE/out.txt"`;
    const job = shellJob('writer', cmd);

    const boxed = startAttempt(opts(batchOf([job]), job, BWRAP));
    await boxed.done;
    assert.equal(readFileSync(join(owner, 'thesis.tex'), 'utf8'), 'precious\n');
    assert.equal(existsSync(join(owner, 'new.txt')), false);
    assert.match(readFileSync(join(boxed.paths.meta, 'stderr.log'), 'utf8'), /Read-only file system/);
    // DISTRIBUTE_SAVE is inside the workspace: the result is still written
    assert.equal(readFileSync(join(boxed.paths.save, 'out.txt'), 'utf8'), 'saved\n');

    const free = startAttempt(opts(batchOf([job]), job, null));
    assert.equal((await free.done).success, true);
    assert.equal(readFileSync(join(owner, 'thesis.tex'), 'utf8'), 'ruined\n');
    assert.equal(existsSync(join(owner, 'new.txt')), true);
  });

  it('gives the job a private /tmp', async () => {
    const name = `distribute-sandbox-probe-${process.pid}-${++n}`;
    const job = shellJob('tmp', `echo x > /tmp/${name} && echo wrote > "$DISTRIBUTE_SAVE/tmp.txt"`);
    const a = startAttempt(opts(batchOf([job]), job, BWRAP));
    assert.equal((await a.done).success, true);
    assert.equal(existsSync(join('/tmp', name)), false);
  });

  it('shows the job neither the other workspaces of the node nor the hidden paths', async () => {
    const secretDir = join(root, `control${++n}`);
    mkdirSync(secretDir);
    writeFileSync(join(secretDir, 'control.sock'), '');
    const token = join(root, `node${n}.token`);
    writeFileSync(token, 'node-token-value\n');
    const workDir = join(root, `shared-work${n}`);
    const other = shellJob('other', 'echo other-secret > "$DISTRIBUTE_SAVE/secret.txt"');
    const o = startAttempt(opts(batchOf([other]), other, null, { workDir }));
    await o.done;
    const spy = shellJob('spy', `cat "${join(o.paths.save, 'secret.txt')}" > "$DISTRIBUTE_SAVE/stolen.txt" 2>/dev/null; wc -c < "${token}" > "$DISTRIBUTE_SAVE/token-bytes.txt"; ls "${secretDir}" > "$DISTRIBUTE_SAVE/control.txt"; ls "${workDir}" > "$DISTRIBUTE_SAVE/work.txt"`);
    const s = startAttempt(opts(batchOf([spy]), spy, { hide: [token, secretDir] }, { workDir }));
    await s.done;
    assert.equal(readFileSync(join(s.paths.save, 'stolen.txt'), 'utf8'), '');
    assert.equal(readFileSync(join(s.paths.save, 'token-bytes.txt'), 'utf8').trim(), '0');
    assert.equal(readFileSync(join(s.paths.save, 'control.txt'), 'utf8'), '');
    // only the spy's own batch folder (the path to its workspace) is there
    assert.deepEqual(readFileSync(join(s.paths.save, 'work.txt'), 'utf8').trim().split('\n'), ['ns']);
  });

  it('lets the build step write its folder, and jobs read it but not write it', async () => {
    const workDir = join(root, `build-work${++n}`);
    const job = shellJob('reader', 'cat "$DISTRIBUTE_BUILD/solver.bin" > "$DISTRIBUTE_SAVE/copy.txt"; echo x > "$DISTRIBUTE_BUILD/tampered" || echo refused > "$DISTRIBUTE_SAVE/refused.txt"');
    const batch = batchOf([job], { initialize: { kind: 'shell', command: 'echo compiled > solver.bin', requiredFiles: [] } });
    const b = await runBuild({ batch, workDir, inputs: [], buildFile: null, sif: null, sandbox: BWRAP });
    assert.equal(b.ok, true, readFileSync(b.stderrLog, 'utf8'));
    const a = startAttempt(opts(batch, job, BWRAP, { workDir }));
    await a.done;
    assert.equal(readFileSync(join(a.paths.save, 'copy.txt'), 'utf8'), 'compiled\n');
    assert.equal(readFileSync(join(a.paths.save, 'refused.txt'), 'utf8'), 'refused\n');
    assert.equal(existsSync(join(b.dir, 'tampered')), false);
  });

  it('pause stops and resume continues every process inside the sandbox', async () => {
    const job = shellJob('tree', `sleep 1000 & echo $! > "$DISTRIBUTE_SAVE/pids"; sh -c 'sleep 1000 & echo $! >> "$DISTRIBUTE_SAVE/pids"; wait' & wait`);
    const a = startAttempt(opts(batchOf([job]), job, BWRAP));
    const leader = (await a.started)!;
    const pids = await readPids(join(a.paths.save, 'pids'), 2);
    a.pause();
    await waitFor(() => [leader, ...pids].every((p) => processState(p) === 'T'), 'bwrap and the job\'s descendants to stop');
    a.resume();
    await waitFor(() => [leader, ...pids].every((p) => processState(p) !== 'T'), 'every process to continue');
    a.cancel('test over');
    const r = await a.done;
    assert.equal(r.cancelled, true);
    await waitFor(() => ![leader, ...pids].some(isAlive), 'the whole group to die', 3000);
  });

  it('cancel reaches the grandchildren of a job inside the sandbox', async () => {
    const job = shellJob('stubborn', `trap "" TERM; sleep 1000 & echo $! > "$DISTRIBUTE_SAVE/pids"; sh -c 'trap "" TERM; sleep 1000 & echo $! >> "$DISTRIBUTE_SAVE/pids"; wait' & wait`);
    const a = startAttempt(opts(batchOf([job]), job, BWRAP));
    await a.started;
    const pids = await readPids(join(a.paths.save, 'pids'), 2);
    assert.ok(pids.every(isAlive));
    a.cancel('test');
    const r = await a.done;
    assert.equal(r.cancelled, true);
    await waitFor(() => !pids.some(isAlive), 'the grandchildren to die', 3000);
  });
});

describe('sandboxArgv', () => {
  it('binds the workspace writable and the build read-only, after hiding the work folder', () => {
    const argv = sandboxArgv({ hide: [] }, { workDir: '/nonexistent/work', writable: ['/nonexistent/work/ns/b/j/attempt-1'], readOnly: ['/nonexistent/work/ns/b/build'], cwd: '/nonexistent/work/ns/b/j/attempt-1' }, ['/bin/sh', '-c', 'true']);
    const s = argv.join(' ');
    assert.equal(argv[0], 'bwrap');
    assert.ok(!argv.includes('--new-session') && !argv.includes('--unshare-pid'), 'the job must stay in the runner\'s process group');
    assert.ok(s.indexOf('--tmpfs /nonexistent/work ') < s.indexOf('--bind /nonexistent/work/ns/b/j/attempt-1'));
    assert.match(s, /--ro-bind-try \/nonexistent\/work\/ns\/b\/build \/nonexistent\/work\/ns\/b\/build/);
    assert.deepEqual(argv.slice(-4), ['--', '/bin/sh', '-c', 'true']);
  });

  it('names what to do when bwrap is missing', () => {
    assert.match(sandboxProblem({ hide: [] }, { PATH: '/nonexistent' }) ?? '', /bwrap is not installed .*apt-get install bubblewrap.*sandbox: none/);
  });
});
