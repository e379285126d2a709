// The dashboard: a read-only web page served by the head on its own port.
//
//   GET  /                          the overview (or the login form, 401, without a valid token)
//   GET  /?token=T                  logs in with T: 303 to / with the cookie (see session.ts for why Lax)
//   GET  /batches/:ns/:batch        one batch's jobs, filterable (?state=failed&q=re_1)
//   POST /login                     form field `token`; 303 to / with the cookie, or 401 + form
//   POST /logout                    clears the cookie
//   GET  /assets/:file              the static app
//   GET  /v1/events[?namespace=N&batch=B&state=S&q=TEXT&limit=L]   Server-Sent Events (events.ts)
//   GET  /v1/dashboard/stderr/:ns/:batch/:job                      the last 64 KiB of a job's stderr
//
// Credentials: the `Authorization: Bearer` header or the dashboard cookie (session.ts).
// User tokens only; admins see every namespace, users the ones they own.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { isSafeName } from '../../shared/paths.js';
import { JobState } from '../../shared/protocol/common.js';
import type { Logger } from '../../shared/log.js';
import type { Store } from '../store.js';
import type { Principal } from '../tokens.js';
import { Assets } from './assets.js';
import { EventHub, type StreamWants } from './events.js';
import { loginPage, sendHtml, sendJsonError, sendText } from './pages.js';
import { callerOf, clearedCookie, isTls, principalOfToken, sameOrigin, sessionCookie, type Caller } from './session.js';
import { locateArchive } from '../archive-location.js';
import { readMemberTail, STDERR_MEMBER, TailCache } from './tails.js';
import { MAX_JOBS, ViewBuilder } from './view.js';

const STDERR_PAGE_BYTES = 64 * 1024;
const MAX_FORM_BYTES = 4096;

export interface DashboardOptions {
  store: Store;
  stateDir: string;
  log: Logger;
  /** nodes with a live session (the head's node sessions); default: those the store calls online */
  connected?: () => ReadonlySet<string>;
  /** where the static files are (default: assets/ beside this module) */
  assetsDir?: string;
  minPushIntervalMs?: number;
}

const EventsQuery = z
  .object({
    namespace: z.string().refine(isSafeName).optional(),
    batch: z.string().refine(isSafeName).optional(),
    state: z.union([JobState, z.literal('')]).optional(),
    q: z.string().max(128).optional(),
    limit: z.coerce.number().int().min(1).max(MAX_JOBS).optional(),
  })
  .refine((q) => (q.namespace === undefined) === (q.batch === undefined), 'namespace and batch go together');

export class Dashboard {
  private readonly store: Store;
  private readonly log: Logger;
  private readonly stateDir: string;
  private readonly assets: Assets;
  private readonly tails: TailCache;
  private readonly views: ViewBuilder;
  readonly hub: EventHub;

  constructor(opts: DashboardOptions) {
    this.store = opts.store;
    this.log = opts.log;
    this.stateDir = opts.stateDir;
    this.assets = new Assets(opts.assetsDir);
    this.tails = new TailCache((ns, batch, job) => locateArchive(opts.store, opts.stateDir, ns, batch, job), () => this.changed(), opts.log);
    const connected = opts.connected ?? (() => new Set(opts.store.nodes().filter((n) => n.state === 'online').map((n) => n.name)));
    this.views = new ViewBuilder(opts.store, this.tails, connected, () => this.changed());
    this.hub = new EventHub({
      build: (viewer, wants) => this.views.build(viewer, wants),
      reauthenticate: (token) => principalOfToken(this.store, token),
      log: opts.log,
      minIntervalMs: opts.minPushIntervalMs,
    });
  }

  /** Something the dashboard shows changed (a job or node state): push soon. */
  changed(): void {
    this.hub.changed();
  }

  close(): void {
    this.tails.close();
    this.views.close();
    this.hub.close();
  }

  /** Serves the request when it is one of the dashboard's routes; false when it is not. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const serve = this.route(req, res);
    if (!serve) return false;
    void serve().catch((err: Error) => {
      this.log.error({ path: req.url, err: err.message }, 'dashboard request failed');
      if (!res.headersSent) sendText(res, 500, 'the dashboard failed; see the head log');
      else res.destroy();
    });
    return true;
  }

  private route(req: IncomingMessage, res: ServerResponse): (() => Promise<void>) | null {
    const url = new URL(req.url ?? '/', 'http://head');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const read = method === 'GET' || method === 'HEAD';
    if (read && path === '/') return async () => this.overview(req, res, url);
    if (read && path === '/login') return async () => sendHtml(res, 200, loginPage(null));
    if (read && path.startsWith('/assets/')) return async () => this.asset(req, res, path.slice('/assets/'.length));
    if (read && path.startsWith('/batches/')) return async () => this.batchPage(req, res, path);
    if (method === 'POST' && path === '/login') return () => this.login(req, res);
    if (method === 'POST' && path === '/logout') return async () => this.logout(req, res);
    if (method === 'GET' && path === '/v1/events') return async () => this.events(req, res, url);
    if (method === 'GET' && path.startsWith('/v1/dashboard/stderr/')) return () => this.stderr(req, res, path);
    return null;
  }

  private overview(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const offered = url.searchParams.get('token');
    if (offered !== null) {
      const principal = principalOfToken(this.store, offered);
      const refused = refusal(principal);
      if (refused) return this.refuse(req, res, principal ? 403 : 401, refused);
      this.log.info({ user: principal!.name, peer: req.socket.remoteAddress }, 'dashboard login by link');
      // a plain redirect, which link previews and headless clients follow; it also takes the
      // token out of the address bar
      res.writeHead(303, { Location: '/', 'Set-Cookie': sessionCookie(offered, isTls(req)), 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-store' });
      res.end();
      return;
    }
    const caller = this.pageCaller(req, res);
    if (caller) this.assets.send(req, res, 'index.html', { 'Cache-Control': 'no-store' });
  }

  private batchPage(req: IncomingMessage, res: ServerResponse, path: string): void {
    const parts = path.split('/').slice(2).map(safeDecode);
    if (parts.length !== 2 || !parts.every((p) => p !== null && isSafeName(p))) return sendText(res, 404, 'no such page');
    const caller = this.pageCaller(req, res);
    if (caller) this.assets.send(req, res, 'index.html', { 'Cache-Control': 'no-store' });
  }

  /** The caller of a page, or null after answering with the login form. */
  private pageCaller(req: IncomingMessage, res: ServerResponse): Caller | null {
    const caller = callerOf(this.store, req);
    if (caller === undefined) {
      sendHtml(res, 401, loginPage(null));
      return null;
    }
    const refused = refusal(caller?.principal ?? null);
    if (refused) {
      this.refuse(req, res, caller ? 403 : 401, caller ? refused : 'The token saved in this browser is no longer valid; log in again.');
      return null;
    }
    return caller;
  }

