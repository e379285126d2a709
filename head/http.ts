// Small HTTP helpers for the head's handlers: JSON in and out, errors as `{error}`.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { MAX_REQUEST_JSON } from '../shared/limits.js';
import { formatBytes } from '../shared/spec/units.js';

/** A refusal a handler throws; the server answers `status` with `{error, ...extra}`. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly extra: Record<string, unknown> = {}) {
    super(message);
    this.name = 'HttpError';
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Reads and validates a JSON body; 400 naming the problem, 413 when too large: at once when
 * Content-Length says so, else as soon as the stream passes the limit (never read whole).
 * `what` and `key` name the body and the setting that raises the limit in the message.
 */
export async function readJson<S extends z.ZodType>(req: IncomingMessage, schema: S, limit = MAX_REQUEST_JSON, what = 'request body', key?: string): Promise<z.output<S>> {
  return parseJsonBody(await readBody(req, limit, what, key), schema);
}

/** The whole body, bounded as readJson's (413 at once, or as soon as it passes `limit`). */
export async function readBody(req: IncomingMessage, limit: number, what = 'request body', key?: string): Promise<Buffer> {
  const tooLarge = (size: string) =>
    new HttpError(413, `${what} of ${size} is over the head's limit of ${formatBytes(limit)}${key ? ` (${key} in head.yaml)` : ''}`);
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) throw tooLarge(formatBytes(declared));
  // with its length known, copied piece by piece into a buffer of its own as it arrives: no
  // copy of megabytes in one go at the end (and the batch parser can move it to its thread)
  const whole = declared > 64 * 1024 ? Buffer.allocUnsafeSlow(declared) : null;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const c = chunk as Buffer;
    if (size + c.length > limit) throw tooLarge(`more than ${formatBytes(limit)}`);
    if (!whole) chunks.push(c);
    else if (size + c.length <= whole.length) c.copy(whole, size);
    else throw new HttpError(400, `${what} is longer than its Content-Length`); // Node's parser allows no such thing
    size += c.length;
  }
  if (whole) return size === whole.length ? whole : whole.subarray(0, size);
  return Buffer.concat(chunks, size);
}

/** A body parsed as JSON and checked by `schema`; 400 naming the problem. */
export function parseJsonBody<S extends z.ZodType>(body: Uint8Array, schema: S): z.output<S> {
  let raw: unknown;
  try {
    raw = body.length === 0 ? {} : JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.length).toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `request body is not JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new HttpError(400, `invalid request: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** `host:port`, `[v6]:port` or `:port` → host and port (port 0 = any free one). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen.trim());
  if (!m) throw new Error(`listen "${listen}" must look like 127.0.0.1:8952`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`listen "${listen}": port ${port} is over 65535`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
