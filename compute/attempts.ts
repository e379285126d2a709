// The attempts this node holds, from `assign` to the result in the spool: fetch the inputs,
// build the batch once, run the job with the runner, report `started` and `finished`, pack
// the result. The head's `cancel`, `drop` and `read_log` act on them here. While a job's
// process runs, its group is recorded in `<work_dir>/.running/` (leftovers.ts), so the next
// start of the daemon can kill what this one, killed itself, left behind.
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { HeadMessage, NodeMessage } from '../shared/protocol/messages.js';
import { attemptPaths, type AttemptPaths } from '../shared/spec/command.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { attemptInputs, buildInputs, filesOf, runnerBatch, runnerJob, writeUnstartedResult, type Assign } from './assignment.js';
import { BuildCache, describeFailedBuild } from './builds.js';
import { RESULTS_FOLDER } from './finalize-inputs.js';
import type { InputCache } from './inputs.js';
import { killLeftovers, RunningRecords, type Leftover } from './leftovers.js';
import type { ResultSpool } from './results.js';
import type { WorkspacePool } from './workspace-pool.js';
import type { Spawner } from './process-group.js';
import { startAttempt, type AttemptResult, type ContainmentOptions, type RunningAttempt, type RunningBuild, type SandboxPolicy } from './runner.js';

/** Largest log chunk sent in one `log_data` frame. */
const MAX_LOG_CHUNK = 1024 * 1024;

export interface AttemptsOptions {
  node: string;
  workDir: string;
  inputs: InputCache;
  spool: ResultSpool;
  logger: Logger;
  /** sends a message to the head; false when there is no connection to send it on */
  send: (m: NodeMessage) => boolean;
  /** between SIGTERM and SIGKILL on cancel; the runner's default when unset */
  killGraceMs?: number;
  /** run jobs and builds in the bwrap sandbox (compute.yaml `sandbox: bwrap`) */
  sandbox?: SandboxPolicy | null;
  /** takes a job's handle as soon as it exists, before its process does (the pause); returns the release */
  watch?: (attempt: number, job: string, run: RunningAttempt) => () => void;
  /** the same for a batch's build (`namespace/batch`) */
  watchBuild?: (batch: string, build: RunningBuild) => () => void;
  /** recycled attempt folders (workspace-pool.ts); none: each attempt makes its own */
  pool?: WorkspacePool;
  /** starts the jobs' processes (the launcher); none: this process does */
  spawn?: Spawner;
  /** a cgroup per job and build (compute/cgroup); none: process groups */
  containment?: ContainmentOptions;
}

/**
 * How an attempt ends early, when it does, and why (the first reason given is kept):
 *   cancel  the head's `cancel` (a user's kill): killed; its `finished` and result still go
 *   vacate  handed back by the pause (vacate_after): `vacated`, killed, `finished`, result discarded
 *   return  handed back because the daemon stops: `vacated`, killed, `finished`, result discarded
 *   drop    the head's `drop` (a stale attempt): killed, nothing more said, result discarded
 * A later end overrides an earlier one when it says more (drop > return > vacate > cancel).
 */
type EndKind = 'cancel' | 'vacate' | 'return' | 'drop';
const END_RANK: Record<EndKind, number> = { cancel: 0, vacate: 1, return: 2, drop: 3 };

interface End {
  kind: EndKind;
  reason: string;
}

interface Held {
  assign: Assign;
  paths: AttemptPaths;
  state: 'preparing' | 'running' | 'packing';
  run: RunningAttempt | null;
  /** null while nothing ends it early */
  end: End | null;
  /** its process has not started yet (being prepared, or waiting for room: assigned ahead) */
  waiting: boolean;
  lifecycle: Promise<void>;
}

/** Ends the attempt early (see `End`) and kills its process; false when a stronger end came first. */
function endEarly(h: Held, kind: EndKind, reason: string): boolean {
  if (h.end !== null && END_RANK[h.end.kind] >= END_RANK[kind]) {
    h.run?.cancel(h.end.reason);
    return false;
  }
  h.end = { kind, reason: h.end?.reason ?? reason };
  h.run?.cancel(h.end.reason);
  return true;
}

type ReadLog = Extract<HeadMessage, { type: 'read_log' }>;

export class Attempts {
  private readonly held = new Map<number, Held>();
  private readonly builds = new BuildCache();
  /** `finished` messages that found no connection, by attempt, to send after a reconnect */
  private readonly unsent = new Map<number, NodeMessage>();
  /** `vacated` messages that found no connection; they go before any `finished` */
  private readonly unsentVacates = new Map<number, NodeMessage>();
  private readonly records: RunningRecords;
  /**
   * The daemon's environment as a plain object, copied once: each job's is laid over it, and
   * spreading `process.env` itself (a getenv per variable) was a visible part of every start.
   * Nothing in the daemon changes its environment after start-up.
   */
  private readonly env: NodeJS.ProcessEnv = { ...process.env };