  private refuse(req: IncomingMessage, res: ServerResponse, status: number, message: string): void {
    this.log.warn({ peer: req.socket.remoteAddress, path: new URL(req.url ?? '/', 'http://head').pathname, status }, 'dashboard refused a token');
    sendHtml(res, status, loginPage(message), { 'Set-Cookie': clearedCookie(isTls(req)) });
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!sameOrigin(req)) return sendText(res, 403, 'login from another site refused');
    let token: string | null;
    try {
      token = new URLSearchParams(await readSmallBody(req, MAX_FORM_BYTES)).get('token')?.trim() ?? null;
    } catch (err) {
      return sendText(res, 413, (err as Error).message);
    }
    const principal = principalOfToken(this.store, token);
    const refused = refusal(principal);
    if (refused) return this.refuse(req, res, principal ? 403 : 401, refused);
    this.log.info({ user: principal!.name, peer: req.socket.remoteAddress }, 'dashboard login');
    res.writeHead(303, { Location: '/', 'Set-Cookie': sessionCookie(token!, isTls(req)), 'Cache-Control': 'no-store' });
    res.end();
  }

  private logout(req: IncomingMessage, res: ServerResponse): void {
    if (!sameOrigin(req)) return sendText(res, 403, 'logout from another site refused');
    req.resume();
    res.writeHead(303, { Location: '/', 'Set-Cookie': clearedCookie(isTls(req)), 'Cache-Control': 'no-store' });
    res.end();
  }

  private asset(req: IncomingMessage, res: ServerResponse, name: string): void {
    if (name === 'index.html' || !this.assets.has(name)) return sendText(res, 404, 'no such file');
    this.assets.send(req, res, name);
  }

  private events(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const caller = this.apiCaller(req, res);
    if (!caller) return;
    const query = EventsQuery.safeParse(Object.fromEntries(url.searchParams));
    if (!query.success) return sendJsonError(res, 400, `bad event stream query: ${query.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; ')}`);
    const q = query.data;
    const wants: StreamWants | undefined =
      q.namespace && q.batch
        ? { namespace: q.namespace, name: q.batch, filter: { state: q.state || null, text: q.q ?? '', limit: q.limit ?? MAX_JOBS } }
        : undefined;
    this.hub.open(req, res, caller.token, caller.principal, wants);
  }

  private async stderr(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const caller = this.apiCaller(req, res);
    if (!caller) return;
    const parts = path.split('/').slice(4).map(safeDecode);
    const [namespace, batch, job] = parts;
    if (parts.length !== 3 || !parts.every((p) => p !== null && isSafeName(p))) return sendJsonError(res, 404, 'no such job');
    if (!caller.principal.admin && this.store.namespaceOwner(namespace!) !== caller.principal.name) {
      return sendJsonError(res, 404, `no job ${namespace}/${batch}/${job} that you can see`);
    }
    try {
      const text = await readMemberTail(locateArchive(this.store, this.stateDir, namespace!, batch!, job!), STDERR_MEMBER, STDERR_PAGE_BYTES);
      if (text === null) return sendJsonError(res, 404, `no stderr archived for ${namespace}/${batch}/${job}`);
      sendText(res, 200, text);
    } catch (err) {
      this.log.error({ namespace, batch, job, err: (err as Error).message }, 'cannot read stderr from the archive');
      sendJsonError(res, 500, `cannot read the archive of ${namespace}/${batch}/${job}`);
    }
  }

  /** The caller of a read-only API route, or null after answering 401/403 as JSON. */
  private apiCaller(req: IncomingMessage, res: ServerResponse): Caller | null {
    const caller = callerOf(this.store, req);
    if (!caller) {
      this.log.warn({ peer: req.socket.remoteAddress, path: req.url }, caller === undefined ? 'dashboard request without a token' : 'dashboard request with an unknown token');
      sendJsonError(res, 401, caller === undefined ? 'missing token' : 'unknown token');
      return null;
    }
    if (caller.principal.kind !== 'user') {
      sendJsonError(res, 403, 'a node token only speaks the node protocol');
      return null;
    }
    return caller;
  }
}

/** Why a principal may not use the dashboard, or null when it may. */
function refusal(principal: Principal | null): string | null {
  if (!principal) return 'That token is not valid here.';
  if (principal.kind !== 'user') return 'That is a node token; log in with a user token.';
  return null;
}

function safeDecode(part: string): string | null {
  try {
    return decodeURIComponent(part);
  } catch {
    return null;
  }
}

function readSmallBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      req.off('data', onData);
      req.resume(); // drain the rest so the answer can still be sent
      reject(new Error(`form larger than ${limit} bytes`));
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
