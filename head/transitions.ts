// The job and attempt state machine: every change the head makes to jobs, attempts and
// nodes, each one function and one transaction. Callers (node sessions, the API, the
// archive) decide when; these decide what, and never touch sockets. No other file writes
// `jobs` or `attempts` rows (migrations and queueing new jobs aside).
//
// Job:     queued → assigned → running (⇄ paused) → done | failed | cancelled; queued again
//          after a lost node (up to max_attempts), a failed result while the job has
//          `retries` left (counted apart from losses), or a user's retry.
// Attempt: assigned → running → finished (resources free, result on its way) → archived;
//          or lost (its node went silent), refused (stale or unusable), cancelled (killed;
//          `ended` stays null until the node says the process is gone, so its resources stay
//          held until then).
// A report about an attempt counts only while the attempt is its job's current one and the
// job is still in flight: that fences stale reports after a loss, a kill or a retry.
import type { NodeMessage } from '../shared/protocol/messages.js';
import type { Placement } from './scheduler.js';
import { parseJobRecord, serializeJobRecord, type AttemptRow, type JobRow, type Store } from './store.js';
import type { Growth } from '../shared/spec/types.js';
import { batchChanged } from './notify/index.js';

type Hello = Extract<NodeMessage, { type: 'hello' }>;
type Finished = Extract<NodeMessage, { type: 'finished' }>;
type Started = Extract<NodeMessage, { type: 'started' }>;

const IN_FLIGHT = new Set(['assigned', 'running', 'paused']);

/**
 * A job of the batch changed state: jobs waiting for it (after:, finalize) are released or
 * cancelled, and the notifications hear of it. Inside the caller's transaction.
 */
function jobsChanged(store: Store, batchId: number): void {
  settleWaiting(store, batchId);
  batchChanged(store, batchId);
}

/** The edges of `after:` and the finalize step's mark; such jobs start out waiting. Inside queueBatch's transaction. */
export function queueDependencies(store: Store, batchId: number, jobs: { name: string; after?: string[]; finalize?: boolean }[]): void {
  const waiting = jobs.filter((j) => j.finalize || (j.after?.length ?? 0) > 0);
  if (waiting.length === 0) return;
  const ids = new Map(store.stmt<{ id: number; name: string }>('SELECT id, name FROM jobs WHERE batch_id = ?').all(batchId).map((r) => [r.name, r.id]));
  const edge = store.stmt('INSERT OR IGNORE INTO job_deps (job_id, dep_id) VALUES (?, ?)');
  const block = store.stmt('UPDATE jobs SET blocked = 1, finalize = ? WHERE id = ?');
  for (const j of waiting) {
    const id = ids.get(j.name)!;
    block.run(j.finalize ? 1 : 0, id);
    for (const dep of j.after ?? []) {
      const depId = ids.get(dep);
      // the batch was validated: every name is one of its jobs
      if (depId === undefined) throw new Error(`batch ${batchId}: job ${j.name} waits for ${dep}, which is not in the batch`);
      edge.run(id, depId);
    }
  }
}

/**
 * Waiting jobs whose dependencies all ended done become candidates; one whose dependency
 * failed or was cancelled is cancelled naming it (and so, in turn, are the jobs that wait for
 * it). The finalize step becomes a candidate once every other job of the batch has ended.
 */