  constructor(private readonly o: AttemptsOptions) {
    this.builds.watch = o.watchBuild ?? null;
    this.records = new RunningRecords(join(o.workDir, '.running'));
  }

  /**
   * At start: kills the jobs a previous life of the daemon left running. Their attempts are
   * not offered to the head (it requeues them); those whose results reached the spool are.
   * Call after the spool's `recover`.
   */
  reclaim(): Promise<Leftover[]> {
    const spooled = new Set(this.o.spool.pending());
    return killLeftovers(this.records, { logger: this.o.logger, keepWorkspace: (attempt) => spooled.has(attempt) });
  }

  assign(a: Assign): void {
    if (this.held.has(a.attempt)) {
      this.o.logger.warn({ event: 'duplicate_assign', attempt: a.attempt }, 'attempt already held; assign ignored');
      return;
    }
    const h: Held = {
      assign: a,
      paths: attemptPaths(this.o.workDir, a.namespace, a.batch, a.job.name, a.attemptNumber),
      state: 'preparing',
      run: null,
      end: null,
      waiting: false,
      lifecycle: Promise.resolve(),
    };
    this.held.set(a.attempt, h);
    this.o.logger.info({ event: 'assigned', attempt: a.attempt, namespace: a.namespace, batch: a.batch, job: a.job.name, cpus: a.cpus, gpus: a.gpus }, 'job assigned');
    h.lifecycle = this.carry(h).catch((err: unknown) => {
      this.o.logger.error({ event: 'attempt_error', attempt: a.attempt, err: errorMessage(err) }, 'attempt could not be carried through');
      this.held.delete(a.attempt);
    });
  }

  /** Kills the attempt's process group; its result is still reported. */
  cancel(attempt: number, reason: string): void {
    const h = this.held.get(attempt);
    if (!h) return;
    this.o.logger.info({ event: 'cancel', attempt, reason }, 'cancelling job');
    endEarly(h, 'cancel', reason);
  }

  /** Kills the attempt if it runs and throws its result away. */
  async drop(attempt: number, reason: string): Promise<void> {
    this.o.logger.info({ event: 'drop', attempt, reason }, 'dropping stale attempt');
    const h = this.held.get(attempt);
    this.unsent.delete(attempt);
    this.unsentVacates.delete(attempt);
    if (h) {
      endEarly(h, 'drop', reason);
      // already reported finished and being packed: the spool throws it away once packed
      if (h.state === 'packing') await this.o.spool.discard(attempt);
      return;
    }
    await this.o.spool.discard(attempt);
  }

  /**
   * Hands a job back to the head (the pause held it for vacate_after): the head queues it
   * elsewhere; here it is killed and its result thrown away. Its `finished` still goes, so
   * the head frees what it held.
   */
  vacate(attempt: number, reason: string): void {
    const h = this.held.get(attempt);
    if (h) this.handBack(h, 'vacate', reason);
  }

  /**
   * The one way a job goes back to the head unfinished: `vacated` (kept for after a
   * reconnect when there is no connection) tells the head to queue it again at once
   * elsewhere; its process group is killed, and its `finished` says when it is gone.
   * Attempts already finished (packing) or dropped are not handed back.
   */
  private handBack(h: Held, kind: 'vacate' | 'return', reason: string): void {
    if (h.state === 'packing' || h.end?.kind === 'drop') return;
    const attempt = h.assign.attempt;
    if (kind === 'vacate') this.o.logger.info({ event: 'vacate', attempt, reason }, 'handing the job back to the head');
    if (!endEarly(h, kind, reason)) return;
    const m: NodeMessage = { type: 'vacated', attempt, reason };
    if (!this.o.send(m)) this.unsentVacates.set(attempt, m);
  }

  /** Hands back (as `vacate` does) every job assigned ahead that still waits for room. */
  returnWaiting(reason: string): void {
    for (const h of this.held.values()) if (h.waiting) this.vacate(h.assign.attempt, reason);
  }

  /** Attempts not yet finished (hello's `running`). */
  running(): { attempt: number; paused: boolean }[] {
    return [...this.held.values()].filter((h) => h.state !== 'packing').map((h) => ({ attempt: h.assign.attempt, paused: h.run?.paused ?? false }));
  }

  /** Attempts finished here whose results the head has not acknowledged (hello's `unacknowledged`). */
  unacknowledged(): number[] {
    const packing = [...this.held.values()].filter((h) => h.state === 'packing').map((h) => h.assign.attempt);
    return [...new Set([...packing, ...this.o.spool.pending()])].sort((a, b) => a - b);
  }

