// The head's HTTP API as one typed table: per route its method, its path with named params,
// who may call it, and the shapes of its request and answer. The head matches requests and
// checks the caller with these entries (head/routes.ts gives each a handler); the CLI and the
// compute daemon build URLs with `pathFor` and check JSON answers with the entry's response
// schema. A path or a shape is written once, so the two sides cannot disagree on it.
//
// Every request carries `Authorization: Bearer <token>`. Errors are `{ error }` (ApiError) with
// 400 (bad input), 401 (token), 403 (not yours, wrong kind of token), 404, 405, 409, 413; an
// invalid batch answers 400 BadBatch. The WebSocket at NODE_PATH speaks the node protocol
// (messages.ts). The dashboard's pages and streams (head/dashboard) share the port.
import { z } from 'zod';
import { AllocQueueInfo } from './alloc-api.js';
import {
  AddRequest, AddResponse, DrainResponse, InputStored, KillRequest, KillResponse, MissingInputsRequest, MissingInputsResponse, NodeInfo, PullPlan,
  PullPlanRequest, PullRequest, ResolveResponse, ResultTaken, RetryResponse, RmRequest, RmResponse, StatusBatch, UsageAnswer, Version, Whoami,
} from './api.js';

export type Method = 'GET' | 'POST' | 'PUT';

/**
 * Who may call a route: `user` any user token, `admin` an admin's user token, `node` a node
 * token, `any` every valid token (no route answers without one).
 */
export type Caller = 'user' | 'admin' | 'node' | 'any';

/** A JSON body checked with its schema, a streamed one (file bytes, tar, text), or none. */
export type Body = z.ZodType | 'stream' | 'none';

/** The `:name`s of a path pattern. */
export type ParamsOf<P extends string> =
  P extends `${string}:${infer Name}/${infer Rest}` ? Name | ParamsOf<`/${Rest}`>
  : P extends `${string}:${infer Name}` ? Name
  : never;

export interface ApiEntry<P extends string = string, Q extends string = string, Req extends Body = Body, Res extends Body = Body> {
  method: Method;
  /** `/v1/batches/:ns/:batch/kill`: a `:name` stands for one path segment, URI-encoded */
  path: P;
  who: Caller;
  /** what it does, as in "only an admin may <does>" */
  does: string;
  /** the query parameters it reads, all optional */
  query?: readonly Q[];
  /** what a param must match whole (a RegExp source) for the path to be this route; default one segment */
  params?: { readonly [K in ParamsOf<P>]?: string };
  request: Req;
  response: Res;
  /** the status of a successful JSON answer; 200 unless said */
  status?: number;
}

// `const` keeps each entry's path and query names as literal types
function entry<const P extends string, Req extends Body, Res extends Body, const Q extends string = never>(e: ApiEntry<P, Q, Req, Res>): ApiEntry<P, Q, Req, Res> {
  return e;
}

/** The node protocol's WebSocket (messages.ts); node tokens only. */
export const NODE_PATH = '/v1/node';

const BATCH = '/v1/batches/:ns/:batch';

