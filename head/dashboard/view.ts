// What the dashboard shows one viewer, read from the store in one go: nodes with their state,
// what they hold and run; batches with counts per state and their latest failures; and,
// when the page shows one batch, that batch's jobs through the page's filter. An admin sees
// every namespace; a user only the namespaces they own — other users' jobs on a node are
// only counted, never named. This is the payload of every push (events.ts) as well.
import { JobState, type NodeState } from '../../shared/protocol/common.js';
import type { StatusBatch } from '../../shared/protocol/api.js';
import { batchState } from '../api/status.js';
import { nodeState } from '../api/nodes.js';
import { snapshotNode } from '../snapshot.js';
import type { Principal } from '../tokens.js';
import { LOADING_NAMESPACE, type AttemptState, type Store } from '../store.js';
import { latestSample } from '../usage/query.js';
import { waitedNames, waitingOn, type WaitingOn } from '../dependencies.js';
import { isOutOfMemory, peakOfAsked, rightSizingHint, type MemoryUse } from '../../shared/memory-fit.js';
import { formatMeasuredSize, formatSlurmSize } from '../../shared/spec/units.js';

const JOB_STATES = JobState.options;
export type Counts = Record<JobState, number>;

/** Batches on the overview, newest first; older ones are counted. */
export const OVERVIEW_BATCHES = 50;
/** Failures listed per batch on the overview (the batch page lists them all). */
export const FAILURES_PER_BATCH = 5;
/** Jobs sent for one batch page at most; the page says how many more match its filter. */
export const MAX_JOBS = 500;
/** Attempts drawn in one batch's timeline at most (the first to start); the page says how many more. */
export const MAX_TIMELINE = 2000;

export interface RunningJob {
  namespace: string;
  batch: string;
  job: string;
  attempt: number;
}

export interface NodeView {
  name: string;
  state: NodeState;
  capabilities: string[];
  /** what the node offers (memory in bytes) */
  resources: { cpus: number; memory: number; gpus: number };
  /** what its live attempts hold */
  used: { cpus: number; memory: number; gpus: number };
  maxJobs: number | null;
  running: RunningJob[];
  /** jobs of namespaces this viewer may not see */
  hiddenRunning: number;
  lastSeen: number;
}

export interface FailureView {
  job: string;
  node: string | null;
  attempt: number;
  exitCode: number | null;
  signal: string | null;
  /** why it could not start or was given up (missing input, lost its node N times) */
  error: string | null;
  /** last lines of `_distribute/stderr.log`; null = none archived; undefined = being read */
  stderrTail?: string | null;
}

export interface BatchView {
  namespace: string;
  name: string;
  owner: string;
  state: StatusBatch['state'];
  created: number;
  total: number;
  counts: Counts;
  failures: FailureView[];
}

export interface JobView {
  name: string;
  state: JobState;
  node: string | null;
  attempt: number;
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  started: number | null;
  ended: number | null;
  /** queued and waiting for other jobs (after:, or the finalize step for the whole batch) */
  waiting: boolean;
  /** what it waits for, as the page's label says it (`mesh`, `every other job (3 still to end)`); null when not waiting */
  waitingFor: string | null;
  /** the batch's finalize step */
  finalize: boolean;
  /** peak memory of its last archived attempt against what that attempt asked, as the page's bar draws it */
  memory: JobMemory;
}

/**
 * A job's memory bar: `asked` and `peak` in bytes, of its last archived attempt (before one,
 * `asked` is what the job asks now and `peak` null); `outOfMemory` when that attempt was
 * killed at its limit. `text` is shown beside the bar, `label` says it all in words.
 */
export interface JobMemory extends MemoryUse {
  outOfMemory: boolean;
  /** `212.3M / 1G`, as `distribute status` prints it */
  text: string;
  /** `peak 212.3M of 1G asked (21%)`, `not measured (1G asked)`, `out of memory: peak 100.0M of 100M asked (100%)` */
  label: string;
}

export interface JobFilter {
  state: JobState | null;
  /** substring of the job name, case-insensitive */
  text: string;
  limit: number;
}

/** How an attempt ended, as the timeline colours it. */
export type Outcome = 'ok' | 'failed' | 'lost' | 'cancelled' | 'refused' | 'running';

