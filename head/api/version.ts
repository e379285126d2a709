// The head's version and protocol, so a client can tell a mismatch before it matters.
import type { Version } from '../../shared/protocol/api.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/common.js';
import { VERSION } from '../../shared/version.js';
import type { Api } from '../../shared/protocol/http-api.js';
import type { Handler } from './route.js';

export const version: Handler<Api['version']> = {
  handle(call) {
    const body: Version = { version: VERSION, protocol: PROTOCOL_VERSION };
    call.reply(body);
  },
};
