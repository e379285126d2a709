// Pull: a plan (the selected members with sizes and mtimes, from the index) and the tar stream
// of `<job>/<path>` members, chosen by the same rules or named one by one from a plan.
import type { PullRules } from '../../shared/protocol/api.js';
import { compileRules, formatRuleProblem, type CompiledRules } from '../../shared/pull-rules.js';
import { locateArchive } from '../archive-location.js';
import { HttpError } from '../http.js';
import { planPull, selectionOfMembers, selectionOfPlan, type Selection } from '../pull-plan.js';
import { ReaderGone, writePull } from '../pull.js';
import type { Api } from '../../shared/protocol/http-api.js';
import { requireBatch, type Handler } from './route.js';

function rulesOf(body: PullRules & { namespace: string; batch: string }): CompiledRules {
  const compiled = compileRules(body, body);
  if (!compiled.ok) throw new HttpError(400, `invalid pull rules: ${compiled.problems.map(formatRuleProblem).join('; ')}`);
  return compiled.rules;
}

export const pullPlan: Handler<Api['pullPlan']> = {
  async handle(call) {
    const body = await call.body();
    const rules = rulesOf(body);
    const batch = requireBatch(call, body.namespace, body.batch);
    call.reply(planPull(call.ctx.store, batch, rules));
  },
};

export const pull: Handler<Api['pull']> = {
  async handle(call) {
    const body = await call.body();
    const rules = body.members ? null : rulesOf(body);
    const batch = requireBatch(call, body.namespace, body.batch);
    const { store, settings, log } = call.ctx;
    let selection: Selection;
    let missing = 0;
    if (rules) {
      selection = selectionOfPlan(planPull(store, batch, rules));
    } else {
      const s = selectionOfMembers(store, batch, body.members!);
      selection = s;
      missing = s.missing;
    }
    const sources = [...selection.jobs].map(([job, members]) => ({ job, members, file: () => locateArchive(store, settings.stateDir, batch.namespace, batch.name, job) }));
    call.res.writeHead(200, {
      'content-type': 'application/x-tar',
      'x-distribute-members': String(selection.members),
      'x-distribute-bytes': String(selection.bytes),
      'x-distribute-missing': String(missing),
    });
    const what = { user: call.principal.name, namespace: batch.namespace, batch: batch.name, jobs: sources.length, members: selection.members, bytes: selection.bytes, missing, explicit: rules === null };
    let damaged: { job: string; error: string }[];
    try {
      damaged = await writePull(sources, call.res);
    } catch (err) {
      if (err instanceof ReaderGone) {
        log.info({ event: 'pull_interrupted', ...what, error: (err as Error).message }, 'the client went away during a pull');
        return;
      }
      throw err;
    }
    for (const d of damaged) log.error({ event: 'archive_damaged', ...what, job: d.job, error: d.error }, `a pull found the archive of job ${d.job} damaged; its files were marked failed: ${d.error}`);
    log.info({ event: 'pulled', ...what, damaged: damaged.length }, 'results pulled');
  },
};