/** One bar of the batch timeline: an attempt that started, from start to end (or now). */
export interface AttemptBar {
  job: string;
  attempt: number;
  node: string;
  started: number;
  /** null while it runs */
  ended: number | null;
  outcome: Outcome;
  /** an attempt of the batch's finalize step */
  finalize: boolean;
}

/** The batch's waiting jobs, as the timeline's last lane shows them. */
export interface WaitingLane {
  /** queued jobs that wait for others (after:), the finalize step not counted */
  jobs: number;
  /** the first few of their names */
  first: string[];
  /** the finalize step waits for every other job to end */
  finalize: boolean;
}

export interface BatchDetail extends BatchView {
  filter: JobFilter;
  /** jobs matching the filter (the page gets at most `filter.limit` of them) */
  matching: number;
  jobs: JobView[];
  /** every started attempt of the batch, whatever the filter, oldest start first (at most MAX_TIMELINE) */
  attempts: AttemptBar[];
  /** started attempts in all */
  attemptCount: number;
  waiting: WaitingLane;
  /** how the batch's measured jobs' peak memory compares with what they asked, whatever the filter (`status BATCH`'s line); null when none is measured */
  memoryHint: string | null;
}

export interface DashboardView {
  viewer: { name: string; admin: boolean };
  nodes: NodeView[];
  batches: BatchView[];
  /** visible batches older than the ones listed */
  olderBatches: number;
  /** present when the page asked for one batch; null when it is not there (or not the viewer's) */
  batch?: BatchDetail | null;
  /** start of the newest utilisation sample: the page fetches /v1/usage again when it moves */
  usageAt: number | null;
}

/** Where the stderr tail of a failed attempt comes from (tails.ts): by attempt, for caching. */
export interface TailSource {
  tail(attempt: number, namespace: string, batch: string, job: string): string | null | undefined;
}

interface BatchRow {
  id: number;
  namespace: string;
  name: string;
  owner: string;
  created: number;
}

/** Batches whose right-sizing line is kept between pushes (the ones pages look at). */
const KEPT_HINTS = 64;
/** A batch's right-sizing line is computed again no sooner than this many times its last computation took. */
export const HINT_SPACING = 20;

interface KeptHint {
  key: string;
  hint: string | null;
  /** when it was computed (performance.now()) and how long that took, ms */
  at: number;
  took: number;
  /** a push asked for once it may be computed again */
  timer?: NodeJS.Timeout;
}

export class ViewBuilder {
  /** the right-sizing line per batch id, with the key it was computed for (memoryHint) */
  private readonly hints = new Map<number, KeptHint>();

  constructor(
    private readonly store: Store,
    private readonly tails: TailSource,
    /** nodes with a live session; the others show as lost */
    private readonly connected: () => ReadonlySet<string>,
    /** asks for a push: a kept right-sizing line is due to be computed again */
    private readonly changed?: () => void,
  ) {}

  /** The overview, plus one batch when `batch` names one. */
  build(viewer: Principal, batch?: { namespace: string; name: string; filter: JobFilter }): DashboardView {
    const visible = this.visibility(viewer);
    const view: DashboardView = {
      viewer: { name: viewer.name, admin: viewer.admin },
      nodes: this.nodes(visible),
      ...this.batches(visible),
      usageAt: latestSample(this.store),
    };
    if (batch) view.batch = this.detail(visible, batch.namespace, batch.name, batch.filter);
    return view;
  }

  private visibility(viewer: Principal): Visibility {
    if (viewer.admin) return { all: true };
    const names = this.store.stmt<{ name: string }>('SELECT name FROM namespaces WHERE owner = ?').all(viewer.name);
    return { all: false, owner: viewer.name, namespaces: new Set(names.map((n) => n.name)) };
  }

  private nodes(visible: Visibility): NodeView[] {
    const connected = this.connected();
    const running = this.store.stmt<RunningJob>(
      `SELECT b.namespace, b.name AS batch, j.name AS job, a.number AS attempt
         FROM attempts a JOIN jobs j ON j.id = a.job_id JOIN batches b ON b.id = j.batch_id
        WHERE a.node = ? AND a.state IN ('assigned', 'running')
        ORDER BY a.id`,
    );
    return this.store.nodes().map((row) => {
      // what the scheduler counts as held, so the page and placement agree
      const held = snapshotNode(this.store, row, connected.has(row.name));
      const jobs = running.all(row.name);
      const mine = jobs.filter((j) => canSee(visible, j.namespace));
      return {
        name: row.name,
        state: nodeState(row, connected.has(row.name), jobs.length),
        capabilities: [...held.capabilities],
        resources: { cpus: held.total.cpus, memory: held.total.memory, gpus: held.total.gpus },
        used: { cpus: held.used.cpus, memory: held.used.memory, gpus: held.used.gpus.length },
        maxJobs: row.max_jobs,
        running: mine,
        hiddenRunning: jobs.length - mine.length,
        lastSeen: row.last_seen,
      };
    });
  }

