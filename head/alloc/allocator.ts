// The allocation queues at work: for each queue of head.yaml's `allocations:`, every `poll`
// and soon after each scheduling request, (1) ask the batch system which of its pilots it
// still lists, ending (token revoked, folder cleaned) those it no longer does, (2) weigh the
// jobs that wait (decide.ts) and submit the pilots they want. Failed submissions back off,
// doubling, and after `max_failures` in a row pause the queue until an admin resumes it.
// One pass per queue at a time; the event loop never waits on a batch-system command.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AllocationConfig } from '../../shared/config.js';
import { newToken } from '../../shared/auth.js';
import { errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { NodeLink } from '../node-link.js';
import type { BatchCache } from '../snapshot.js';
import type { Store } from '../store.js';
import { decide, pilotMisfit, type PilotShape, type WaitingGroup } from './decide.js';
import { labNodes, waitingForPilots } from './demand.js';
import { endPilot, forgetEndedNodes, livePilots, noteError, queueRow, recordPilot, setPilotConnected, setPilotRunning, setQueuePaused, submissionFailed, type PilotRow } from './records.js';
import { jobName, pilotScript } from './script.js';
import { Slurm, type BatchSystem } from './slurm.js';
import { drainMarginMs } from './time-left.js';

export interface AllocatorDeps {
  store: Store;
  batches: BatchCache;
  nodes: NodeLink;
  log: Logger;
  queues: readonly AllocationConfig[];
  stateDir: string;
  /** the head's URL as pilots dial it, unless a queue says otherwise */
  headUrl: string;
  /** asks for a scheduling pass (a pilot's time became known) */
  schedule(): void;
  /** the batch system of a queue; default Slurm through its submit_prefix */
  system?: (q: AllocationConfig) => BatchSystem;
}

/** The built CLI beside this file: what a pilot runs unless the queue names a command. */
const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export function queueDir(stateDir: string, q: AllocationConfig): string {
  return resolve(q.dir ?? join(stateDir, 'allocations', q.name));
}

export function pilotShape(q: AllocationConfig): PilotShape {
  return {
    queue: q.name,
    capabilities: q.capabilities,
    cpus: q.resources.cpus,
    memory: q.resources.memory ?? null,
    gpus: q.resources.gpus,
    usableSeconds: (q.time_limit - drainMarginMs(q.time_limit)) / 1000,
  };
}

interface QueueRun {
  config: AllocationConfig;
  system: BatchSystem;
  dir: string;
  busy: boolean;
  again: boolean;
  timer: NodeJS.Timeout | null;
}

export class Allocator {
  private readonly runs: QueueRun[];
  private stopped = false;
  private nudged: NodeJS.Timeout | null = null;

  constructor(private readonly d: AllocatorDeps) {
    this.runs = d.queues.map((config) => ({
      config,
      system: d.system ? d.system(config) : new Slurm(config.submit_prefix),
      dir: queueDir(d.stateDir, config),
      busy: false,
      again: false,
      timer: null,
    }));
  }

  get queues(): readonly AllocationConfig[] {
    return this.d.queues;
  }

  start(): void {
    for (const r of this.runs) {
      mkdirSync(r.dir, { recursive: true, mode: 0o700 });
      queueRow(this.d.store, r.config.name);
      this.pass(r);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.nudged) clearTimeout(this.nudged);
    for (const r of this.runs) if (r.timer) clearTimeout(r.timer);
  }

  /**
   * On every scheduling request: pilots that just joined get their end (so the pass about to
   * run sees their time left), and a pass of every queue follows shortly.
   */
  nudge(): void {
    if (this.stopped || this.runs.length === 0) return;
    this.noteJoined();
    if (this.nudged) return;
    // after the scheduling pass of this turn: the jobs it places are no longer waiting
    this.nudged = setTimeout(() => {
      this.nudged = null;
      for (const r of this.runs) this.pass(r);
    }, 100);
  }

  setPaused(name: string, paused: boolean): boolean {
    const r = this.runs.find((x) => x.config.name === name);
    if (!r) return false;
    setQueuePaused(this.d.store, name, paused);
    this.d.log.info({ event: paused ? 'allocation_paused' : 'allocation_resumed', queue: name }, paused ? 'allocation queue paused' : 'allocation queue resumed');
    if (!paused) this.pass(r);
    return true;
  }

  /** Why pilots do not take jobs of this group: null when some queue's pilots could. */
  explain(group: Omit<WaitingGroup, 'count'>): { queue: string | null; text: string } {
    const why: string[] = [];
    for (const r of this.runs) {
      const misfit = pilotMisfit(pilotShape(r.config), group);
      if (misfit === null) {
        const q = queueRow(this.d.store, r.config.name);
        const live = livePilots(this.d.store, r.config.name);
        const coming = live.filter((p) => p.connected === null).length;
        if (q.paused) return { queue: r.config.name, text: `allocation queue ${r.config.name} is paused (${q.paused === 'admin' ? 'by an admin' : `after ${q.failures} failed submissions: ${q.last_error ?? ''}`})` };
        return { queue: r.config.name, text: `waiting for a pilot of allocation queue ${r.config.name} (${live.length} of at most ${r.config.max_pilots} submitted, ${coming} not started yet)` };
      }
      why.push(`queue ${r.config.name}: ${misfit}`);
    }
    return { queue: null, text: `no allocation queue can take it: ${why.join('; ')}` };
  }

  private noteJoined(): void {
    const connected = this.d.nodes.connected();
    const fresh = this.d.store.stmt<{ node: string; queue: string }>(`SELECT node, queue FROM pilots WHERE state <> 'ended' AND connected IS NULL`).all();
    for (const p of fresh) {
      if (!connected.has(p.node)) continue;
      const q = this.runs.find((r) => r.config.name === p.queue)?.config;
      if (!q) continue;
      const now = this.d.store.now();
      setPilotConnected(this.d.store, p.node, now);
      // the walltime began before the hello: squeue's time left tightens this at the next poll
      setPilotRunning(this.d.store, p.node, now + q.time_limit, now + q.time_limit - drainMarginMs(q.time_limit));
      this.d.log.info({ event: 'pilot_joined', queue: q.name, node: p.node }, 'pilot joined');
    }
  }

  private pass(r: QueueRun): void {
    if (this.stopped) return;
    if (r.busy) {
      r.again = true;
      return;
    }
    r.busy = true;
    if (r.timer) clearTimeout(r.timer);
    r.timer = null;
    void this.passOnce(r)
      .catch((err) => this.d.log.error({ event: 'allocation_pass_failed', queue: r.config.name, err: errorMessage(err) }, 'allocation pass failed'))
      .finally(() => {
        r.busy = false;
        if (this.stopped) return;
        if (r.again) {
          r.again = false;
          this.pass(r);
        } else r.timer = setTimeout(() => this.pass(r), r.config.poll);
      });
  }

  private async passOnce(r: QueueRun): Promise<void> {
    const { store, log } = this.d;
    const q = r.config;
    await this.poll(r);
    if (this.stopped) return;
    this.noteJoined();

    const row = queueRow(store, q.name);
    const now = store.now();
    const live = livePilots(store, q.name);
    const held = row.paused !== null || (row.retry_at !== null && now < row.retry_at);
    const waiting = waitingForPilots(store, this.d.batches, labNodes(store, this.d.nodes.connected()));
    const decision = decide(pilotShape(q), waiting, { maxPilots: q.max_pilots, live: live.length, coming: live.filter((p) => p.connected === null).length, held });
    for (let i = 0; i < decision.submit && !this.stopped; i++) {
      if (!(await this.submit(r))) break;
    }
    if (decision.submit > 0) log.info({ event: 'allocation_pass', queue: q.name, wanted: decision.wanted, submitted: decision.submit, live: live.length }, 'pilots submitted');
  }

  /** Asks the batch system which pilots it still lists; the others have ended. */
  private async poll(r: QueueRun): Promise<void> {
    const { store, log } = this.d;
    const q = r.config;
    const live = livePilots(store, q.name);
    let listed;
    try {
      listed = await r.system.list(jobName(q.name));
    } catch (err) {
      noteError(store, q.name, `squeue: ${errorMessage(err)}`);
      log.warn({ event: 'allocation_poll_failed', queue: q.name, err: errorMessage(err) }, 'could not list the pilots');
      return;
    }
    const now = store.now();
    let joined = false;
    for (const p of live) {
      const s = listed.get(p.job_id);
      if (!s) {
        this.ended(r, p);
        continue;
      }
      if (s.state === 'RUNNING' && s.timeLeft !== null) {
        const endsAt = now + s.timeLeft * 1000;
        setPilotRunning(store, p.node, endsAt, endsAt - drainMarginMs(q.time_limit));
        joined ||= p.usable_until === null;
      }
    }
    forgetEndedNodes(store, this.d.nodes.connected());
    this.clean(r);
    if (joined) this.d.schedule();
  }

  private ended(r: QueueRun, p: PilotRow): void {
    const { store, log } = this.d;
    let reason = p.connected === null ? 'ended without joining the head' : 'ended';
    if (p.connected === null) {
      // counted as a failed submission: a script that cannot start a pilot must not be resubmitted forever
      const tail = readTail(join(r.dir, `slurm-${p.job_id}.out`));
      if (tail) reason += `: ${tail}`;
      submissionFailed(store, r.config.name, `pilot ${p.node} ${reason}`, r.config.backoff, r.config.max_failures);
    }
    endPilot(store, p.node, reason);
    log.info({ event: 'pilot_ended', queue: r.config.name, node: p.node, job_id: p.job_id, reason }, 'pilot ended');
  }

  /** Removes what ended pilots left in the queue's folder (and anything not of a live pilot). */
  private clean(r: QueueRun): void {
    const live = new Set(livePilots(this.d.store, r.config.name).map((p) => p.job_id));
    let names: string[];
    try {
      names = readdirSync(r.dir);
    } catch {
      return;
    }
    for (const name of names) {
      // pilot-<id>/ (its config and work dir), pilot-<id>.sh (the script), slurm-<id>.out (its log)
      const id = /^(?:pilot-(\d+)(?:\.sh)?|slurm-(\d+)\.out)$/.exec(name);
      const jobId = id?.[1] ?? id?.[2];
      if (jobId && live.has(jobId)) continue;
      rmSync(join(r.dir, name), { recursive: true, force: true });
    }
  }

  /** One submission; false when it failed (the queue then backs off). */
  private async submit(r: QueueRun): Promise<boolean> {
    const { store, log } = this.d;
    const q = r.config;
    const token = newToken();
    const script = pilotScript({ queue: q, dir: r.dir, headUrl: q.head_url ?? this.d.headUrl, token, command: q.command ?? [process.execPath, CLI] });
    let jobId: string;
    try {
      jobId = await r.system.submit(script);
    } catch (err) {
      const after = submissionFailed(store, q.name, `sbatch: ${errorMessage(err)}`, q.backoff, q.max_failures);
      log.warn({ event: 'pilot_submit_failed', queue: q.name, failures: after.failures, paused: after.paused, err: errorMessage(err) }, after.paused ? 'pilot submission failed; queue paused' : 'pilot submission failed; backing off');
      return false;
    }
    const node = recordPilot(store, q.name, jobId, token);
    // a copy of what was submitted, without the token
    writeFileSync(join(r.dir, `pilot-${jobId}.sh`), script.replace(token, '<token>'), { mode: 0o600 });
    log.info({ event: 'pilot_submitted', queue: q.name, node, job_id: jobId }, 'pilot submitted');
    return true;
  }
}

function readTail(file: string): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.trim().split('\n').slice(-3).join(' ').slice(-500);
  } catch {
    return '';
  }
}
