// The folders of a job that runs under a uid of its own (job-uids.ts): its attempt folder is
// its own, mode 0700, so no other job can look in; what the daemon placed in it stays the
// daemon's. Inputs are hard links to the node's cache: they are made readable, never given
// away (the job owning one would own the cache's copy). `_distribute/`, where the daemon
// writes the logs and result.json, stays root's.
import { execFile } from 'node:child_process';
import { chmod, chown, lstat, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { PYTHON_BUILD_FILE, PYTHON_JOB_FILE, type AttemptPaths } from '../shared/spec/command.js';
import type { JobIdentity } from './job-uids.js';

/** Others may pass through every folder from `workDir` down to `dir` (not list them: 0711 at least). */
async function traversable(workDir: string, dir: string): Promise<void> {
  let at = workDir;
  for (const part of ['', ...relative(workDir, dir).split(sep).filter(Boolean)]) {
    at = join(at, part);
    const st = await stat(at);
    if ((st.mode & 0o011) !== 0o011) await chmod(at, (st.mode & 0o7777) | 0o011);
  }
}

/** Makes each plain file directly in `dir` readable by all (and runnable, if its owner may run it). */
async function readableFiles(dir: string, names?: string[]): Promise<void> {
  for (const name of names ?? (await readdir(dir))) {
    const st = await lstat(join(dir, name)).catch(() => null);
    if (!st?.isFile()) continue;
    const mode = (st.mode & 0o7777) | 0o444 | (st.mode & 0o100 ? 0o111 : 0);
    if (mode !== (st.mode & 0o7777)) await chmod(join(dir, name), mode);
  }
}

/** Gives the attempt folder to the job's uid before it starts. */
export async function ownAttemptDir(workDir: string, paths: AttemptPaths, id: JobIdentity): Promise<void> {
  await traversable(workDir, join(paths.root, '..'));
  for (const dir of [paths.root, paths.input, paths.save]) await chown(dir, id.uid, id.gid);
  const mounts = join(paths.root, 'mounts');
  for (const m of await readdir(mounts).catch(() => [] as string[])) await chown(join(mounts, m), id.uid, id.gid);
  if (await lstat(mounts).catch(() => null)) await chown(mounts, id.uid, id.gid);
  await chmod(paths.root, 0o700);
  await chmod(paths.meta, 0o755);
  await readableFiles(paths.input);
  await readableFiles(paths.root, [PYTHON_JOB_FILE]);
}

/** Gives the build folder to the build's uid before it starts (its `_distribute/` stays root's). */
export async function ownBuildDir(workDir: string, dir: string, id: JobIdentity): Promise<void> {
  await traversable(workDir, join(dir, '..'));
  await chown(dir, id.uid, id.gid);
  await chmod(dir, 0o700);
  await readableFiles(dir);
  await readableFiles(dir, [PYTHON_BUILD_FILE]);
}

function run(program: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(program, args, { timeout: 600_000 }, (err, _out, stderr) => (err ? reject(new Error(`${program} ${args.join(' ')}: ${stderr.trim() || err.message}`)) : resolve()));
  });
}

/**
 * After the build: the folder becomes root's and read-only to all, so the batch's jobs (each
 * under a uid of its own) can use what it made, and the build's uid, given to another job
 * next, owns nothing of it. Symbolic links are not followed.
 */
export async function reclaimBuildDir(dir: string): Promise<void> {
  await run('chown', ['-R', '-P', '-h', '0:0', dir]);
  await run('chmod', ['-R', 'u+rwX,go+rX,go-w', dir]);
}

/**
 * Before the daemon writes into `_distribute/` of a folder the job owned: the job may have
 * replaced it (by a symbolic link to a file of root's, say). Anything that is not root's own
 * folder is removed and made again. Called once every process of the job is gone.
 */
export async function reclaimMeta(meta: string): Promise<void> {
  const st = await lstat(meta).catch(() => null);
  if (st?.isDirectory() && st.uid === 0) {
    for (const name of ['stdout.log', 'stderr.log', 'result.json']) {
      const f = await lstat(join(meta, name)).catch(() => null);
      if (f && (!f.isFile() || f.uid !== 0)) await rm(join(meta, name), { recursive: true, force: true });
    }
    return;
  }
  await rm(meta, { recursive: true, force: true });
  await mkdir(meta, { mode: 0o755 });
}
