// The head's one port: HTTP(S) for users and bulk data under /v1, and the WebSocket upgrade
// at /v1/node for compute daemons. Every request and upgrade carries a bearer token: none or
// an unknown one → 401 (logged with the peer address); a token of the wrong kind, or a user who
// is not an admin on an admin route → 403. The routes are the entries of shared/protocol/http-api.ts.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { errorMessage } from '../shared/errors.js';
import type { HeadContext } from './context.js';
import { HttpError, sendJson } from './http.js';
import type { NodeSessions } from './node-sessions.js';
import { authenticate, type Principal } from './tokens.js';
import { cookiePrincipal } from './dashboard/session.js';
import { apiCall, type Route } from './api/route.js';
import { NODE_PATH, matchPath } from '../shared/protocol/http-api.js';

export { NODE_PATH };

export interface ServerOptions {
  tls?: { cert: string; key: string };
  /** the dashboard's pages and streams (head/dashboard), tried before the API routes */
  dashboard?: { handle(req: IncomingMessage, res: ServerResponse): boolean };
}

export interface HeadServer {
  server: Server;
  /** closes every node connection (politely, then firmly after graceMs) */
  closeSockets(graceMs?: number): Promise<void>;
}

export function createHeadServer(ctx: HeadContext, sessions: NodeSessions, routes: Route[], opts: ServerOptions = {}): HeadServer {
  const server = opts.tls
    ? createHttpsServer({ cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key) })
    : createHttpServer();
  // uploads of inputs and results may take longer than Node's default 5 minutes per request;
  // headers must still arrive promptly
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  const wss = new WebSocketServer({ noServer: true, maxPayload: ctx.settings.maxFrame });

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (opts.dashboard?.handle(req, res)) return;
    void serve(ctx, routes, req, res);
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const peer = peerOf(req);
    const path = new URL(req.url ?? '/', 'http://head').pathname;
    if (path !== NODE_PATH) return refuseUpgrade(socket, 404, `no WebSocket endpoint at ${path}; nodes connect to ${NODE_PATH}`);
    let who: Principal | null;
    try {
      who = authenticate(ctx.store, req.headers.authorization);
    } catch (err) {
      ctx.log.error({ event: 'upgrade_failed', peer, err }, `could not check a node's token: ${errorMessage(err)}`);
      return refuseUpgrade(socket, 500, 'the head could not check the token; try again');
    }
    if (!who) {
      ctx.log.warn({ event: 'auth_refused', peer, path, reason: req.headers.authorization ? 'unknown token' : 'no token' }, 'refused a node connection without a valid token');
      return refuseUpgrade(socket, 401, 'a valid node token is required (Authorization: Bearer <token>)');
    }
    if (who.kind !== 'node') {
      ctx.log.warn({ event: 'auth_refused', peer, path, user: who.name, reason: 'user token' }, 'refused a user token on the node endpoint');
      return refuseUpgrade(socket, 403, `${who.name} holds a user token; ${NODE_PATH} is for node tokens`);
    }
    const principal = who;
    wss.handleUpgrade(req, socket, head, (ws) => sessions.accept(ws, principal, peer));
  });

  server.on('close', () => wss.close());
  return {
    server,
    async closeSockets(graceMs = 1000) {
      const open = [...wss.clients];
      for (const ws of open) ws.close(1001, 'head is stopping');
      const closed = Promise.all(open.map((ws) => new Promise<void>((ok) => (ws.readyState === ws.CLOSED ? ok() : ws.once('close', () => ok())))));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise<void>((ok) => (timer = setTimeout(ok, graceMs)))]);
      clearTimeout(timer);
      for (const ws of wss.clients) ws.terminate();
    },
  };
}