function settleWaiting(store: Store, batchId: number): void {
  if (!store.stmt('SELECT 1 FROM jobs INDEXED BY jobs_blocked WHERE batch_id = ? AND blocked = 1 LIMIT 1').get(batchId)) return;
  const ended = store.stmt<{ id: number; dep: number; dep_name: string; dep_state: string }>(
    `SELECT j.id, d.id AS dep, d.name AS dep_name, d.state AS dep_state FROM jobs j INDEXED BY jobs_blocked
     JOIN job_deps e ON e.job_id = j.id JOIN jobs d ON d.id = e.dep_id
     WHERE j.batch_id = ? AND j.blocked = 1 AND j.state = 'queued' AND d.state IN ('failed', 'cancelled')`,
  );
  const cancel = store.stmt(`UPDATE jobs SET state = 'cancelled', blocked = 0, cancelled_by = ?, error = ? WHERE id = ? AND state = 'queued' AND blocked = 1`);
  // each round cancels one more link of a chain; a chain is at most as long as the batch
  for (let rows = ended.all(batchId); rows.length > 0; rows = ended.all(batchId)) {
    for (const r of rows) cancel.run(r.dep, `waited for ${r.dep_name}, which ${r.dep_state === 'failed' ? 'failed' : 'was cancelled'}`, r.id);
  }
  store
    .stmt(
      `UPDATE jobs SET blocked = 0 WHERE id IN (SELECT j.id FROM jobs j INDEXED BY jobs_blocked WHERE j.batch_id = ? AND j.blocked = 1 AND j.state = 'queued' AND j.finalize = 0
         AND NOT EXISTS (SELECT 1 FROM job_deps e JOIN jobs d ON d.id = e.dep_id WHERE e.job_id = j.id AND d.state != 'done'))`,
    )
    .run(batchId);
  store
    .stmt(
      `UPDATE jobs SET blocked = 0 WHERE id IN (SELECT j.id FROM jobs j INDEXED BY jobs_blocked WHERE j.batch_id = ? AND j.blocked = 1 AND j.state = 'queued' AND j.finalize = 1)
         AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.batch_id = ? AND o.finalize = 0 AND o.state IN ('queued', 'assigned', 'running', 'paused'))`,
    )
    .run(batchId, batchId);
}

export interface Assignment {
  attempt: number;
  number: number;
  jobId: number;
  batchId: number;
  node: string;
  cpus: number;
  gpus: number[];
  /** the job as it was placed (its record, for the `assign` message, without reading it again) */
  job: JobRow;
}

/** The attempt, when it is its job's current attempt on this node and the job is in flight. */
export function currentAttempt(store: Store, attemptId: number, node?: string): { attempt: AttemptRow; job: JobRow } | null {
  const attempt = store.attempt(attemptId);
  return attempt ? currentOf(store, attempt, node) : null;
}

/** `currentAttempt` for an attempt row already read in this synchronous step. */
export function currentOf(store: Store, attempt: AttemptRow, node?: string): { attempt: AttemptRow; job: JobRow } | null {
  if (node !== undefined && attempt.node !== node) return null;
  const job = store.job(attempt.job_id);
  if (!job || job.current_attempt !== attempt.id || !IN_FLIGHT.has(job.state)) return null;
  return { attempt, job };
}

/** Turns placements into attempts; jobs no longer queued are skipped. */
export function applyPlacements(store: Store, placements: Placement[]): Assignment[] {
  if (placements.length === 0) return [];
  return store.tx(() => {
    const now = store.now();
    const out: Assignment[] = [];
    const insert = store.stmt(
      `INSERT INTO attempts (job_id, number, node, state, cpus, memory, gpus, created) VALUES (?, ?, ?, 'assigned', ?, ?, ?, ?)`,
    );
    const update = store.stmt(
      `UPDATE jobs SET state = 'assigned', current_attempt = ?, attempt_count = ?, node = ?, exit_code = NULL, error = NULL WHERE id = ? AND state = 'queued'`,
    );
    // fair share: when each owner was last served (attempt ids only grow)
    const served = store.stmt(
      `INSERT INTO fair_share (owner, last_attempt) SELECT owner, ? FROM batches WHERE id = ?
       ON CONFLICT (owner) DO UPDATE SET last_attempt = MAX(last_attempt, excluded.last_attempt)`,
    );
    for (const p of placements) {
      const job = store.job(p.jobId);
      if (!job || job.state !== 'queued') continue;
      const number = job.attempt_count + 1;
      const id = Number(insert.run(job.id, number, p.node, p.cpus, p.memory, JSON.stringify(p.gpus), now).lastInsertRowid);
      update.run(id, number, p.node, job.id);
      served.run(id, job.batch_id);
      out.push({ attempt: id, number, jobId: job.id, batchId: job.batch_id, node: p.node, cpus: p.cpus, gpus: p.gpus, job });
    }
    return out;
  });
}

/**
 * `started`: recorded; `duplicate`: the head already knew (a reconnect's hello said so);
 * `stale`: the attempt is no longer its job's current one: the node must drop it.
 */
export type StartOutcome = 'started' | 'duplicate' | 'stale';

/** The node started the attempt's process. */
export function markStarted(store: Store, node: string, attemptId: number): StartOutcome {
  return store.tx(() => startedIn(store, node, attemptId));
}

