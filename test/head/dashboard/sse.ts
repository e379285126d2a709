// A small Server-Sent Events client for tests: reads `event:`/`data:` blocks off a real
// HTTP response, so a test can await the next pushed message.
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';

export interface SseMessage {
  event: string;
  data: string;
}

export interface SseStream {
  status: number;
  headers: IncomingMessage['headers'];
  /** the next message (keepalive comments skipped); rejects after timeoutMs */
  next(timeoutMs?: number): Promise<SseMessage>;
  /** messages received and not yet taken */
  pending(): number;
  ended: Promise<void>;
  close(): void;
}

export function openEvents(url: string, headers: Record<string, string> = {}, opts: { ca?: string } = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    const req = get(url, { headers, ca: opts.ca }, (res) => {
      const queue: SseMessage[] = [];
      const waiters: ((m: SseMessage) => void)[] = [];
      let buffer = '';
      let endedResolve!: () => void;
      const ended = new Promise<void>((r) => (endedResolve = r));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const msg: SseMessage = { event: 'message', data: '' };
          let any = false;
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) (msg.event = line.slice(6).trim()), (any = true);
            else if (line.startsWith('data:')) (msg.data += line.slice(5).trimStart()), (any = true);
          }
          if (!any) continue;
          const w = waiters.shift();
          if (w) w(msg);
          else queue.push(msg);
        }
      });
      res.on('end', endedResolve);
      res.on('close', endedResolve);
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        pending: () => queue.length,
        ended,
        close: () => req.destroy(),
        next: (timeoutMs = 5000) =>
          new Promise<SseMessage>((ok, fail) => {
            const m = queue.shift();
            if (m) return ok(m);
            const waiter = (msg: SseMessage) => {
              clearTimeout(timer);
              ok(msg);
            };
            const timer = setTimeout(() => {
              waiters.splice(waiters.indexOf(waiter), 1);
              fail(new Error(`no event within ${timeoutMs} ms`));
            }, timeoutMs);
            waiters.push(waiter);
          }),
      });
    });
    req.on('error', reject);
  });
}
