// A node hands back a job that its pause held for longer than vacate_after (HTCondor's
// vacate): the job goes back to the queue at once, to run elsewhere, and this does not count
// against it (no loss, no failure). The attempt is marked cancelled with `ended` still
// unset, so what it holds on the node stays held until the node's `finished` says its
// process is gone; the node is paused meanwhile, so nothing is placed there anyway.
import { currentAttempt } from './transitions.js';
import type { Store } from './store.js';

/** False when the report is stale (the attempt is no longer its job's current one here). */
export function vacateAttempt(store: Store, node: string, attemptId: number, reason: string): boolean {
  return store.tx(() => {
    const cur = currentAttempt(store, attemptId, node);
    if (!cur || (cur.attempt.state !== 'assigned' && cur.attempt.state !== 'running')) return false;
    store.stmt(`UPDATE attempts SET state = 'cancelled', error = ? WHERE id = ?`).run(`vacated: ${reason}`, attemptId);
    store.stmt(`UPDATE jobs SET state = 'queued', node = NULL, exit_code = NULL WHERE id = ?`).run(cur.job.id);
    return true;
  });
}