async function serve(ctx: HeadContext, routes: Route[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  const peer = peerOf(req);
  const url = new URL(req.url ?? '/', 'http://head');
  try {
    // the dashboard's cookie stands for the bearer header on read-only requests
    const principal = authenticate(ctx.store, req.headers.authorization) ?? (req.method === 'GET' ? cookiePrincipal(ctx.store, req) : null);
    if (!principal) {
      ctx.log.warn({ event: 'auth_refused', peer, path: url.pathname, reason: req.headers.authorization ? 'unknown token' : 'no token' }, 'refused a request without a valid token');
      throw new HttpError(401, 'a valid token is required (Authorization: Bearer <token>)');
    }
    const match = findRoute(routes, req.method ?? 'GET', url.pathname);
    if (!match) throw new HttpError(404, `no route ${req.method} ${url.pathname}`);
    checkCaller(match.route, principal);
    await match.route.handle(apiCall(match.route, { ctx, req, res, principal, params: match.params, query: url.searchParams }));
  } catch (err) {
    if (err instanceof HttpError) {
      // too big, or no room for it (507): answered before the body was read whole
      if ((err.status === 413 || err.status === 507) && !req.complete) lingerThenClose(req, res);
      if (!res.headersSent) sendJson(res, err.status, { error: err.message, ...err.extra });
      else res.destroy(err);
      // a full disk is logged once per episode where it is found (state-dir-space.ts)
      if (err.status >= 500 && err.status !== 507) ctx.log.error({ event: 'request_failed', peer, method: req.method, path: url.pathname, status: err.status, error: err.message }, err.message);
      return;
    }
    ctx.log.error({ event: 'request_failed', peer, method: req.method, path: url.pathname, err }, `request failed: ${errorMessage(err)}`);
    if (!res.headersSent) sendJson(res, 500, { error: `the head failed: ${errorMessage(err)}` });
    else res.destroy(err instanceof Error ? err : new Error(String(err)));
  } finally {
    // a refused upload must not leave its body unread on a keep-alive connection
    if (!req.complete && !lingering.has(req)) req.resume();
  }
}

const lingering = new WeakSet<IncomingMessage>();
const LINGER_MS = 1000;
const LINGER_BYTES = 16 * 1024 * 1024;

/**
 * An oversized body is not read whole: the answer goes out, what the client still sends is
 * read and dropped for a moment (closing at once would reset the connection before the client
 * read the answer), then the connection is closed.
 */
function lingerThenClose(req: IncomingMessage, res: ServerResponse): void {
  lingering.add(req);
  // null once the client is gone: nothing to linger for
  const socket = req.socket as Duplex | null;
  if (!socket) return;
  res.once('finish', () => {
    let dropped = 0;
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    socket.on('close', () => clearTimeout(timer));
    req.on('data', (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped > LINGER_BYTES) socket.destroy();
    });
    req.resume();
  });
}

function findRoute(routes: Route[], method: string, path: string): { route: Route; params: Record<string, string> } | null {
  let pathMatched = false;
  for (const route of routes) {
    const params = matchPath(route.entry, path, route.pattern);
    if (!params) continue;
    pathMatched = true;
    if (route.entry.method === method) return { route, params };
  }
  if (pathMatched) throw new HttpError(405, `${method} is not allowed on ${path}`);
  return null;
}

/** 403 unless the entry's callers include this token: its kind, then (admin routes) its admin flag. */
function checkCaller(route: Route, p: Principal): void {
  const { who, does } = route.entry;
  if (who === 'any') return;
  const kind = who === 'admin' ? 'user' : who;
  if (kind !== p.kind) throw new HttpError(403, p.kind === 'node' ? `node ${p.name} holds a node token; this request is for users` : `this request is for compute nodes, not users`);
  if (who === 'admin' && !p.admin) throw new HttpError(403, `only an admin may ${does}`);
}

function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ error: message });
  const reason = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error' }[status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function peerOf(req: IncomingMessage): string {
  const s = req.socket;
  return s.remoteAddress ? `${s.remoteAddress}:${s.remotePort}` : 'unknown';
}