export const API = {
  whoami: entry({ method: 'GET', path: '/v1/whoami', who: 'any', does: 'ask whose token this is', request: 'none', response: Whoami }),
  add: entry({ method: 'POST', path: '/v1/batches', who: 'user', does: 'queue a batch (or check it, with dry)', request: AddRequest, response: AddResponse }),
  inputsMissing: entry({ method: 'POST', path: '/v1/inputs/missing', who: 'user', does: 'ask which input files the head lacks', request: MissingInputsRequest, response: MissingInputsResponse }),
  inputPut: entry({ method: 'PUT', path: '/v1/inputs/:hash', who: 'user', does: 'upload an input file, streamed; the head checks its SHA-256', request: 'stream', response: InputStored, status: 201 }),
  inputGet: entry({ method: 'GET', path: '/v1/inputs/:hash', who: 'any', does: 'fetch an input file by its SHA-256, streamed', request: 'none', response: 'stream' }),
  resultPut: entry({ method: 'PUT', path: '/v1/results/:attempt', who: 'node', does: "upload an attempt's result archive, streamed; answered once it is on disk (409: stale)", request: 'stream', response: ResultTaken }),
  finalizeResults: entry({ method: 'GET', path: '/v1/finalize/:attempt', params: { attempt: '[0-9]{1,15}' }, who: 'node', does: "fetch the results of a batch's jobs for its finalize step, a tar stream", request: 'none', response: 'stream' }),
  status: entry({ method: 'GET', path: '/v1/status', query: ['namespace', 'batch'], who: 'user', does: 'list the batches one may see, with their jobs', request: 'none', response: z.array(StatusBatch) }),
  nodes: entry({ method: 'GET', path: '/v1/nodes', who: 'user', does: 'list the nodes', request: 'none', response: z.array(NodeInfo) }),
  // drain: no new jobs go there, the running ones finish (outlives the node's reconnects)
  drain: entry({ method: 'POST', path: '/v1/nodes/:name/drain', who: 'admin', does: 'drain a node', request: 'none', response: DrainResponse }),
  undrain: entry({ method: 'POST', path: '/v1/nodes/:name/undrain', who: 'admin', does: 'undrain a node', request: 'none', response: DrainResponse }),
  kill: entry({ method: 'POST', path: `${BATCH}/kill`, who: 'user', does: "cancel a batch's unfinished jobs (or one)", request: KillRequest, response: KillResponse }),
  retry: entry({ method: 'POST', path: `${BATCH}/retry`, who: 'user', does: "requeue a batch's failed jobs", request: 'none', response: RetryResponse }),
  resolve: entry({ method: 'GET', path: '/v1/resolve', query: ['batch', 'namespace'], who: 'user', does: 'find the namespace of a batch name (409 when ambiguous)', request: 'none', response: ResolveResponse }),
  pullPlan: entry({ method: 'POST', path: '/v1/pull/plan', who: 'user', does: 'plan a pull from the archive index', request: PullPlanRequest, response: PullPlan }),
  pull: entry({ method: 'POST', path: '/v1/pull', who: 'user', does: 'pull archived results, a tar stream', request: PullRequest, response: 'stream' }),
  rm: entry({ method: 'POST', path: `${BATCH}/rm`, who: 'user', does: "delete a batch's archived results (or one job's)", request: RmRequest, response: RmResponse }),
  logs: entry({ method: 'GET', path: '/v1/logs/:ns/:batch/:job', query: ['stream', 'follow'], who: 'user', does: "read a job's stdout or stderr, text streamed while it runs", request: 'none', response: 'stream' }),
  usage: entry({ method: 'GET', path: '/v1/usage', query: ['since'], who: 'user', does: 'read the cluster utilisation over time', request: 'none', response: UsageAnswer }),
  metrics: entry({ method: 'GET', path: '/metrics', who: 'user', does: 'scrape the Prometheus metrics, as text', request: 'none', response: 'stream' }),
  version: entry({ method: 'GET', path: '/v1/version', who: 'any', does: "ask the head's version and node protocol", request: 'none', response: Version }),
  allocList: entry({ method: 'GET', path: '/v1/allocations', who: 'admin', does: 'list the allocation queues', request: 'none', response: z.array(AllocQueueInfo) }),
  // pause: no more submissions, pilots already out stay; resume: failures forgotten, submissions go again
  allocPause: entry({ method: 'POST', path: '/v1/allocations/:name/pause', who: 'admin', does: 'pause an allocation queue', request: 'none', response: AllocQueueInfo }),
  allocResume: entry({ method: 'POST', path: '/v1/allocations/:name/resume', who: 'admin', does: 'resume an allocation queue', request: 'none', response: AllocQueueInfo }),
};

export type Api = typeof API;
export type ApiName = keyof Api;

export type Params<E extends ApiEntry> = { [K in ParamsOf<E['path']>]: string };
export type Query<E extends ApiEntry> = NonNullable<E['query']> extends readonly (infer Q extends string)[] ? { [K in Q]?: string | undefined } : Record<string, never>;
/** the body a caller sends: the request schema's input */
export type RequestBody<E extends ApiEntry> = E['request'] extends z.ZodType ? z.input<E['request']> : never;
/** the body the head answers with: the response schema's input */
export type ResponseBody<E extends ApiEntry> = E['response'] extends z.ZodType ? z.input<E['response']> : never;
/** the answer as a caller has it, once checked */
export type Answer<E extends ApiEntry> = E['response'] extends z.ZodType ? z.output<E['response']> : never;

/** The path of a request to `e`: each param URI-encoded, the query's set values appended. */
export function pathFor<E extends ApiEntry>(e: E, params: Params<E>, query?: Query<E>): string {
  const values = params as Record<string, string>;
  const path = e.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`${e.method} ${e.path}: no value for :${name}`);
    return encodeURIComponent(value);
  });
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries((query ?? {}) as Record<string, string | undefined>)) if (v !== undefined) search.set(k, v);
  const q = search.toString();
  return q ? `${path}?${q}` : path;
}

/** The regex a request path must match to be `e`; each param a named group. */
export function patternOf(e: ApiEntry): RegExp {
  const paramPatterns = (e.params ?? {}) as Record<string, string | undefined>;
  const source = e.path
    .split('/')
    .map((segment) => {
      const name = /^:([A-Za-z_][A-Za-z0-9_]*)$/.exec(segment)?.[1];
      if (name === undefined) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      return `(?<${name}>${paramPatterns[name] ?? '[^/]+'})`;
    })
    .join('/');
  return new RegExp(`^${source}$`);
}

/** The params of `path` (URI-decoded) when it is a path of `e`; null when not. */
export function matchPath(e: ApiEntry, path: string, pattern = patternOf(e)): Record<string, string> | null {
  const m = pattern.exec(path);
  if (!m) return null;
  const params: Record<string, string> = {};
  try {
    for (const [k, v] of Object.entries(m.groups ?? {})) params[k] = decodeURIComponent(v);
  } catch {
    // malformed percent-encoding: no route's param
    return null;
  }
  return params;
}
