import type { Whoami } from '../../shared/protocol/api.js';
import type { Api } from '../../shared/protocol/http-api.js';
import type { Handler } from './route.js';

export const whoami: Handler<Api['whoami']> = {
  handle({ reply, principal }) {
    const body: Whoami = { name: principal.name, kind: principal.kind, admin: principal.admin };
    reply(body);
  },
};
