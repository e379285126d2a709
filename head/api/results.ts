// A node uploads the result of an attempt; the 200 is its acknowledgement that the result is
// on the head's disk (fsynced, indexed), after which the node may delete its copy. (A small
// result usually comes as a `result` message instead: result-intake.ts serves both.)
import { HttpError } from '../http.js';
import { takeResult } from '../result-intake.js';
import type { Api } from '../../shared/protocol/http-api.js';
import type { Handler } from './route.js';

export const resultPut: Handler<Api['resultPut']> = {
  async handle(call) {
    const attempt = Number(call.params.attempt);
    if (!Number.isSafeInteger(attempt) || attempt <= 0) throw new HttpError(400, `"${call.params.attempt}" is not an attempt id`);
    const answer = await takeResult(call.ctx, call.principal.name, attempt, call.req, () => call.req.destroyed && !call.req.complete);
    if (answer === null) return;
    if (answer.status !== 200) throw new HttpError(answer.status, answer.error);
    call.reply({ attempt, state: answer.state, members: answer.members });
  },
};