function startedIn(store: Store, node: string, attemptId: number): StartOutcome {
  const cur = currentAttempt(store, attemptId, node);
  if (!cur) return 'stale';
  if (cur.attempt.state !== 'assigned') return 'duplicate';
  store.stmt(`UPDATE attempts SET state = 'running', started = ? WHERE id = ?`).run(store.now(), attemptId);
  const paused = store.stmt<{ paused: number }>('SELECT paused FROM nodes WHERE name = ?').get(node)?.paused === 1;
  store.stmt(`UPDATE jobs SET state = ? WHERE id = ?`).run(paused ? 'paused' : 'running', cur.job.id);
  return 'started';
}

/** A `started` or `finished` from a node. */
export interface Report {
  node: string;
  msg: Started | Finished;
}

/**
 * The reports that arrived within one turn of the event loop, from any nodes, in order, in
 * one transaction: each outcome is what markStarted or markFinished would have said alone.
 */
export function recordReports(store: Store, reports: Report[]): (StartOutcome | FinishOutcome)[] {
  if (reports.length === 0) return [];
  return store.tx(() => reports.map((r) => (r.msg.type === 'started' ? startedIn(store, r.node, r.msg.attempt) : finishedIn(store, r.node, r.msg))));
}

/**
 * `released`: a cancelled attempt's process is gone (what it held is free); `duplicate`: the
 * head already counted it finished (a reconnect's hello listed its result); `stale`: the
 * attempt is no longer current: the node must drop it.
 */
export type FinishOutcome = 'awaiting_result' | 'failed' | 'released' | 'duplicate' | 'stale';

/**
 * The attempt's process ended: its resources are free at once. The job becomes done or
 * failed when its result is archived; an attempt that could not even start (`error`) fails
 * the job now. A cancelled attempt's end releases what it held.
 */
export function markFinished(store: Store, node: string, msg: Finished): FinishOutcome {
  return store.tx(() => finishedIn(store, node, msg));
}

function finishedIn(store: Store, node: string, msg: Finished): FinishOutcome {
  const now = store.now();
  const attempt = store.attempt(msg.attempt);
  if (!attempt || attempt.node !== node) return 'stale';
  const cur = currentOf(store, attempt, node);
  if (!cur) {
    if (attempt.ended === null) {
      store.stmt(`UPDATE attempts SET ended = ?, exit_code = ?, signal = ? WHERE id = ?`).run(now, msg.exitCode, msg.signal, attempt.id);
      return 'released';
    }
    return 'stale';
  }
  // a `finished` again after a reconnect's hello counted it: its error, if any, still counts
  if (!['assigned', 'running', 'finished'].includes(attempt.state)) return 'duplicate';
  const error = msg.error ?? (msg.timedOut ? 'timed out' : null);
  store
    .stmt(`UPDATE attempts SET state = 'finished', ended = ?, exit_code = ?, signal = ?, error = ?, started = COALESCE(started, ?) WHERE id = ?`)
    .run(now, msg.exitCode, msg.signal, error, now, attempt.id);
  if (msg.error !== null) {
    store.stmt(`UPDATE jobs SET state = 'failed', exit_code = ?, error = ? WHERE id = ?`).run(msg.exitCode, msg.error, cur.job.id);
    jobsChanged(store, cur.job.batch_id);
    return 'failed';
  }
  store.stmt(`UPDATE jobs SET state = 'running', exit_code = ? WHERE id = ?`).run(msg.exitCode, cur.job.id);
  return 'awaiting_result';
}

export interface ResultVerdict {
  ok: boolean;
  /** a failure the job's `retries` cover: non-zero exit, signal, time limit */
  retryable: boolean;
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  /** what the attempt used, from its result.json; null when it says nothing */
  usage: { cpuSeconds: number | null; peakMemory: number | null; wallSeconds: number } | null;
  /** killed at its memory limit: memory_retry may queue it again with more */
  outOfMemory?: boolean;
  /** ended by its time limit: time_retry may queue it again with more */
  timedOut?: boolean;
}

export type SettleOutcome = 'done' | 'failed' | 'requeued';

/**
 * The result of the job's current attempt is in the archive: the attempt is archived and the
 * job done, failed, or — a failure while it has `retries` left — queued again as a new
 * attempt. Inside the transaction that indexes the archive.
 */
