// What a pull selects, answered from the archive index alone (no tarball is opened): the
// members of the batch's finished jobs (done or failed, with an archive) that the rules keep,
// or the members a client names explicitly. Jobs still queued, assigned, running or paused are
// counted as unfinished: their results are still to come. A job requeued by `retry` counts as
// unfinished too, though its previous archive is still on disk until the new one replaces it.
import type { PlannedMember, PullPlan } from '../shared/protocol/api.js';
import type { CompiledRules } from '../shared/pull-rules.js';
import type { BatchRow, Store } from './store.js';

const FINISHED = "('done', 'failed')";
const UNFINISHED = new Set(['queued', 'assigned', 'running', 'paused']);

interface MemberRow {
  job: string;
  path: string;
  size: number;
  mtime: number | null;
  sha256: string | null;
}

function finishedMembers(store: Store, batchId: number): IterableIterator<MemberRow> {
  return store
    .stmt<MemberRow>(
      `SELECT j.name AS job, m.path AS path, m.size AS size, m.mtime AS mtime, m.sha256 AS sha256
       FROM jobs j JOIN archive_members m ON m.job_id = j.id
       WHERE j.batch_id = ? AND j.state IN ${FINISHED} ORDER BY j.name, m.path`,
    )
    .iterate(batchId);
}

/** The plan of a pull by rules. */
export function planPull(store: Store, batch: BatchRow, rules: CompiledRules): PullPlan {
  const members: PlannedMember[] = [];
  let bytes = 0;
  const finished = new Set<string>();
  const selected = new Set<string>();
  for (const m of finishedMembers(store, batch.id)) {
    if (!rules.jobMatches(m.job)) continue;
    finished.add(m.job);
    if (!rules.matches(m.job, m.path)) continue;
    selected.add(m.job);
    members.push({ job: m.job, path: m.path, size: m.size, mtime: m.mtime === null ? null : Math.round(m.mtime), sha256: m.sha256 });
    bytes += m.size;
  }
  let total = 0;
  let unfinished = 0;
  for (const j of store.stmt<{ name: string; state: string }>('SELECT name, state FROM jobs WHERE batch_id = ?').iterate(batch.id)) {
    if (!rules.jobMatches(j.name)) continue;
    total++;
    if (UNFINISHED.has(j.state)) unfinished++;
  }
  return {
    namespace: batch.namespace,
    batch: batch.name,
    members,
    bytes,
    jobs: { total, finished: finished.size, unfinished, selected: selected.size },
  };
}

/** Per job, the member paths to send; `bytes` is their indexed size. */
export interface Selection {
  jobs: Map<string, Set<string>>;
  members: number;
  bytes: number;
}

/** The selection of a plan (rules), as the tar stream needs it. */
export function selectionOfPlan(plan: PullPlan): Selection {
  const jobs = new Map<string, Set<string>>();
  for (const m of plan.members) {
    let set = jobs.get(m.job);
    if (!set) jobs.set(m.job, (set = new Set()));
    set.add(m.path);
  }
  return { jobs, members: plan.members.length, bytes: plan.bytes };
}

/**
 * The selection of explicitly named members `<job>/<file>`: those still archived for a finished
 * job; the others (removed, or their job runs again) are left out, and counted.
 */
export function selectionOfMembers(store: Store, batch: BatchRow, names: string[]): Selection & { missing: number } {
  const wanted = new Map<string, Set<string>>();
  for (const name of names) {
    const slash = name.indexOf('/');
    if (slash <= 0) continue;
    const job = name.slice(0, slash);
    let set = wanted.get(job);
    if (!set) wanted.set(job, (set = new Set()));
    set.add(name.slice(slash + 1));
  }
  const jobs = new Map<string, Set<string>>();
  let members = 0;
  let bytes = 0;
  const lookup = store.stmt<{ size: number }>(
    `SELECT m.size AS size FROM jobs j JOIN archive_members m ON m.job_id = j.id
     WHERE j.batch_id = ? AND j.name = ? AND j.state IN ${FINISHED} AND m.path = ?`,
  );
  for (const job of [...wanted.keys()].sort()) {
    const found = new Set<string>();
    for (const path of wanted.get(job)!) {
      const row = lookup.get(batch.id, job, path);
      if (!row) continue;
      found.add(path);
      bytes += row.size;
    }
    if (found.size === 0) continue;
    jobs.set(job, found);
    members += found.size;
  }
  return { jobs, members, bytes, missing: new Set(names).size - members };
}