  /** Sends the `finished` messages that found no connection (after a reconnect). */
  sendUnsent(except: ReadonlySet<number>): void {
    for (const [attempt, m] of this.unsentVacates) {
      if (except.has(attempt) || this.o.send(m)) this.unsentVacates.delete(attempt);
    }
    for (const [attempt, m] of this.unsent) {
      if (except.has(attempt) || this.o.send(m)) this.unsent.delete(attempt);
    }
  }

  /** The answer to a `read_log`: a chunk of the attempt's stdout or stderr log. */
  async readLog(m: ReadLog): Promise<NodeMessage> {
    const h = this.held.get(m.attempt);
    const root = h?.paths.root ?? this.o.spool.workspaceOf(m.attempt);
    if (!root) return { type: 'error', re: m.id, message: `attempt ${m.attempt} is not on node ${this.o.node}` };
    const file = join(root, '_distribute', `${m.stream}.log`);
    const running = h !== undefined && h.state !== 'packing';
    let fh;
    try {
      fh = await open(file, 'r');
    } catch {
      // not created yet (inputs still arriving): an empty log so far
      return { type: 'log_data', re: m.id, data: new Uint8Array(0), size: 0, running };
    }
    try {
      const size = (await fh.stat()).size;
      const length = Math.max(0, Math.min(m.max, MAX_LOG_CHUNK, size - m.offset));
      const data = Buffer.alloc(length);
      const { bytesRead } = length > 0 ? await fh.read(data, 0, length, m.offset) : { bytesRead: 0 };
      return { type: 'log_data', re: m.id, data: data.subarray(0, bytesRead), size, running };
    } finally {
      await fh.close();
    }
  }

  /**
   * Hands every unfinished attempt back to the head (the daemon is stopping): `vacated` tells
   * the head to queue the job again at once for another node; the job's process group is
   * killed, then `finished` says it is gone (the head frees what it held); no result is
   * uploaded and the workspace goes. Attempts already finished keep their result. Resolves
   * when all are gone.
   */
  async returnAll(reason: string): Promise<void> {
    for (const h of this.held.values()) this.handBack(h, 'return', reason);
    this.builds.cancelAll(reason);
    await this.idle();
  }

  /** Resolves once every attempt held now has ended (reported, packed or handed back). */
  async idle(): Promise<void> {
    await Promise.all([...this.held.values()].map((h) => h.lifecycle));
  }

  get size(): number {
    return this.held.size;
  }

  private recordRunning(attempt: number, pid: number, workspace: string, log: Logger): void {
    try {
      this.records.record(attempt, pid, workspace);
    } catch (err) {
      log.warn({ event: 'record_failed', pid, err: errorMessage(err) }, 'could not record the running job; a crash of this daemon would leave it running');
    }
  }

  /** The finalize step's environment, and its folder filled with the batch's results. */
  private finalizeStep(a: Assign, log: Logger): { env: Record<string, string>; prepare: (paths: AttemptPaths) => Promise<void> } {
    const ended = a.finalize!;
    return {
      env: { DISTRIBUTE_JOBS_DONE: String(ended.done), DISTRIBUTE_JOBS_FAILED: String(ended.failed) },
      prepare: async (paths) => {
        const started = Date.now();
        const got = await this.o.inputs.batchResults(a.attempt, join(paths.input, RESULTS_FOLDER));
        log.info({ event: 'finalize_inputs', files: got.files, skipped: got.skipped, ms: Date.now() - started }, "the batch's results are in place for its finalize step");
      },
    };
  }

  /** From `assign` to the result in the spool: inputs, the batch's build, the run, the report. */
  private async carry(h: Held): Promise<void> {
    const a = h.assign;
    const log = this.o.logger.child({ attempt: a.attempt, namespace: a.namespace, batch: a.batch, job: a.job.name });
    const inputs = await this.fetchInputs(a);
    let error = inputs.error;
    if (error === null && h.end === null) error = await this.buildFor(h, inputs.local);
    const result = error !== null || h.end !== null
      ? await writeUnstartedResult(h.paths, a, this.o.node, error ?? `cancelled before it started: ${h.end!.reason}`, error === null)
      : await this.run(h, inputs.local, log);
    await this.report(h, result, log);
  }

  /** The job's input files in the node's cache, by hash; or why they could not be had. */
  private async fetchInputs(a: Assign): Promise<{ local: Map<string, string>; error: string | null }> {
    try {
      const files = filesOf(a);
      const paths = await Promise.all(files.map((f) => this.o.inputs.get(f.hash)));
      return { local: new Map(files.map((f, i) => [f.hash, paths[i]!])), error: null };
    } catch (err) {
      return { local: new Map(), error: `${a.job.name}: ${errorMessage(err)}` };
    }
  }

