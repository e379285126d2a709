// What a request handler gets (its entry of the API table, shared/protocol/http-api.ts, with the
// code that answers it), and the access rules every user request shares.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HeadContext } from '../context.js';
import type { z } from 'zod';
import type { ApiEntry, Params, ResponseBody } from '../../shared/protocol/http-api.js';
import { HttpError, readJson, sendJson } from '../http.js';
import type { BatchRow } from '../store.js';
import type { Principal } from '../tokens.js';

export interface ApiCall<E extends ApiEntry = ApiEntry> {
  ctx: HeadContext;
  req: IncomingMessage;
  res: ServerResponse;
  principal: Principal;
  /** the path's `:name`s, URI-decoded */
  params: Params<E>;
  query: URLSearchParams;
  /** the JSON body, checked with the entry's request schema (readJson: 400, 413 over `limit`) */
  body(limit?: BodyLimit): Promise<z.output<Extract<E['request'], z.ZodType>>>;
  /** answers with the entry's success status and a body of its response shape */
  reply(body: ResponseBody<E>): void;
}

/** A larger limit than MAX_REQUEST_JSON, with how error messages name the body and the setting. */
export interface BodyLimit {
  bytes: number;
  what: string;
  key: string;
}

/** The code that answers one entry of the API table (head/routes.ts pairs them). */
export interface Handler<E extends ApiEntry> {
  handle(call: ApiCall<E>): Promise<void> | void;
}

/** An entry of the API table with its handler, as the server matches them. */
export interface Route {
  name: string;
  entry: ApiEntry;
  /** the entry's path as a regex; named groups are its params */
  pattern: RegExp;
  handle(call: ApiCall): Promise<void> | void;
}

/** The call a route's handler gets: `body` and `reply` read and answer with the entry's shapes. */
export function apiCall(route: Route, base: Omit<ApiCall, 'body' | 'reply'>): ApiCall {
  const { entry } = route;
  return {
    ...base,
    body(limit) {
      if (typeof entry.request === 'string') throw new Error(`${entry.method} ${entry.path} has no JSON body`);
      return limit ? readJson(base.req, entry.request, limit.bytes, limit.what, limit.key) : readJson(base.req, entry.request);
    },
    reply(body) {
      if (typeof entry.response === 'string') throw new Error(`${entry.method} ${entry.path} does not answer JSON`);
      sendJson(base.res, entry.status ?? 200, body);
    },
  };
}

/** Namespaces a user may see: their own, or every one for an admin (null). */
export function visibleNamespaces(call: ApiCall): string[] | null {
  if (call.principal.admin) return null;
  return call.ctx.store
    .stmt<{ name: string }>('SELECT name FROM namespaces WHERE owner = ? ORDER BY name')
    .all(call.principal.name)
    .map((r) => r.name);
}

/** 403 unless the user owns the namespace (or is an admin); 404 when it does not exist. */
export function requireNamespace(call: ApiCall, namespace: string): void {
  const owner = call.ctx.store.namespaceOwner(namespace);
  if (owner === undefined) throw new HttpError(404, `no namespace ${namespace}`);
  if (owner !== call.principal.name && !call.principal.admin) throw new HttpError(403, `namespace ${namespace} belongs to ${owner}`);
}

/** The batch, when the user may act on it. */
export function requireBatch(call: ApiCall, namespace: string, batch: string): BatchRow {
  requireNamespace(call, namespace);
  const row = call.ctx.store.batchByName(namespace, batch);
  if (!row) throw new HttpError(404, `no batch ${batch} in namespace ${namespace}`);
  return row;
}
