// An admin drains a node (`distribute drain NODE`): no new jobs go there, the running ones
// finish; `undrain` opens it again. Unlike the node's own draining (it is stopping), an
// admin's drain outlives the node's reconnects and restarts of the head.
import type { DrainResponse } from '../../shared/protocol/api.js';
import { HttpError } from '../http.js';
import { setNodeDrained } from '../transitions.js';
import type { Api } from '../../shared/protocol/http-api.js';
import type { Handler } from './route.js';

function drainRoute(drained: boolean): Handler<Api['drain']> {
  return {
    handle(call) {
      const { store, log } = call.ctx;
      const name = call.params.name!;
      if (!store.node(name)) throw new HttpError(404, `no node ${name} has ever joined this head`);
      setNodeDrained(store, name, drained);
      log.info({ event: drained ? 'node_drained' : 'node_undrained', node: name, by: call.principal.name }, drained ? 'node drained by an admin' : 'node undrained by an admin');
      if (!drained) call.ctx.schedule();
      const row = store.node(name)!;
      const body: DrainResponse = { node: name, draining: row.drained === 1 || row.draining === 1 };
      call.reply(body);
    },
  };
}

export const drain = drainRoute(true);
export const undrain = drainRoute(false);
