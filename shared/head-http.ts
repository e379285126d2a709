// HTTP to the head for bulk data, as the compute daemon (inputs in, results out) and the CLI
// (uploads) both speak it: endpoints, bearer auth, streamed PUTs and what a failure means.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Agent as HttpAgent, request as httpRequest, type ClientRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { headUrls } from './config.js';
import { tlsAdvice } from './tls.js';

export { headFetch } from './tls.js';

export interface HeadEndpoint {
  /** http(s)://host:port */
  http: string;
  /** ws(s)://host:port */
  ws: string;
  token: string;
  /** the CA trusted for wss/https (compute.yaml `ca:`); null: the system's trust store */
  ca: Buffer | null;
}

export function headEndpoint(base: string, token: string, ca: Buffer | null = null): HeadEndpoint {
  return { ...headUrls(base), token, ca };
}

export function authorization(head: HeadEndpoint): Record<string, string> {
  return { authorization: `Bearer ${head.token}` };
}

/** The network-level reason of a failed fetch (ECONNREFUSED, ...), else its message. */
export function fetchFailure(err: unknown): string {
  const tls = tlsAdvice(err);
  if (tls) return tls;
  let e: unknown = err;
  let innermost: unknown = err;
  for (let i = 0; i < 4 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    innermost = e;
    e = (e as { cause?: unknown }).cause;
  }
  if (innermost !== err) return innermost instanceof Error ? innermost.message : String(innermost);
  return err instanceof Error ? err.message : String(err);
}

/**
 * How long a request to the head may go without a byte moving either way (connecting, sending
 * the body, waiting for the answer) before it fails with ETIMEDOUT: a head that accepted the
 * connection but never answers (a stopped process, a full disk) must not hold an upload, or a
 * command, forever. Generous: the head answers an upload once it is fsynced and committed.
 */
export const HEAD_IDLE_TIMEOUT_MS = 120_000;

/** Makes `req` fail with ETIMEDOUT once its socket has been idle for `ms`. */
export function failWhenIdle(req: ClientRequest, ms: number): void {
  req.setTimeout(ms, () => req.destroy(Object.assign(new Error(`no answer from the head for ${Math.round(ms / 1000)} s`), { code: 'ETIMEDOUT' })));
}

export interface PutAnswer {
  status: number;
  /** the answer's body, at most 64 KiB of it */
  text: string;
}

/** What a PUT sends: bytes in memory, a stream made fresh for each try, or a writer into the request. */
export type PutBody = { data: Buffer } | { open: () => Readable; size?: number } | { writeTo: (sink: Writable) => Promise<void> };

// Connections to the head are kept open between uploads: one TCP (and TLS) setup per node,
// not one per result. An idle kept-alive socket does not hold a process open (node unrefs it).
const KEEP_ALIVE = { keepAlive: true, scheduling: 'lifo' as const };
const httpAgent = new HttpAgent(KEEP_ALIVE);
const httpsAgents = new Map<Buffer | null, HttpsAgent>();

function agentFor(target: URL, ca: Buffer | null): HttpAgent {
  if (target.protocol !== 'https:') return httpAgent;
  let a = httpsAgents.get(ca);
  if (!a) {
    a = new HttpsAgent({ ...KEEP_ALIVE, ...(ca ? { ca } : {}) });
    httpsAgents.set(ca, a);
  }
  return a;
}

/**
 * PUTs a body with node's http client over a kept-alive connection. A stream is read as the
 * socket drains, so memory stays flat whatever the size (Node 20's fetch reads a streamed
 * request body far ahead). A kept-alive socket the head closed just as it was reused is
 * retried once on a fresh one. Network failures reject with the error (its `code` says which).
 */
export async function putBody(url: string, headers: Record<string, string>, body: PutBody, ca: Buffer | null = null, idleMs = HEAD_IDLE_TIMEOUT_MS): Promise<PutAnswer> {
  try {
    return await putOnce(url, headers, body, ca, idleMs);
  } catch (err) {
    if ((err as { reusedSocket?: boolean }).reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET') return putOnce(url, headers, body, ca, idleMs);
    throw err;
  }
}

function putOnce(url: string, headers: Record<string, string>, body: PutBody, ca: Buffer | null, idleMs: number): Promise<PutAnswer> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const size = 'data' in body ? body.data.length : 'open' in body ? body.size : undefined;
  const allHeaders = size === undefined ? headers : { ...headers, 'content-length': String(size) };
  return new Promise<PutAnswer>((resolve, reject) => {
    const req = send(target, { method: 'PUT', headers: allHeaders, agent: agentFor(target, ca), ...(ca ? { ca } : {}) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (text.length < 65536) text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
    failWhenIdle(req, idleMs);
    if ('data' in body) {
      req.end(body.data);
      return;
    }
    if ('writeTo' in body) {
      body.writeTo(req).then(
        () => req.end(),
        (err: unknown) => {
          req.destroy(err instanceof Error ? err : new Error(String(err)));
          setTimeout(() => reject(err), 200);
        },
      );
      return;
    }
    // the head may answer (a refusal) and close before taking the whole body: let its answer,
    // if one comes, settle the promise rather than the broken pipe
    pipeline(body.open(), req).catch((err: unknown) => setTimeout(() => reject(err), 200));
  });
}

/** PUTs a file as a streamed body (see `putBody`). */
export async function putFile(url: string, headers: Record<string, string>, file: string, ca: Buffer | null = null): Promise<PutAnswer> {
  const { size } = await stat(file);
  return putBody(url, headers, { open: () => createReadStream(file), size }, ca);
}
