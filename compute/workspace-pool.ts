// Attempt folders are recycled on a compute node instead of made and deleted for every job.
//
// Why: a trivial job's folder is a job folder, its attempt folder, input/, distribute_save/,
// _distribute/ and three log files — eight new inodes, deleted again once the head has the
// result. On ext4 each new inode is found by scanning the inode bitmap, and without a journal
// (as on the machine the benchmark figures come from) every free inode deleted in the last
// seconds is checked against its inode table block and skipped: under a stream of short jobs
// that scan grew to ~13% of the whole machine's CPU (perf: find_inode_bit → recently_deleted).
// A recycled folder costs two renames to take and two to give back, and its log files are
// truncated rather than unlinked, on any file system.
//
// The pool is `<work_dir>/.free/<n>/`, each entry a job folder holding one empty attempt
// folder (`a/` with input/, distribute_save/ and _distribute/ and its three files, empty).
// Only a job folder that holds the released attempt alone goes back; whatever the job left
// (its outputs, files in its working folder) is deleted first. Anything unexpected — a folder
// the job made read-only, a full pool — and the folder is simply deleted as before.
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, truncateSync, writeFileSync, type Dirent } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AttemptPaths } from '../shared/spec/command.js';

const POOL = '.free';
const ATTEMPT = 'a';
const FOLDERS = ['input', 'distribute_save', '_distribute'];
const LOGS = ['stdout.log', 'stderr.log', 'result.json'];
/** empty folders kept at most; enough for the jobs a node runs at once and a few in flight */
const MAX_FREE = 64;

export class WorkspacePool {
  private readonly dir: string;
  private readonly free: string[] = [];
  private next = 1;

  constructor(workDir: string) {
    this.dir = join(workDir, POOL);
    mkdirSync(this.dir, { recursive: true });
    for (const name of readdirSync(this.dir)) {
      if (!/^\d+$/.test(name)) continue;
      this.free.push(name);
      this.next = Math.max(this.next, Number(name) + 1);
    }
  }

  get size(): number {
    return this.free.length;
  }

  /**
   * Moves an empty attempt folder to `paths.root` (with input/, distribute_save/, _distribute/).
   * False when the pool is empty or the job already has a folder here: make one as usual.
   */
  take(paths: AttemptPaths): boolean {
    const name = this.free.pop();
    if (name === undefined) return false;
    const entry = join(this.dir, name);
    const jobDir = dirname(paths.root);
    try {
      mkdirSync(dirname(jobDir), { recursive: true });
      // refused (EEXIST, ENOTEMPTY) when the job has a folder here already
      renameSync(entry, jobDir);
    } catch {
      this.free.push(name);
      return false;
    }
    try {
      renameSync(join(jobDir, ATTEMPT), paths.root);
      return true;
    } catch {
      // a damaged entry: start this job from scratch
      rmSync(jobDir, { recursive: true, force: true });
      return false;
    }
  }

  /**
   * After the head has the attempt's result: empties its folder and keeps it (with its job
   * folder) for the next job. False when it cannot be kept; the caller deletes it.
   */
  release(root: string): boolean {
    if (this.free.length >= MAX_FREE) return false;
    const jobDir = dirname(root);
    try {
      if (readdirSync(jobDir).length !== 1) return false;
      emptyAttempt(root);
      const name = String(this.next++);
      renameSync(root, join(jobDir, ATTEMPT));
      renameSync(jobDir, join(this.dir, name));
      this.free.push(name);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Leaves an attempt folder as the pool keeps it: its three folders, the logs emptied (the next
 * job, maybe another user's, must not read this one's). Throws when it cannot. A log already
 * empty (a quiet job's stdout) is not truncated again: a truncate is a write to its inode.
 */
function emptyAttempt(root: string): void {
  const present = new Set<string>();
  for (const e of readdirSync(root, { withFileTypes: true })) {
    const path = join(root, e.name);
    if (!e.isDirectory() || !FOLDERS.includes(e.name)) {
      rmSync(path, { recursive: true, force: true });
      continue;
    }
    present.add(e.name);
    for (const inner of readdirSync(path, { withFileTypes: true })) emptyEntry(path, inner, e.name === '_distribute');
  }
  for (const f of FOLDERS) if (!present.has(f)) mkdirSync(join(root, f));
  for (const log of LOGS) {
    const file = join(root, '_distribute', log);
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      writeFileSync(file, '');
      continue;
    }
    if (size > 0) truncateSync(file, 0);
  }
}

function emptyEntry(dir: string, e: Dirent, meta: boolean): void {
  const path = join(dir, e.name);
  if (meta && e.isFile() && LOGS.includes(e.name)) return; // truncated, not unlinked
  rmSync(path, { recursive: true, force: true });
}
