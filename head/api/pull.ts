// Pull: the selected results of a batch as one tar stream of `<job>/<path>`.
import { PullRequest } from '../../shared/protocol/api.js';
import { archivePath } from '../archive.js';
import { HttpError, readJson } from '../http.js';
import { selected, writePull, type PullRules, type PullSource } from '../pull.js';
import { requireBatch, type Route } from './route.js';

function compile(patterns: string[], what: string): RegExp[] {
  return patterns.map((p) => {
    try {
      return new RegExp(p);
    } catch (err) {
      throw new HttpError(400, `${what} pattern ${JSON.stringify(p)} is not a valid regular expression: ${(err as Error).message}`);
    }
  });
}

export const pull: Route = {
  method: 'POST',
  path: /^\/v1\/pull$/,
  who: 'user',
  async handle(call) {
    const body = await readJson(call.req, PullRequest);
    const rules: PullRules = { include: compile(body.include, 'include'), exclude: compile(body.exclude, 'exclude') };
    const batch = requireBatch(call, body.namespace, body.batch);
    const { store, settings, log } = call.ctx;
    const jobs = store
      .stmt<{ id: number; name: string }>(`SELECT id, name FROM jobs WHERE batch_id = ? AND EXISTS (SELECT 1 FROM archive_members m WHERE m.job_id = jobs.id) ORDER BY name`)
      .all(batch.id);
    const members = store.stmt<{ path: string }>('SELECT path FROM archive_members WHERE job_id = ? ORDER BY path');
    const sources: PullSource[] = [];
    let count = 0;
    for (const j of jobs) {
      const chosen = new Set(members.all(j.id).map((m) => m.path).filter((p) => selected(rules, `${j.name}/${p}`)));
      if (chosen.size === 0) continue;
      count += chosen.size;
      sources.push({ job: j.name, file: archivePath(settings.stateDir, batch.namespace, batch.name, j.name), members: chosen });
    }
    call.res.writeHead(200, { 'content-type': 'application/x-tar', 'x-distribute-members': String(count), 'x-distribute-jobs': String(sources.length) });
    await writePull(sources, call.res);
    log.info({ event: 'pulled', user: call.principal.name, namespace: batch.namespace, batch: batch.name, jobs: sources.length, members: count }, 'results pulled');
  },
};
