// Every HTTP request the head answers: each entry of the API table (shared/protocol/http-api.ts)
// with the handler that answers it. The compiler holds HANDLERS to exactly one per entry.
import { API, patternOf, type Api, type ApiEntry, type ApiName } from '../shared/protocol/http-api.js';
import type { Handler, Route } from './api/route.js';
import { whoami } from './api/whoami.js';
import { inputGet, inputPut, inputsMissing } from './api/inputs.js';
import { resultPut } from './api/results.js';
import { finalizeResults } from './api/finalize.js';
import { status } from './api/status.js';
import { nodes } from './api/nodes.js';
import { drain, undrain } from './api/drain.js';
import { kill } from './api/kill.js';
import { retry } from './api/retry.js';
import { resolve } from './api/resolve.js';
import { metrics } from './api/metrics.js';
import { version } from './api/version.js';
import { add } from './api/add.js';
import { pull, pullPlan } from './api/pull.js';
import { rm } from './api/rm.js';
import { logs } from './api/logs.js';
import { usage } from './api/usage.js';
import { allocList, allocPause, allocResume } from './api/allocations.js';

export const HANDLERS: { [K in ApiName]: Handler<Api[K]> } = {
  whoami, add, inputsMissing, inputPut, inputGet, resultPut, finalizeResults, status, nodes, drain, undrain, kill, retry, resolve, pullPlan, pull, rm, logs, usage, metrics, version, allocList, allocPause, allocResume,
};

export const ROUTES: Route[] = (Object.keys(API) as ApiName[]).map((name) => {
  const handler = HANDLERS[name] as Handler<ApiEntry>;
  return { name, entry: API[name], pattern: patternOf(API[name]), handle: (call) => handler.handle(call) };
});
