// An admin drains a node (`distribute drain NODE`): no new jobs go there, the running ones
// finish; `undrain` opens it again. Unlike the node's own draining (it is stopping), an
// admin's drain outlives the node's reconnects and restarts of the head.
import type { DrainResponse } from '../../shared/protocol/api.js';
import { HttpError, sendJson } from '../http.js';
import { setNodeDrained } from '../transitions.js';
import type { ApiCall, Route } from './route.js';

function drainRoute(drained: boolean): Route {
  return {
    method: 'POST',
    path: drained ? /^\/v1\/nodes\/(?<name>[^/]+)\/drain$/ : /^\/v1\/nodes\/(?<name>[^/]+)\/undrain$/,
    who: 'user',
    handle(call: ApiCall) {
      const { store, log } = call.ctx;
      const name = call.params.name!;
      if (!call.principal.admin) throw new HttpError(403, `only an admin may ${drained ? 'drain' : 'undrain'} a node`);
      if (!store.node(name)) throw new HttpError(404, `no node ${name} has ever joined this head`);
      setNodeDrained(store, name, drained);
      log.info({ event: drained ? 'node_drained' : 'node_undrained', node: name, by: call.principal.name }, drained ? 'node drained by an admin' : 'node undrained by an admin');
      if (!drained) call.ctx.schedule();
      const row = store.node(name)!;
      const body: DrainResponse = { node: name, draining: row.drained === 1 || row.draining === 1 };
      sendJson(call.res, 200, body);
    },
  };
}

export const drain = drainRoute(true);
export const undrain = drainRoute(false);
