// GET /v1/usage?since=1h|EPOCH_MS: cluster utilisation over time (head/usage/query.ts).
// Any user may ask: it says how busy nodes were, which the node list shows everyone anyway.
import { parseDuration } from '../../shared/spec/units.js';
import { HttpError } from '../http.js';
import { usageSince } from '../usage/query.js';
import type { Api } from '../../shared/protocol/http-api.js';
import type { Handler } from './route.js';

const DEFAULT_SINCE_MS = 3600_000;
const MAX_RANGE_MS = 366 * 24 * 3600_000;

/** `since` as epoch milliseconds (digits only) or a duration back from now (1h, 24h, 7d). */
export function parseSince(text: string | null, now: number): number {
  if (text === null || text === '') return now - DEFAULT_SINCE_MS;
  if (/^\d{10,16}$/.test(text)) return Math.max(Number(text), now - MAX_RANGE_MS);
  const back = text.length <= 32 ? parseDuration(text) : null;
  if (!back?.ok || !/[a-zA-Z:]/.test(text)) throw new HttpError(400, `since: "${text.slice(0, 40)}" is neither epoch milliseconds nor a duration such as 1h or 7d`);
  return now - Math.min(back.value * 1000, MAX_RANGE_MS);
}

export const usage: Handler<Api['usage']> = {
  handle(call) {
    const now = Date.now();
    call.reply(usageSince(call.ctx.store, parseSince(call.query.get('since'), now), now));
  },
};