  private batches(visible: Visibility): { batches: BatchView[]; olderBatches: number } {
    const rows = !visible.all
      ? this.store
          .stmt<BatchRow>(
            `SELECT b.id, b.namespace, b.name, b.owner, b.created FROM batches b JOIN namespaces n ON n.name = b.namespace
              WHERE n.owner = ? ORDER BY b.id DESC LIMIT ?`,
          )
          .all(visible.owner, OVERVIEW_BATCHES + 1)
      : this.store.stmt<BatchRow>(`SELECT id, namespace, name, owner, created FROM batches WHERE namespace != '${LOADING_NAMESPACE}' ORDER BY id DESC LIMIT ?`).all(OVERVIEW_BATCHES + 1);
    const shown = rows.slice(0, OVERVIEW_BATCHES);
    let olderBatches = 0;
    if (rows.length > OVERVIEW_BATCHES) {
      const total = !visible.all
        ? this.store
            .stmt<{ n: number }>('SELECT COUNT(*) AS n FROM batches b JOIN namespaces n ON n.name = b.namespace WHERE n.owner = ?')
            .get(visible.owner)!.n
        : this.store.stmt<{ n: number }>(`SELECT COUNT(*) AS n FROM batches WHERE namespace != '${LOADING_NAMESPACE}'`).get()!.n;
      olderBatches = total - shown.length;
    }
    return { batches: shown.map((b) => this.summary(b)), olderBatches };
  }

  private summary(b: BatchRow): BatchView {
    // one count per state: each walks the covering index jobs_queue (state, batch_id, ...)
    // without touching the table, several times faster than a GROUP BY over the batch's rows
    const count = this.store.stmt<{ n: number }>('SELECT COUNT(*) AS n FROM jobs WHERE state = ? AND batch_id = ?');
    const counts = Object.fromEntries(JOB_STATES.map((s) => [s, count.get(s, b.id)!.n])) as Counts;
    const total = JOB_STATES.reduce((sum, s) => sum + counts[s], 0);
    const failures = counts.failed === 0 ? [] : this.failures(b);
    return { namespace: b.namespace, name: b.name, owner: b.owner, state: batchState(counts), created: b.created, total, counts, failures };
  }

  /** The latest failures of a batch, each with the tail of its stderr. */
  private failures(b: BatchRow): FailureView[] {
    const rows = this.store
      .stmt<{ job: string; node: string | null; exit_code: number | null; error: string | null; attempt_id: number | null; attempt: number | null; attempt_state: string | null; signal: string | null; attempt_count: number }>(
        `SELECT j.name AS job, j.node, j.exit_code, j.error, j.current_attempt AS attempt_id, a.number AS attempt, a.state AS attempt_state, a.signal, j.attempt_count
           FROM jobs j LEFT JOIN attempts a ON a.id = j.current_attempt
          WHERE j.state = 'failed' AND j.batch_id = ?
          ORDER BY COALESCE(a.ended, 0) DESC, j.id DESC LIMIT ?`,
      )
      .all(b.id, FAILURES_PER_BATCH);
    return rows.map((r) => ({
      job: r.job,
      node: r.node,
      attempt: r.attempt ?? r.attempt_count,
      exitCode: r.exit_code,
      signal: r.signal,
      error: r.error,
      // only an attempt whose own result was archived has its stderr there (an older
      // attempt's archive may still lie at the same path)
      stderrTail: r.attempt_id !== null && r.attempt_state === 'archived' ? this.tails.tail(r.attempt_id, b.namespace, b.name, r.job) : null,
    }));
  }