export function settleResult(store: Store, job: JobRow, attemptId: number, v: ResultVerdict): SettleOutcome {
  const now = store.now();
  store
    .stmt(`UPDATE attempts SET state = 'archived', ended = COALESCE(ended, ?), exit_code = ?, signal = ?, error = ?, cpu_seconds = ?, peak_memory = ?, wall_seconds = ? WHERE id = ?`)
    .run(now, v.exitCode, v.signal, v.error, v.usage?.cpuSeconds ?? null, v.usage?.peakMemory ?? null, v.usage?.wallSeconds ?? null, attemptId);
  let outcome: SettleOutcome = v.ok ? 'done' : 'failed';
  if (!v.ok && growRequest(store, job, v)) {
    outcome = 'requeued';
  } else if (!v.ok && v.retryable && job.failures < parseJobRecord(job).retries) {
    store.stmt(`UPDATE jobs SET state = 'queued', failures = failures + 1, node = NULL, exit_code = ?, error = NULL WHERE id = ?`).run(v.exitCode, job.id);
    outcome = 'requeued';
  } else {
    store.stmt('UPDATE jobs SET state = ?, exit_code = ?, error = ? WHERE id = ?').run(outcome, v.exitCode, v.error, job.id);
  }
  jobsChanged(store, job.batch_id);
  return outcome;
}

/**
 * memory_retry / time_retry: a job that failed for want of memory (or time) and may have more
 * is queued again asking for its request × factor, up to max; its record, its shape (the
 * scheduler's queue) and its time_limit say the new request. This is no failure against its
 * `retries`; it ends once the request is at max. False when it does not apply.
 */
function growRequest(store: Store, job: JobRow, v: ResultVerdict): boolean {
  const rec = parseJobRecord(job);
  const r = rec.job.resources;
  const grow = (now: number | null, g: Growth | undefined) => (now !== null && g && now < g.max ? Math.min(g.max, Math.ceil(now * g.factor)) : null);
  const memory = v.outOfMemory ? grow(r.memory, rec.memoryRetry) : null;
  const time = v.timedOut ? grow(r.time, rec.timeRetry) : null;
  if (memory === null && time === null) return false;
  const resources = { ...r, ...(memory !== null ? { memory } : {}), ...(time !== null ? { time } : {}) };
  const shape = store.stmt<{ nodes: string | null }>('SELECT nodes FROM shapes WHERE id = ?').get(job.shape_id);
  const nodes = shape?.nodes ?? null;
  store.stmt('INSERT OR IGNORE INTO shapes (batch_id, cpus, memory, gpus, nodes) VALUES (?, ?, ?, ?, ?)').run(job.batch_id, resources.cpus, resources.memory, resources.gpus, nodes);
  const shapeId = store
    .stmt<{ id: number }>('SELECT id FROM shapes WHERE batch_id = ? AND cpus = ? AND memory IS ? AND gpus = ? AND nodes IS ?')
    .get(job.batch_id, resources.cpus, resources.memory, resources.gpus, nodes)!.id;
  const spec = serializeJobRecord({ ...rec, job: { ...rec.job, resources } });
  store
    .stmt(`UPDATE jobs SET state = 'queued', node = NULL, exit_code = ?, error = NULL, spec = ?, shape_id = ?, time_limit = ? WHERE id = ?`)
    .run(v.exitCode, spec, shapeId, resources.time, job.id);
  return true;
}

/**
 * The result of the job's current attempt is unusable (the archive breaks the rules): the
 * attempt is refused and the job fails; the node must not send it again. Inside the
 * transaction the caller makes durable.
 */
export function refuseResult(store: Store, job: JobRow, attemptId: number, error: string): void {
  store.stmt(`UPDATE attempts SET state = 'refused', ended = COALESCE(ended, ?), error = ? WHERE id = ?`).run(store.now(), error, attemptId);
  store.stmt(`UPDATE jobs SET state = 'failed', error = ? WHERE id = ?`).run(error, job.id);
  batchChanged(store, job.batch_id);
}

/**
 * A node hands back a job that its pause held for longer than vacate_after (HTCondor's
 * vacate): the job goes back to the queue at once, to run elsewhere, and this does not count
 * against it (no loss, no failure). The attempt is marked cancelled with `ended` still
 * unset, so what it holds on the node stays held until the node's `finished` says its
 * process is gone; the node is paused meanwhile, so nothing is placed there anyway.
 * False when the report is stale (the attempt is no longer its job's current one here, or
 * its process already ended).
 */
