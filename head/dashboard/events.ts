// Live updates for the dashboard: Server-Sent Events at `GET /v1/events`. Each message is
// the whole view the page shows (view.ts), as `event: view` with one JSON line, sent when the
// head reports that state changed (`changed()`), at most 4 times a second (a burst of
// changes is folded into one push on the trailing edge), and only to streams whose view is
// different from what they were last sent. The page never polls; EventSource reconnects by
// itself after a network blip or a head restart and then gets the full view again.
//
// A slow browser is never queued for: while its socket is full it is skipped, and it gets
// the newest view when the socket drains. The token behind a stream is checked again on
// every push, so a revoked token ends its streams (`event: logout`).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../shared/log.js';
import type { Principal } from '../tokens.js';
import type { DashboardView, JobFilter } from './view.js';

export const MIN_PUSH_INTERVAL_MS = 250;
const KEEPALIVE_MS = 20_000;
const RETRY_MS = 2000;

export interface StreamWants {
  namespace: string;
  name: string;
  filter: JobFilter;
}

export interface HubDeps {
  /** the view for one viewer (and one batch) */
  build: (viewer: Principal, batch?: StreamWants) => DashboardView;
  /** who a token names now; null when it is no longer valid */
  reauthenticate: (token: string) => Principal | null;
  log: Logger;
  minIntervalMs?: number;
  keepaliveMs?: number;
}

interface Stream {
  res: ServerResponse;
  token: string;
  viewer: Principal;
  wants: StreamWants | undefined;
  key: string;
  lastSent: string | null;
  /** the socket was full at the last push: send again on drain */
  behind: boolean;
}

export class EventHub {
  private readonly streams = new Set<Stream>();
  private timer: NodeJS.Timeout | null = null;
  private keepalive: NodeJS.Timeout | null = null;
  private lastPush = 0;
  private readonly minInterval: number;
  private readonly keepaliveMs: number;
  /** pushes done, for tests and the log */
  pushes = 0;

  constructor(private readonly deps: HubDeps) {
    this.minInterval = deps.minIntervalMs ?? MIN_PUSH_INTERVAL_MS;
    this.keepaliveMs = deps.keepaliveMs ?? KEEPALIVE_MS;
  }

  get size(): number {
    return this.streams.size;
  }

  /** Answers the request with an event stream and sends the current view at once. */
  open(req: IncomingMessage, res: ServerResponse, token: string, viewer: Principal, wants?: StreamWants): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    req.socket.setNoDelay(true);
    req.socket.setTimeout(0);
    res.write(`retry: ${RETRY_MS}\n\n`);
    const stream: Stream = { res, token, viewer, wants, key: streamKey(viewer, wants), lastSent: null, behind: false };
    this.streams.add(stream);
    const forget = () => {
      this.streams.delete(stream);
      if (this.streams.size === 0) this.stopKeepalive();
    };
    res.on('close', forget);
    res.on('drain', () => {
      if (stream.behind) this.changed();
    });
    this.startKeepalive();
    this.push(new Set([stream]));
  }

  /** State changed somewhere: push new views soon (at most every minInterval). */
  changed(): void {
    if (this.timer || this.streams.size === 0) return;
    const wait = Math.max(0, this.lastPush + this.minInterval - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.lastPush = Date.now();
      this.push(this.streams);
    }, wait);
  }

  /** Ends every stream (the head is stopping). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.stopKeepalive();
    for (const s of this.streams) s.res.end();
    this.streams.clear();
  }

  private push(streams: Set<Stream>): void {
    this.pushes++;
    const views = new Map<string, string>();
    const principals = new Map<string, Principal | null>();
    for (const s of [...streams]) {
      if (!principals.has(s.token)) principals.set(s.token, this.deps.reauthenticate(s.token));
      const now = principals.get(s.token)!;
      if (!now || now.kind !== 'user' || now.name !== s.viewer.name || now.admin !== s.viewer.admin) {
        s.res.end('event: logout\ndata: {}\n\n');
        this.streams.delete(s);
        continue;
      }
      if (s.res.writableNeedDrain) {
        s.behind = true;
        continue;
      }
      let json = views.get(s.key);
      if (json === undefined) {
        try {
          json = JSON.stringify(this.deps.build(s.viewer, s.wants));
        } catch (err) {
          this.deps.log.error({ err: (err as Error).message, viewer: s.viewer.name }, 'cannot build the dashboard view');
          continue;
        }
        views.set(s.key, json);
      }
      s.behind = false;
      if (json === s.lastSent) continue;
      s.lastSent = json;
      s.res.write(`event: view\ndata: ${json}\n\n`);
    }
  }

  private startKeepalive(): void {
    if (this.keepalive) return;
    this.keepalive = setInterval(() => {
      for (const s of this.streams) if (!s.res.writableNeedDrain) s.res.write(': keepalive\n\n');
    }, this.keepaliveMs);
    this.keepalive.unref();
  }

  private stopKeepalive(): void {
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = null;
  }
}

function streamKey(viewer: Principal, wants: StreamWants | undefined): string {
  return JSON.stringify([viewer.name, viewer.admin, wants ?? null]);
}