  /** The batch's initialize step, once per batch on this node; why the job cannot run when it failed. */
  private async buildFor(h: Held, local: Map<string, string>): Promise<string | null> {
    const a = h.assign;
    const build = await this.builds.get(a.batchId, () => ({
      batch: runnerBatch(a, local),
      workDir: this.o.workDir,
      ...buildInputs(a, local),
      cpus: a.cpus,
      logger: this.o.logger,
      ...(this.o.killGraceMs !== undefined ? { killGraceMs: this.o.killGraceMs } : {}),
      sandbox: this.o.sandbox ?? null,
      ...(this.o.containment ? { containment: this.o.containment } : {}),
    }));
    // a build killed because the daemon stops did not fail: the job is handed back
    if (build.ok || (build.cancelled && h.end !== null)) return null;
    const detail = await describeFailedBuild(build);
    this.o.send({ type: 'build_failed', batchId: a.batchId, attempt: a.attempt, log: detail });
    return `the initialize step of ${a.namespace}/${a.batch} failed on node ${this.o.node}: ${detail}`;
  }

  /** Starts the job's process (it may wait in the launcher for room), reports `started`, awaits its end. */
  private async run(h: Held, local: Map<string, string>, log: Logger): Promise<AttemptResult> {
    const a = h.assign;
    const workspaceReady = this.o.pool?.take(h.paths) ?? false;
    const run = startAttempt({
      workspaceReady,
      env: this.env,
      // `assigned`, `started` and `finished` below say it; the runner's lines would repeat them
      quiet: true,
      batch: runnerBatch(a, local),
      job: runnerJob(a, local),
      attempt: a.attemptNumber,
      workDir: this.o.workDir,
      node: this.o.node,
      cpus: a.cpus,
      gpus: a.gpus,
      inputs: attemptInputs(a, local),
      jobFile: a.job.file ? (local.get(a.job.file.hash) ?? null) : null,
      logger: this.o.logger,
      ...(this.o.killGraceMs !== undefined ? { killGraceMs: this.o.killGraceMs } : {}),
      sandbox: this.o.sandbox ?? null,
      ...(this.o.spawn ? { spawn: this.o.spawn } : {}),
      ...(this.o.containment ? { containment: this.o.containment } : {}),
      // a job assigned ahead is prepared, then waits in the launcher until the jobs before it leave room
      need: { cpus: a.cpus, memory: a.job.resources.memory },
      ...(a.finalize ? { finalize: this.finalizeStep(a, log) } : {}),
    });
    h.run = run;
    const unwatch = this.o.watch?.(a.attempt, `${a.namespace}/${a.batch}/${a.job.name}`, run);
    h.state = 'running';
    if (h.end !== null) run.cancel(h.end.reason);
    h.waiting = true;
    const pid = await run.started;
    h.waiting = false;
    if (pid !== null) {
      this.recordRunning(a.attempt, pid, h.paths.root, log);
      this.o.send({ type: 'started', attempt: a.attempt, pid });
      log.info({ event: 'started', pid }, 'job started');
    }
    const result = await run.done;
    // the runner killed what was left of the group when its leader exited
    if (pid !== null) this.records.forget(a.attempt);
    unwatch?.();
    return result;
  }

  /** Tells the head the attempt ended (unless dropped) and spools its result, or discards it (see `End`). */
  private async report(h: Held, result: AttemptResult, log: Logger): Promise<void> {
    const a = h.assign;
    const end = h.end?.kind ?? null;
    if (end === 'return') {
      // the head queued it again at `vacated`: say the process is gone, keep no result
      log.info({ event: 'returned', reason: h.end!.reason }, 'job handed back to the head');
      this.o.send({ type: 'finished', attempt: a.attempt, exitCode: result.exit_code, signal: result.signal, timedOut: result.timed_out, cancelled: true, error: null });
      await this.o.spool.discard(a.attempt, h.paths.root);
      this.held.delete(a.attempt);
      return;
    }
    h.state = 'packing';
    const finished: NodeMessage = {
      type: 'finished',
      attempt: a.attempt,
      exitCode: result.exit_code,
      signal: result.signal,
      timedOut: result.timed_out,
      cancelled: result.cancelled,
      // `error` fails the job at once (it never ran); an out-of-memory end is judged from its result.json
      error: result.out_of_memory ? null : result.error,
    };
    log.info({ event: 'finished', exit_code: result.exit_code, signal: result.signal, timed_out: result.timed_out, cancelled: result.cancelled, error: result.error }, 'job finished');
    if (end !== 'drop' && !this.o.send(finished)) this.unsent.set(a.attempt, finished);
    if (end === 'drop' || end === 'vacate') await this.o.spool.discard(a.attempt, h.paths.root);
    else await this.o.spool.submit(a.attempt, h.paths.root);
    this.held.delete(a.attempt);
  }
}
