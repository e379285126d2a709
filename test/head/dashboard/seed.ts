// Rows for the dashboard's module tests, written straight into a real head database
// (the schema of head/migrations.ts). The end-to-end tests make the same state with real
// daemons; these make exact situations (a lost node, a 3-user cluster) cheap to state.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { create } from 'tar';
import { archivePath } from '../../../head/archive.js';
import type { JobState } from '../../../shared/protocol/common.js';
import type { Store } from '../../../head/store.js';

export interface SeedNode {
  name: string;
  cpus?: number;
  memory?: number;
  gpus?: number;
  capabilities?: string[];
  state?: 'online' | 'lost';
  paused?: boolean;
  draining?: boolean;
  maxJobs?: number | null;
}

export function seedNode(store: Store, n: SeedNode): void {
  const now = store.now();
  store
    .stmt(
      `INSERT INTO nodes (name, capabilities, resources, max_jobs, state, paused, draining, last_seen, first_seen)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(name) DO UPDATE SET state = excluded.state, paused = excluded.paused, draining = excluded.draining`,
    )
    .run(
      n.name,
      JSON.stringify(n.capabilities ?? []),
      JSON.stringify({ cpus: n.cpus ?? 4, memory: n.memory ?? 8 * 2 ** 30, gpus: n.gpus ?? 0 }),
      n.maxJobs ?? null,
      n.state ?? 'online',
      n.paused ? 1 : 0,
      n.draining ? 1 : 0,
      now,
      now,
    );
}

export interface SeedJob {
  name: string;
  state: JobState;
  node?: string;
  cpus?: number;
  memory?: number | null;
  gpus?: number[];
  exitCode?: number | null;
  signal?: string | null;
  error?: string | null;
  /** attempt number (default 1) */
  attempt?: number;
  /** jobs seeded before this one that it waits for (after:); a queued job with any waits */
  after?: string[];
  /** the batch's finalize step; queued, it waits for every other job */
  finalize?: boolean;
  /** what its attempt used, as its result.json says (migration 8): peak memory in bytes */
  peak?: number | null;
  cpuSeconds?: number | null;
}

export interface SeedBatch {
  namespace: string;
  owner: string;
  name: string;
  jobs: SeedJob[];
}

const ATTEMPT_STATE: Partial<Record<JobState, string>> = {
  assigned: 'assigned',
  running: 'running',
  paused: 'running',
  done: 'archived',
  failed: 'archived',
  cancelled: 'cancelled',
};

/** A batch and its jobs; jobs with a node get a current attempt on it. Returns the batch id. */
export function seedBatch(store: Store, b: SeedBatch): number {
  const now = store.now();
  return store.tx(() => {
    store.stmt('INSERT OR IGNORE INTO namespaces (name, owner, created) VALUES (?, ?, ?)').run(b.namespace, b.owner, now);
    const batchId = Number(
      store.stmt('INSERT INTO batches (namespace, name, spec, owner, created) VALUES (?, ?, ?, ?, ?)').run(b.namespace, b.name, '{}', b.owner, now).lastInsertRowid,
    );
    const shapeId = Number(store.stmt('INSERT INTO shapes (batch_id, cpus, memory, gpus, nodes) VALUES (?, 1, NULL, 0, NULL)').run(batchId).lastInsertRowid);
    const ids = new Map<string, number>();
    for (const j of b.jobs) {
      const blocked = j.state === 'queued' && ((j.after?.length ?? 0) > 0 || j.finalize === true) ? 1 : 0;
      const jobId = Number(
        store
          .stmt('INSERT INTO jobs (batch_id, name, spec, shape_id, state, exit_code, node, error, blocked, finalize) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
          .run(batchId, j.name, '{}', shapeId, j.state, j.exitCode ?? null, j.node ?? null, j.error ?? null, blocked, j.finalize ? 1 : 0).lastInsertRowid,
      );
      ids.set(j.name, jobId);
      for (const dep of j.after ?? []) store.stmt('INSERT INTO job_deps (job_id, dep_id) VALUES (?, ?)').run(jobId, ids.get(dep)!);
      const attemptState = ATTEMPT_STATE[j.state];
      if (!j.node || !attemptState) continue;
      const ended = ['archived', 'cancelled'].includes(attemptState) ? now : null;
      const attemptId = Number(
        store
          .stmt(
            `INSERT INTO attempts (job_id, number, node, state, cpus, memory, gpus, created, started, ended, exit_code, signal, error, cpu_seconds, peak_memory, wall_seconds)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            jobId, j.attempt ?? 1, j.node, attemptState, j.cpus ?? 1, j.memory ?? null, JSON.stringify(j.gpus ?? []), now, now - 1500, ended, j.exitCode ?? null, j.signal ?? null, j.error ?? null,
            j.cpuSeconds ?? null, j.peak ?? null, j.peak != null || j.cpuSeconds != null ? 1.5 : null,
          )
          .lastInsertRowid,
      );
      store.stmt('UPDATE jobs SET current_attempt = ?, attempt_count = ? WHERE id = ?').run(attemptId, j.attempt ?? 1, jobId);
    }
    return batchId;
  });
}

/** Moves a job to another state, as the head would (its attempt too). */
export function setJobState(store: Store, namespace: string, batch: string, job: string, state: JobState, exitCode: number | null = null): void {
  store.tx(() => {
    const row = store
      .stmt<{ id: number; current_attempt: number | null }>(
        'SELECT j.id, j.current_attempt FROM jobs j JOIN batches b ON b.id = j.batch_id WHERE b.namespace = ? AND b.name = ? AND j.name = ?',
      )
      .get(namespace, batch, job)!;
    store.stmt('UPDATE jobs SET state = ?, exit_code = ? WHERE id = ?').run(state, exitCode, row.id);
    if (row.current_attempt !== null && ATTEMPT_STATE[state]) {
      store.stmt('UPDATE attempts SET state = ?, exit_code = ?, ended = ? WHERE id = ?').run(ATTEMPT_STATE[state], exitCode, ['done', 'failed', 'cancelled'].includes(state) ? store.now() : null, row.current_attempt);
    }
  });
}

/** A result archive as a node sends it: distribute_save content plus _distribute/ logs. */
export async function seedArchive(stateDir: string, ns: string, batch: string, job: string, stderr: string | null): Promise<string> {
  const src = join(stateDir, 'src', job);
  mkdirSync(join(src, '_distribute'), { recursive: true });
  writeFileSync(join(src, 'out.dat'), Buffer.alloc(300_000, 7));
  writeFileSync(join(src, '_distribute', 'stdout.log'), 'hello\n');
  const members = ['out.dat', '_distribute/stdout.log'];
  if (stderr !== null) {
    writeFileSync(join(src, '_distribute', 'stderr.log'), stderr);
    members.push('_distribute/stderr.log');
  }
  const file = archivePath(stateDir, ns, batch, job);
  mkdirSync(join(file, '..'), { recursive: true });
  await create({ gzip: true, file, cwd: src, portable: true }, members);
  return file;
}
