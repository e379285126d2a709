// The compute daemon's HTTP side of the head (bulk data: inputs in, results out).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pipeline } from 'node:stream/promises';
import { headUrls } from '../shared/config.js';
import { tlsAdvice } from '../shared/tls.js';

export { headFetch } from '../shared/tls.js';

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

export interface PutAnswer {
  status: number;
  /** the answer's body, at most 64 KiB of it */
  text: string;
}

/**
 * PUTs a file as a streamed body with node's http client: read as the socket drains, so memory
 * stays flat whatever the size (Node 20's fetch reads a streamed request body far ahead).
 * Network failures reject with the error (its `code` says which: ECONNREFUSED, ...).
 */
export async function putFile(url: string, headers: Record<string, string>, file: string, ca: Buffer | null = null): Promise<PutAnswer> {
  const { size } = await stat(file);
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<PutAnswer>((resolve, reject) => {
    const req = send(target, { method: 'PUT', headers: { ...headers, 'content-length': String(size) }, ...(ca ? { ca } : {}) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (text.length < 65536) text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    // the head may answer (a refusal) and close before taking the whole body: let its answer,
    // if one comes, settle the promise rather than the broken pipe
    pipeline(createReadStream(file), req).catch((err: unknown) => setTimeout(() => reject(err), 200));
  });
}
