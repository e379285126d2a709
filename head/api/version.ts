// The head's version and protocol, so a client can tell a mismatch before it matters.
import type { Version } from '../../shared/protocol/api.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/common.js';
import { VERSION } from '../../shared/version.js';
import { sendJson } from '../http.js';
import type { Route } from './route.js';

export const version: Route = {
  method: 'GET',
  path: /^\/v1\/version$/,
  who: 'any',
  handle({ res }) {
    const body: Version = { version: VERSION, protocol: PROTOCOL_VERSION };
    sendJson(res, 200, body);
  },
};