export function markVacated(store: Store, node: string, attemptId: number, reason: string): boolean {
  return store.tx(() => {
    const cur = currentAttempt(store, attemptId, node);
    if (!cur || (cur.attempt.state !== 'assigned' && cur.attempt.state !== 'running')) return false;
    store.stmt(`UPDATE attempts SET state = 'cancelled', error = ? WHERE id = ?`).run(`vacated: ${reason}`, attemptId);
    store.stmt(`UPDATE jobs SET state = 'queued', node = NULL, exit_code = NULL WHERE id = ?`).run(cur.job.id);
    return true;
  });
}

export interface LossOutcome {
  requeued: number[];
  failed: number[];
}

/** Requeues (or fails, after max_attempts losses) the job of an attempt whose node lost it. Inside a transaction. */
function loseAttempt(store: Store, attempt: AttemptRow, maxAttempts: number, out: LossOutcome): void {
  const now = store.now();
  if (attempt.state === 'cancelled') {
    store.stmt(`UPDATE attempts SET ended = COALESCE(ended, ?) WHERE id = ?`).run(now, attempt.id);
    return;
  }
  store.stmt(`UPDATE attempts SET state = 'lost', ended = COALESCE(ended, ?) WHERE id = ?`).run(now, attempt.id);
  const job = store.job(attempt.job_id);
  if (!job || job.current_attempt !== attempt.id || !IN_FLIGHT.has(job.state)) return;
  const losses = job.losses + 1;
  if (losses >= maxAttempts) {
    const error = `lost its node ${losses} time${losses === 1 ? '' : 's'} (last: ${attempt.node})`;
    store.stmt(`UPDATE jobs SET state = 'failed', losses = ?, error = ?, node = NULL WHERE id = ?`).run(losses, error, job.id);
    out.failed.push(job.id);
  } else {
    store.stmt(`UPDATE jobs SET state = 'queued', losses = ?, node = NULL, exit_code = NULL WHERE id = ?`).run(losses, job.id);
    out.requeued.push(job.id);
  }
  jobsChanged(store, job.batch_id);
}

/** The node went silent for node_timeout: everything it held is requeued as a new attempt. */
export function declareLost(store: Store, node: string, maxAttempts: number): LossOutcome {
  return store.tx(() => {
    const out: LossOutcome = { requeued: [], failed: [] };
    store.stmt(`UPDATE nodes SET state = 'lost' WHERE name = ?`).run(node);
    for (const a of store.liveAttemptsOn(node)) loseAttempt(store, a, maxAttempts, out);
    return out;
  });
}

export interface HelloOutcome extends LossOutcome {
  /** held attempts that are no longer current: the node kills them and discards their results */
  drop: number[];
  kept: number[];
}

/**
 * A node (re)joins: record what it offers, keep the attempts it still holds that are
 * current, drop the others, and treat current attempts it no longer knows as lost.
 */
