// A small Matrix homeserver for tests: real HTTP on 127.0.0.1, just the client-server routes
// the head's notifier calls through matrix-js-sdk, every request recorded, and switches to
// make a route fail, stall, or answer 429 M_LIMIT_EXCEEDED.
//
// Like a real homeserver, `PUT /rooms/{room}/send/{type}/{txnId}` is idempotent: a repeated
// txnId returns the first event id and stores nothing new. The scope here is the access token
// (the spec's older and stricter rule; newer servers scope by device, which a client that
// keeps its token also satisfies). Logging in again with a known device_id keeps the device.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** path without the query string, percent-decoded */
  path: string;
  query: Record<string, string>;
  /** the access token the request carried (header or query), if any */
  token: string | null;
  body: unknown;
  /** Date.now() when the request arrived */
  at: number;
  /** status answered; null while stalled or when the connection was dropped */
  status: number | null;
}

export interface DeliveredEvent {
  event_id: string;
  room_id: string;
  sender: string;
  type: string;
  content: Record<string, unknown>;
  txn_id: string;
  device_id: string;
  at: number;
}

export interface RoomRecord {
  room_id: string;
  creator: string;
  is_direct: boolean;
  invite: string[];
  preset: string | null;
  members: Set<string>;
}

/** What a rule does to a request it matches. */
export type Fault =
  | { kind: 'fail'; status: number; errcode?: string; error?: string }
  | { kind: 'rate_limit'; retryAfterMs: number }
  /** hold the request: no answer until the server closes */
  | { kind: 'stall' }
  /** do the work (a send is delivered), then never answer: a crash between send and mark */
  | { kind: 'commit_then_stall' };

interface Rule {
  method: string | null;
  path: RegExp;
  fault: Fault;
  remaining: number;
}

interface Session {
  user_id: string;
  device_id: string;
}

export interface HomeserverOptions {
  /** the server name in ids: @user:NAME, !room:NAME */
  serverName?: string;
  /** user id → password, for `m.login.password` */
  users?: Record<string, string>;
  /** access tokens that exist from the start: token → user id (device `PRESET`) */
  tokens?: Record<string, string>;
}

export class TestHomeserver {
  readonly requests: RecordedRequest[] = [];
  readonly events: DeliveredEvent[] = [];
  readonly rooms = new Map<string, RoomRecord>();
  /** account data: user → type → content */
  readonly accountData = new Map<string, Map<string, unknown>>();
  readonly serverName: string;
  private readonly users: Record<string, string>;
  private readonly sessions = new Map<string, Session>();
  /** `${token}\u0000${txnId}` → event id: the idempotence a real homeserver gives sends */
  private readonly txns = new Map<string, string>();
  private readonly rules: Rule[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly stalled = new Set<ServerResponse>();
  private readonly listeners: (() => void)[] = [];
  private counter = 0;
  private server: Server | null = null;
  url = '';

  constructor(opts: HomeserverOptions = {}) {
    this.serverName = opts.serverName ?? 'test';
    this.users = { ...(opts.users ?? {}) };
    for (const [token, user] of Object.entries(opts.tokens ?? {})) this.sessions.set(token, { user_id: user, device_id: 'PRESET' });
  }

  /** Starts listening on 127.0.0.1 (port 0 = any free port; give one to come back on the same URL). */
  async start(port = 0): Promise<string> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.url;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** Stops listening and drops every connection, stalled ones included. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const res of this.stalled) res.destroy();
    this.stalled.clear();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The next `times` requests matching method and path suffer `fault`. */
  inject(match: { method?: string; path: RegExp }, fault: Fault, times = Infinity): void {
    this.rules.push({ method: match.method ?? null, path: match.path, fault, remaining: times });
  }

  /** Removes every fault; stalled requests stay stalled. */
  heal(): void {
    this.rules.length = 0;
  }

