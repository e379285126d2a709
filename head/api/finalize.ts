// The results of a batch's jobs, for the node that runs its finalize step: the tar stream of
// `<job>/<path>` members a pull of the whole batch would give (the members the head archived
// for its done and failed jobs), streamed from the archive. Only the node holding the current
// attempt of the finalize step may read it.
import { locateArchive } from '../archive-location.js';
import { finalizeAttempt } from '../dependencies.js';
import { HttpError } from '../http.js';
import { ReaderGone, writePull } from '../pull.js';
import type { Api } from '../../shared/protocol/http-api.js';
import type { Handler } from './route.js';

export const finalizeResults: Handler<Api['finalizeResults']> = {
  async handle(call) {
    const attempt = Number(call.params.attempt);
    const { store, settings, log } = call.ctx;
    const fin = finalizeAttempt(store, attempt, call.principal.name);
    if (!fin) throw new HttpError(409, `attempt ${attempt} is not a current finalize step of node ${call.principal.name}`);
    const batch = store.batch(fin.batchId);
    if (!batch) throw new HttpError(404, `no batch ${fin.batchId}`);
    const jobs = new Map<string, Set<string>>();
    let members = 0;
    let bytes = 0;
    const rows = store
      .stmt<{ job: string; path: string; size: number }>(
        `SELECT j.name AS job, m.path AS path, m.size AS size FROM jobs j JOIN archive_members m ON m.job_id = j.id
         WHERE j.batch_id = ? AND j.finalize = 0 AND j.state IN ('done', 'failed') ORDER BY j.name, m.path`,
      )
      .iterate(batch.id);
    for (const m of rows) {
      let set = jobs.get(m.job);
      if (!set) jobs.set(m.job, (set = new Set()));
      set.add(m.path);
      members++;
      bytes += m.size;
    }
    const sources = [...jobs].map(([job, paths]) => ({ job, members: paths, file: () => locateArchive(store, settings.stateDir, batch.namespace, batch.name, job) }));
    call.res.writeHead(200, { 'content-type': 'application/x-tar', 'x-distribute-members': String(members), 'x-distribute-bytes': String(bytes) });
    const what = { node: call.principal.name, attempt, namespace: batch.namespace, batch: batch.name, jobs: sources.length, members, bytes };
    try {
      await writePull(sources, call.res, 'cut');
    } catch (err) {
      if (err instanceof ReaderGone) {
        log.info({ event: 'finalize_inputs_interrupted', ...what, error: (err as Error).message }, 'the node went away while fetching the results for a finalize step');
        return;
      }
      throw err;
    }
    log.info({ event: 'finalize_inputs_sent', ...what }, 'results sent for a finalize step');
  },
};