export function registerNode(store: Store, hello: Hello, maxAttempts: number): HelloOutcome {
  return store.tx(() => {
    const now = store.now();
    store
      .stmt(
        `INSERT INTO nodes (name, capabilities, resources, max_jobs, state, paused, draining, last_seen, first_seen)
         VALUES (?, ?, ?, ?, 'online', ?, 0, ?, ?)
         ON CONFLICT (name) DO UPDATE SET capabilities = excluded.capabilities, resources = excluded.resources,
           max_jobs = excluded.max_jobs, state = 'online', paused = excluded.paused, draining = 0, last_seen = excluded.last_seen`,
      )
      .run(hello.node, JSON.stringify(hello.capabilities), JSON.stringify(hello.resources), hello.maxJobs, hello.paused ? 1 : 0, now, now);

    const out: HelloOutcome = { drop: [], kept: [], requeued: [], failed: [] };
    const running = new Map(hello.running.map((r) => [r.attempt, r.paused]));
    const unacked = new Set(hello.unacknowledged);
    for (const id of new Set([...running.keys(), ...unacked])) {
      const cur = currentAttempt(store, id, hello.node);
      if (!cur || !['assigned', 'running', 'finished'].includes(cur.attempt.state)) {
        out.drop.push(id);
        continue;
      }
      out.kept.push(id);
      if (running.has(id)) {
        if (cur.attempt.state === 'assigned') store.stmt(`UPDATE attempts SET state = 'running', started = ? WHERE id = ?`).run(now, id);
        if (cur.attempt.state !== 'finished') store.stmt(`UPDATE jobs SET state = ? WHERE id = ?`).run(running.get(id) ? 'paused' : 'running', cur.job.id);
      } else if (cur.attempt.state !== 'finished') {
        // its process ended while the head did not hear (the `finished` was lost with a
        // connection or a head restart): what it held is free; the job awaits its result
        store.stmt(`UPDATE attempts SET state = 'finished', ended = ?, started = COALESCE(started, ?) WHERE id = ?`).run(now, now, id);
        store.stmt(`UPDATE jobs SET state = 'running' WHERE id = ?`).run(cur.job.id);
        jobsChanged(store, cur.job.batch_id);
      }
    }
    const held = new Set(out.kept);
    for (const a of store.liveAttemptsOn(hello.node)) {
      if (held.has(a.id)) continue;
      if (a.state === 'cancelled' && running.has(a.id)) continue; // still dying; its `finished` releases it
      loseAttempt(store, a, maxAttempts, out);
    }
    return out;
  });
}

/** When nodes were last heard from, many at once (one turn's worth): one transaction. */
export function touchNodes(store: Store, seen: ReadonlyMap<string, number>): void {
  if (seen.size === 0) return;
  const update = store.stmt(`UPDATE nodes SET last_seen = ? WHERE name = ?`);
  store.tx(() => {
    for (const [node, at] of seen) update.run(at, node);
  });
}

/** The person at the node paused or resumed it; its running jobs follow. */
export function setNodePaused(store: Store, node: string, paused: boolean): void {
  store.tx(() => {
    store.stmt(`UPDATE nodes SET paused = ? WHERE name = ?`).run(paused ? 1 : 0, node);
    store
      .stmt(
        `UPDATE jobs SET state = ? WHERE state = ? AND current_attempt IN (SELECT id FROM attempts WHERE node = ? AND state = 'running')`,
      )
      .run(paused ? 'paused' : 'running', paused ? 'running' : 'paused', node);
  });
}

export function setNodeDraining(store: Store, node: string): void {
  store.tx(() => store.stmt(`UPDATE nodes SET draining = 1 WHERE name = ?`).run(node));
}

/** An admin drains (or undrains) the node: kept across the node's reconnects, unlike `draining`. */
export function setNodeDrained(store: Store, node: string, drained: boolean): void {
  store.tx(() => store.stmt(`UPDATE nodes SET drained = ? WHERE name = ?`).run(drained ? 1 : 0, node));
}

export interface BuildFailureOutcome {
  /** queued jobs failed because every node that could run them failed the build */
  failedJobs: number;
}

/** What decides where a queue's jobs may run, as `capable` needs it. */
export interface ShapeOfJobs {
  cpus: number;
  memory: number | null;
  gpus: number;
  nodes: string[] | null;
}

/**
 * The batch's initialize step failed on the node: never again there; the job tries elsewhere.
 * `capable` names the known nodes that could run jobs of a shape (capabilities, pin list,
 * size); the queued jobs of a shape whose every capable node failed the build fail now.
 */