  /** Resolves when a recorded request satisfies `pred` (checked on every new request). */
  waitFor(pred: (r: RecordedRequest, all: RecordedRequest[]) => boolean, timeoutMs = 10_000): Promise<RecordedRequest> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.requests.find((r) => pred(r, this.requests));
        if (!hit) return false;
        clearTimeout(timer);
        const i = this.listeners.indexOf(listener);
        if (i >= 0) this.listeners.splice(i, 1);
        resolve(hit);
        return true;
      };
      const listener = (): void => void check();
      const timer = setTimeout(() => {
        const i = this.listeners.indexOf(listener);
        if (i >= 0) this.listeners.splice(i, 1);
        reject(new Error(`homeserver: no matching request within ${timeoutMs} ms; saw ${this.requests.map((r) => `${r.method} ${r.path}`).join(', ') || 'nothing'}`));
      }, timeoutMs);
      if (!check()) this.listeners.push(listener);
    });
  }

  /** Requests whose path ends with `/send/m.room.message/...`. */
  sends(): RecordedRequest[] {
    return this.requests.filter((r) => r.method === 'PUT' && /\/send\/m\.room\.message\//.test(r.path));
  }

  messagesTo(user: string): DeliveredEvent[] {
    return this.events.filter((e) => this.rooms.get(e.room_id)?.invite.includes(user));
  }

  // --- the routes -------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const raw = await readBody(req);
    let body: unknown = undefined;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const query = Object.fromEntries(url.searchParams.entries());
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : (query.access_token ?? null);
    const rec: RecordedRequest = { method: req.method ?? 'GET', path: decodeURIComponent(url.pathname), query, token, body, at: Date.now(), status: null };
    this.requests.push(rec);
    for (const l of [...this.listeners]) l();

    const rule = this.rules.find((r) => r.remaining > 0 && (r.method === null || r.method === rec.method) && r.path.test(rec.path));
    if (rule) {
      rule.remaining -= 1;
      const f = rule.fault;
      if (f.kind === 'stall') return this.stall(res);
      if (f.kind === 'fail') return this.reply(rec, res, f.status, { errcode: f.errcode ?? 'M_UNKNOWN', error: f.error ?? 'injected failure' });
      if (f.kind === 'rate_limit') return this.reply(rec, res, 429, { errcode: 'M_LIMIT_EXCEEDED', error: 'Too Many Requests', retry_after_ms: f.retryAfterMs });
      // commit_then_stall: fall through to the route, then hold the answer
      const [, payload] = this.route(rec);
      void payload;
      return this.stall(res);
    }
    const [status, payload] = this.route(rec);
    this.reply(rec, res, status, payload);
  }

  private stall(res: ServerResponse): void {
    this.stalled.add(res);
    res.on('close', () => this.stalled.delete(res));
  }

  private reply(rec: RecordedRequest, res: ServerResponse, status: number, payload: unknown): void {
    rec.status = status;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(payload));
  }

  private route(rec: RecordedRequest): [number, unknown] {
    const p = rec.path;
    if (rec.method === 'GET' && p === '/_matrix/client/versions') {
      return [200, { versions: ['v1.1', 'v1.2', 'v1.3', 'v1.4', 'v1.5', 'v1.6', 'v1.7', 'v1.8', 'v1.9', 'v1.10', 'v1.11'], unstable_features: {} }];
    }
    if (rec.method === 'GET' && p === '/_matrix/client/v3/login') return [200, { flows: [{ type: 'm.login.password' }] }];
    if (rec.method === 'POST' && p === '/_matrix/client/v3/login') return this.login(rec.body);

    const session = rec.token ? this.sessions.get(rec.token) : undefined;
    if (!rec.token) return [401, { errcode: 'M_MISSING_TOKEN', error: 'Missing access token' }];
    if (!session) return [401, { errcode: 'M_UNKNOWN_TOKEN', error: 'Unknown access token', soft_logout: false }];

    if (rec.method === 'GET' && p === '/_matrix/client/v3/account/whoami') return [200, { user_id: session.user_id, device_id: session.device_id, is_guest: false }];
    if (rec.method === 'POST' && p === '/_matrix/client/v3/logout') {
      this.sessions.delete(rec.token);
      return [200, {}];
    }
    if (rec.method === 'GET' && p === '/_matrix/client/v3/joined_rooms') {
      return [200, { joined_rooms: [...this.rooms.values()].filter((r) => r.members.has(session.user_id)).map((r) => r.room_id) }];
    }
    let m = /^\/_matrix\/client\/v3\/user\/([^/]+)\/account_data\/([^/]+)$/.exec(p);
    if (m) {
      const [, user, type] = m as unknown as [string, string, string];
      if (user !== session.user_id) return [403, { errcode: 'M_FORBIDDEN', error: 'Cannot access account data of other users' }];
      const data = this.accountData.get(user) ?? new Map<string, unknown>();
      this.accountData.set(user, data);
      if (rec.method === 'GET') return data.has(type) ? [200, data.get(type)] : [404, { errcode: 'M_NOT_FOUND', error: 'Account data not found' }];
      if (rec.method === 'PUT') {
        data.set(type, rec.body);
        return [200, {}];
      }
    }
    if (rec.method === 'POST' && p === '/_matrix/client/v3/createRoom') {
      const b = (rec.body ?? {}) as { is_direct?: boolean; invite?: string[]; preset?: string };
      const room_id = `!r${++this.counter}:${this.serverName}`;
      this.rooms.set(room_id, {
        room_id,
        creator: session.user_id,
        is_direct: b.is_direct === true,
        invite: b.invite ?? [],
        preset: b.preset ?? null,
        members: new Set([session.user_id]),
      });
      return [200, { room_id }];
    }
    m = /^\/_matrix\/client\/v3\/rooms\/([^/]+)\/send\/([^/]+)\/([^/]+)$/.exec(p);
    if (m && rec.method === 'PUT') {
      const [, roomId, type, txnId] = m as unknown as [string, string, string, string];
      const room = this.rooms.get(roomId);
      if (!room || !room.members.has(session.user_id)) return [403, { errcode: 'M_FORBIDDEN', error: `not in room ${roomId}` }];
      const key = `${rec.token}\u0000${txnId}`;
      const seen = this.txns.get(key);
      if (seen) return [200, { event_id: seen }];
      const event_id = `$e${++this.counter}`;
      this.txns.set(key, event_id);
      this.events.push({
        event_id,
        room_id: roomId,
        sender: session.user_id,
        type,
        content: rec.body as Record<string, unknown>,
        txn_id: txnId,
        device_id: session.device_id,
        at: Date.now(),
      });
      return [200, { event_id }];
    }
    return [404, { errcode: 'M_UNRECOGNIZED', error: `Unrecognized request: ${rec.method} ${p}` }];
  }

  private login(body: unknown): [number, unknown] {
    const b = (body ?? {}) as { type?: string; identifier?: { type?: string; user?: string }; user?: string; password?: string; device_id?: string };
    if (b.type !== 'm.login.password') return [400, { errcode: 'M_UNKNOWN', error: `unknown login type ${b.type}` }];
    const given = b.identifier?.user ?? b.user ?? '';
    const user = given.startsWith('@') ? given : `@${given}:${this.serverName}`;
    if (this.users[user] === undefined || this.users[user] !== b.password) return [403, { errcode: 'M_FORBIDDEN', error: 'Invalid username or password' }];
    const device_id = b.device_id ?? `DEV${++this.counter}`;
    const access_token = `tok_${++this.counter}_${Math.random().toString(36).slice(2)}`;
    this.sessions.set(access_token, { user_id: user, device_id });
    return [200, { user_id: user, access_token, device_id, home_server: this.serverName }];
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (data += d));
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}
