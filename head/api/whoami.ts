import type { Whoami } from '../../shared/protocol/api.js';
import { sendJson } from '../http.js';
import type { Route } from './route.js';

export const whoami: Route = {
  method: 'GET',
  path: /^\/v1\/whoami$/,
  who: 'any',
  handle({ res, principal }) {
    const body: Whoami = { name: principal.name, kind: principal.kind, admin: principal.admin };
    sendJson(res, 200, body);
  },
};
