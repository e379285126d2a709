// Every HTTP request the head answers (shared/protocol/api.ts lists them for clients).
import type { Route } from './api/route.js';
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

export const ROUTES: Route[] = [whoami, add, inputsMissing, inputPut, inputGet, resultPut, finalizeResults, status, nodes, drain, undrain, kill, retry, resolve, pullPlan, pull, rm, logs, usage, metrics, version, allocList, allocPause, allocResume];