  private detail(visible: Visibility, namespace: string, name: string, filter: JobFilter): BatchDetail | null {
    if (!canSee(visible, namespace)) return null;
    const row = this.store.stmt<BatchRow>('SELECT id, namespace, name, owner, created FROM batches WHERE namespace = ? AND name = ?').get(namespace, name);
    if (!row) return null;
    const where = ['j.batch_id = ?'];
    const args: unknown[] = [row.id];
    if (filter.state) {
      where.push('j.state = ?');
      args.push(filter.state);
    }
    if (filter.text) {
      where.push(`j.name LIKE ? ESCAPE '\\'`);
      args.push(`%${filter.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    }
    const cond = where.join(' AND ');
    const matching = this.store.stmt<{ n: number }>(`SELECT COUNT(*) AS n FROM jobs j WHERE ${cond}`).get(...args)!.n;
    const jobs = this.store
      .stmt<{ id: number; batch_id: number; name: string; state: JobState; node: string | null; exit_code: number | null; error: string | null; attempt: number | null; attempt_count: number; signal: string | null; started: number | null; ended: number | null; blocked: number; finalize: number; shape_id: number }>(
        `SELECT j.id, j.batch_id, j.name, j.state, j.node, j.exit_code, j.error, j.attempt_count, a.number AS attempt, a.signal, a.started, a.ended, j.blocked, j.finalize, j.shape_id
           FROM jobs j LEFT JOIN attempts a ON a.id = j.current_attempt
          WHERE ${cond} ORDER BY j.id LIMIT ?`,
      )
      .all(...args, filter.limit)
      .map((j) => ({
        name: j.name,
        state: j.state,
        node: j.node,
        attempt: j.attempt ?? j.attempt_count,
        exitCode: j.exit_code,
        signal: j.signal,
        error: j.error,
        started: j.started,
        ended: j.ended,
        waiting: j.state === 'queued' && j.blocked === 1,
        waitingFor: j.state === 'queued' ? waitingLabel(waitingOn(this.store, j)) : null,
        finalize: j.finalize === 1,
        memory: this.jobMemory(j.id, j.shape_id),
      }));
    const summary = this.summary(row);
    const timeline = this.timeline(row.id);
    return { ...summary, filter, matching, jobs, ...timeline, memoryHint: this.memoryHint(row.id, `${JSON.stringify(summary.counts)}/${timeline.attemptCount}`) };
  }

  /**
   * One shown job's memory bar. Looked up per job after the page's LIMIT (joined into the
   * jobs query, SQLite would look up every job of the batch before sorting them).
   */
  private jobMemory(jobId: number, shapeId: number): JobMemory {
    const m = this.store
      .stmt<{ asked: number | null; peak: number | null; error: string | null }>(
        `SELECT memory AS asked, peak_memory AS peak, error FROM attempts WHERE job_id = ? AND state = 'archived' ORDER BY id DESC LIMIT 1`,
      )
      .get(jobId);
    if (m) return jobMemory({ asked: m.asked, peak: m.peak }, isOutOfMemory(m.error));
    const asks = this.store.stmt<{ memory: number | null }>('SELECT memory FROM shapes WHERE id = ?').get(shapeId)?.memory ?? null;
    return jobMemory({ asked: asks, peak: null }, false);
  }

  /**
   * The right-sizing line over every job of the batch, its rows streamed through the shared
   * computation. That walks the whole batch (about 0.2 s at 100,000 jobs), so the line is kept
   * per batch until `key` moves (the batch's counts per state and its started attempts, which
   * change whenever an attempt is archived with its usage: its job leaves `running`), and a
   * batch is walked again no sooner than HINT_SPACING times its last walk took: a page
   * watching a huge running batch costs the head a few per cent, not every push. A line kept
   * past its key is replaced by a push once the walk is due, so the page does not end stale.
   */
  private memoryHint(batchId: number, key: string): string | null {
    const kept = this.hints.get(batchId);
    if (kept?.key === key) return kept.hint;
    const now = performance.now();
    if (kept && now < kept.at + HINT_SPACING * kept.took) {
      if (!kept.timer && this.changed) {
        const changed = this.changed;
        kept.timer = setTimeout(() => {
          kept.timer = undefined;
          changed();
        }, kept.at + HINT_SPACING * kept.took - now); // close() clears it
      }
      return kept.hint;
    }
    const rows = this.store
      .stmt<MemoryUse>(
        `SELECT m.memory AS asked, m.peak_memory AS peak FROM jobs j JOIN attempts m ON m.id = (${LAST_ARCHIVED})
          WHERE j.batch_id = ? AND m.peak_memory IS NOT NULL`,
      )
      .iterate(batchId);
    const hint = rightSizingHint(rows);
    this.forget(batchId);
    if (this.hints.size >= KEPT_HINTS) this.forget(this.hints.keys().next().value!);
    this.hints.set(batchId, { key, hint, at: now, took: performance.now() - now });
    return hint;
  }

  private forget(batchId: number): void {
    clearTimeout(this.hints.get(batchId)?.timer);
    this.hints.delete(batchId);
  }

  /** Drops the kept lines and their pending pushes. */
  close(): void {
    for (const id of [...this.hints.keys()]) this.forget(id);
  }

  private timeline(batchId: number): { attempts: AttemptBar[]; attemptCount: number; waiting: WaitingLane } {
    const started = `FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.batch_id = ? AND a.started IS NOT NULL`;
    const attemptCount = this.store.stmt<{ n: number }>(`SELECT COUNT(*) AS n ${started}`).get(batchId)!.n;
    const attempts = this.store
      .stmt<{ job: string; attempt: number; node: string; state: AttemptState; started: number; ended: number | null; exit_code: number | null; signal: string | null; finalize: number }>(
        `SELECT j.name AS job, a.number AS attempt, a.node, a.state, a.started, a.ended, a.exit_code, a.signal, j.finalize ${started} ORDER BY a.started, a.id LIMIT ?`,
      )
      .all(batchId, MAX_TIMELINE)
      .map((a) => ({ job: a.job, attempt: a.attempt, node: a.node, started: a.started, ended: a.ended, outcome: outcomeOf(a), finalize: a.finalize === 1 }));
    // the jobs_blocked index serves both reads
    const blocked = `FROM jobs WHERE batch_id = ? AND state = 'queued' AND blocked = 1`;
    const waitingJobs = this.store.stmt<{ n: number }>(`SELECT COUNT(*) AS n ${blocked} AND finalize = 0`).get(batchId)!.n;
    const first = waitingJobs === 0 ? [] : this.store.stmt<{ name: string }>(`SELECT name ${blocked} AND finalize = 0 ORDER BY id LIMIT 5`).all(batchId).map((r) => r.name);
    const finalize = this.store.stmt<{ n: number }>(`SELECT COUNT(*) AS n ${blocked} AND finalize = 1`).get(batchId)!.n > 0;
    return { attempts, attemptCount, waiting: { jobs: waitingJobs, first, finalize } };
  }
}

/** A job's measured attempt: its last archived one, as `distribute status` reports usage. */
const LAST_ARCHIVED = `SELECT MAX(id) FROM attempts WHERE job_id = j.id AND state = 'archived'`;

function jobMemory(u: MemoryUse, outOfMemory: boolean): JobMemory {
  const { asked, peak } = u;
  const ask = asked === null ? null : formatSlurmSize(asked);
  let label =
    peak === null ? (ask === null ? 'not measured' : `not measured (${ask} asked)`)
    : ask === null ? `peak ${formatMeasuredSize(peak)}, no memory asked`
    : `peak ${formatMeasuredSize(peak)} of ${ask} asked (${Math.round((100 * peak) / asked!)}%)`;
  if (outOfMemory) label = `out of memory: ${label}`;
  return { asked, peak, outOfMemory, text: peakOfAsked(u), label };
}

/** `mesh`, `every other job (3 still to end)`: what follows "waiting for" on the page. */
function waitingLabel(w: WaitingOn | null): string | null {
  if (!w) return null;
  return w.finalize ? `every other job (${w.left} still to end)` : waitedNames(w);
}

function outcomeOf(a: { state: AttemptState; exit_code: number | null; signal: string | null }): Outcome {
  switch (a.state) {
    case 'assigned':
    case 'running':
      return 'running';
    case 'finished':
    case 'archived':
      return a.exit_code === 0 && !a.signal ? 'ok' : 'failed';
    default:
      return a.state;
  }
}

/** What one viewer may see: everything (admin), or the namespaces one user owns. */
type Visibility = { all: true } | { all: false; owner: string; namespaces: Set<string> };

function canSee(v: Visibility, namespace: string): boolean {
  return v.all || v.namespaces.has(namespace);
}
