// What a request handler gets, and the access rules every user request shares.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HeadContext } from '../context.js';
import { HttpError } from '../http.js';
import type { BatchRow } from '../store.js';
import type { Principal } from '../tokens.js';

export interface ApiCall {
  ctx: HeadContext;
  req: IncomingMessage;
  res: ServerResponse;
  principal: Principal;
  params: Record<string, string>;
  query: URLSearchParams;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT';
  /** matched against the path; named groups become `params` */
  path: RegExp;
  /** who may call it: users, nodes, or both */
  who: 'user' | 'node' | 'any';
  handle(call: ApiCall): Promise<void> | void;
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