export function recordBuildFailure(
  store: Store,
  node: string,
  batchId: number,
  attemptId: number,
  log: string,
  capable: (shape: ShapeOfJobs) => string[],
): BuildFailureOutcome {
  return store.tx(() => {
    const now = store.now();
    store
      .stmt(`INSERT INTO build_failures (batch_id, node, log, at) VALUES (?, ?, ?, ?) ON CONFLICT (batch_id, node) DO UPDATE SET log = excluded.log, at = excluded.at`)
      .run(batchId, node, log, now);
    const cur = currentAttempt(store, attemptId, node);
    if (cur && cur.job.batch_id === batchId) {
      store.stmt(`UPDATE attempts SET state = 'refused', ended = ?, error = 'build failed' WHERE id = ?`).run(now, attemptId);
      store.stmt(`UPDATE jobs SET state = 'queued', node = NULL WHERE id = ?`).run(cur.job.id);
    }
    const failedOn = new Set(store.stmt<{ node: string }>('SELECT node FROM build_failures WHERE batch_id = ?').all(batchId).map((r) => r.node));
    const shapes = store
      .stmt<ShapeOfJobs & { id: number; nodes: string | null }>(
        `SELECT s.id, s.cpus, s.memory, s.gpus, s.nodes FROM shapes s
         WHERE s.batch_id = ? AND EXISTS (SELECT 1 FROM jobs j WHERE j.state = 'queued' AND j.batch_id = s.batch_id AND j.shape_id = s.id)`,
      )
      .all(batchId);
    let failedJobs = 0;
    for (const s of shapes) {
      const nodes = capable({ cpus: s.cpus, memory: s.memory, gpus: s.gpus, nodes: s.nodes === null ? null : (JSON.parse(s.nodes) as string[]) });
      // jobs no known node can run wait for one to join (status says why); the build is not to blame
      if (nodes.length === 0 || !nodes.every((n) => failedOn.has(n))) continue;
      const error = `its build failed on every capable node (${[...nodes].sort().join(', ')})`;
      failedJobs += store.stmt(`UPDATE jobs SET state = 'failed', blocked = 0, error = ? WHERE batch_id = ? AND shape_id = ? AND state = 'queued'`).run(error, batchId, s.id).changes;
    }
    if (failedJobs > 0) jobsChanged(store, batchId);
    return { failedJobs };
  });
}

export interface KillOutcome {
  cancelled: number;
  /** attempts whose process must be killed on their node */
  toCancel: { node: string; attempt: number }[];
}

/** Cancels the batch's unfinished jobs (or one of them). */
export function killJobs(store: Store, batchId: number, jobName?: string): KillOutcome {
  return store.tx(() => {
    const jobs = store
      .stmt<JobRow>(`SELECT * FROM jobs WHERE batch_id = ? AND state IN ('queued', 'assigned', 'running', 'paused')${jobName ? ' AND name = ?' : ''}`)
      .all(...(jobName ? [batchId, jobName] : [batchId]));
    const out: KillOutcome = { cancelled: jobs.length, toCancel: [] };
    for (const job of jobs) {
      store.stmt(`UPDATE jobs SET state = 'cancelled', blocked = 0, error = 'cancelled by a user' WHERE id = ?`).run(job.id);
      if (job.state === 'queued' || job.current_attempt === null) continue;
      const a = store.attempt(job.current_attempt);
      if (!a || !['assigned', 'running', 'finished'].includes(a.state)) continue;
      store.stmt(`UPDATE attempts SET state = 'cancelled' WHERE id = ?`).run(a.id);
      if (a.ended === null) out.toCancel.push({ node: a.node, attempt: a.id });
    }
    jobsChanged(store, batchId);
    return out;
  });
}

/**
 * Requeues the batch's failed jobs; each runs again as a new attempt with fresh loss and retry
 * counts. The nodes where its build failed may build it again (something may have been installed).
 * Jobs cancelled because a dependency failed wait for it again, and the finalize step, when
 * anything comes back, runs again after it.
 */
export function retryJobs(store: Store, batchId: number): number {
  return store.tx(() => {
    store.stmt('DELETE FROM build_failures WHERE batch_id = ?').run(batchId);
    const fresh = `losses = 0, failures = 0, exit_code = NULL, error = NULL, node = NULL`;
    let requeued = store.stmt(`UPDATE jobs SET state = 'queued', ${fresh} WHERE batch_id = ? AND state = 'failed'`).run(batchId).changes;
    requeued += store
      .stmt(`UPDATE jobs SET state = 'queued', blocked = 1, cancelled_by = NULL, ${fresh} WHERE batch_id = ? AND state = 'cancelled' AND cancelled_by IS NOT NULL`)
      .run(batchId).changes;
    if (requeued > 0) {
      requeued += store
        .stmt(`UPDATE jobs SET state = 'queued', ${fresh} WHERE batch_id = ? AND finalize = 1 AND state IN ('done', 'cancelled')`)
        .run(batchId).changes;
      store.stmt(`UPDATE jobs SET blocked = 1 WHERE batch_id = ? AND finalize = 1 AND state = 'queued'`).run(batchId);
    }
    jobsChanged(store, batchId);
    return requeued;
  });
}
