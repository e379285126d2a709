// `rm`: deleting archived results from the head's disk. A whole batch goes with its rows (its
// name can be used again; `removed_batches` remembers it, and its id is never handed out
// again); one job loses its archive and index rows but stays in the batch, finished.
//
// Unfinished jobs (queued, assigned, running, paused) refuse the removal unless `force`, which
// cancels them first. The database is changed first, then the files are deleted: a crash in
// between leaves unindexed archive files (disk to reclaim), never index rows without their
// archive. A batch whose cancelled jobs still hold a process on a node keeps its rows (the
// node's report must find its attempt) until `rm` is run again. A job whose archive is in a
// segment (head/segments.ts) frees its bytes by a rewrite of that segment without it.
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { archivePath } from './archive.js';
import { archiveDir } from './context.js';
import { compactSegment, segmentsOf } from './segments.js';
import type { BatchRow, Store } from './store.js';
import { killJobs } from './transitions.js';

export interface RemoveRequest {
  job?: string;
  force: boolean;
  /** who asked, for the record */
  by: string;
}

export type RemoveOutcome =
  | {
      ok: true;
      jobs: number;
      files: number;
      bytes: number;
      batchRemoved: boolean;
      cancelled: number;
      /** attempts to cancel on their nodes (force) */
      toCancel: { node: string; attempt: number }[];
    }
  | { ok: false; status: 409; error: string };

const UNFINISHED = `('queued', 'assigned', 'running', 'paused')`;

interface Target {
  id: number;
  name: string;
  members: number;
}

export async function removeResults(store: Store, stateDir: string, batch: BatchRow, req: RemoveRequest): Promise<RemoveOutcome> {
  const where = req.job === undefined ? `${batch.namespace}/${batch.name}` : `${batch.namespace}/${batch.name}/${req.job}`;
  const jobFilter = req.job === undefined ? '' : ' AND name = ?';
  const args = req.job === undefined ? [batch.id] : [batch.id, req.job];

  const unfinished = store.stmt<{ n: number }>(`SELECT COUNT(*) AS n FROM jobs WHERE batch_id = ? AND state IN ${UNFINISHED}${jobFilter}`).get(...args)!.n;
  let cancelled = 0;
  let toCancel: { node: string; attempt: number }[] = [];
  if (unfinished > 0) {
    if (!req.force) {
      const what = req.job === undefined ? `${unfinished} job${unfinished === 1 ? ' is' : 's are'}` : 'it is';
      return { ok: false, status: 409, error: `${where}: ${what} still queued or running; kill ${req.job === undefined ? 'the batch' : 'the job'} first, or remove with --force` };
    }
    const killed = killJobs(store, batch.id, req.job);
    cancelled = killed.cancelled;
    toCancel = killed.toCancel;
  }

  // what is on disk, measured before anything is deleted
  const folder = join(archiveDir(stateDir), batch.namespace, batch.name);
  const files = req.job === undefined ? await archiveFiles(folder) : [archivePath(stateDir, batch.namespace, batch.name, req.job)];
  const segment = req.job === undefined ? undefined : store
    .stmt<{ segment: string; length: number }>('SELECT s.segment, s.length FROM archive_segments s JOIN jobs j ON j.id = s.job_id WHERE j.batch_id = ? AND j.name = ?')
    .get(batch.id, req.job);
  let bytes = segment?.length ?? 0;
  for (const f of files) bytes += await sizeOf(f);

  const outcome = store.durably(() => {
    const targets = store
      .stmt<Target>(`SELECT id, name, (SELECT COUNT(*) FROM archive_members m WHERE m.job_id = jobs.id) AS members FROM jobs WHERE batch_id = ?${jobFilter}`)
      .all(...args);
    const deleteMembers = store.stmt('DELETE FROM archive_members WHERE job_id = ?');
    const deletePlace = store.stmt('DELETE FROM archive_segments WHERE job_id = ?');
    let members = 0;
    let jobs = 0;
    for (const t of targets) {
      if (t.members > 0) jobs++;
      members += t.members;
      deleteMembers.run(t.id);
      deletePlace.run(t.id);
    }
    let batchRemoved = false;
    if (req.job === undefined && !holdsProcesses(store, batch.id)) {
      deleteBatchRows(store, batch.id);
      store
        .stmt('INSERT INTO removed_batches (id, namespace, name, owner, removed, removed_by, bytes) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(batch.id, batch.namespace, batch.name, batch.owner, store.now(), req.by, bytes);
      batchRemoved = true;
    }
    return { jobs, members, batchRemoved };
  });

  if (req.job === undefined) {
    // its segments closed to appends first (a cancelled attempt's result may be on its way)
    await segmentsOf(stateDir)?.forget(batch.namespace, batch.name);
    await rm(folder, { recursive: true, force: true });
  } else {
    await rm(files[0]!, { force: true });
    if (segment) await compactSegment(store, segmentsOf(stateDir), stateDir, segment.segment);
  }
  return { ok: true, jobs: outcome.jobs, files: outcome.members, bytes, batchRemoved: outcome.batchRemoved, cancelled, toCancel };
}

/** Some attempt of the batch may still have a process on a node, or a result on its way. */
function holdsProcesses(store: Store, batchId: number): boolean {
  return (
    store
      .stmt(`SELECT 1 FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.batch_id = ? AND (a.ended IS NULL OR a.state = 'finished') LIMIT 1`)
      .get(batchId) !== undefined
  );
}

/** Every row of a batch, its jobs, attempts and results (their files aside); inside the caller's transaction. */
export function deleteBatchRows(store: Store, batchId: number): void {
  const jobs = `(SELECT id FROM jobs WHERE batch_id = ?)`;
  store.stmt(`DELETE FROM archive_members WHERE job_id IN ${jobs}`).run(batchId);
  store.stmt(`DELETE FROM archive_segments WHERE job_id IN ${jobs}`).run(batchId);
  store.stmt(`DELETE FROM attempts WHERE job_id IN ${jobs}`).run(batchId);
  store.stmt(`DELETE FROM job_deps WHERE job_id IN ${jobs}`).run(batchId);
  store.stmt('DELETE FROM build_failures WHERE batch_id = ?').run(batchId);
  store.stmt('DELETE FROM jobs WHERE batch_id = ?').run(batchId);
  store.stmt('DELETE FROM shapes WHERE batch_id = ?').run(batchId);
  store.stmt('DELETE FROM notify_batches WHERE batch_id = ?').run(batchId);
  store.stmt('DELETE FROM batches WHERE id = ?').run(batchId);
}

/** Every file under the batch's archive folder (its archives and any leftover). */
async function archiveFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name));
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}
