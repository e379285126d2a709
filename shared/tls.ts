// Trusting the head's certificate. With `tls: {cert, key}` in head.yaml the head speaks
// https/wss; its clients (the CLI and the compute daemon) check the certificate against:
//   - a `ca` file when one is given (compute.yaml `ca:`, the CLI's `--ca`, DISTRIBUTE_CA or
//     `ca:` in the user config): that CA alone is trusted, typically the lab's own CA;
//   - else the system's trust store (a certificate from a public CA needs nothing).
// The host name is always checked against the certificate's names.
//
// How: Node 20's global fetch cannot be given a CA without importing undici, which is not
// importable as a package here, and NODE_EXTRA_CA_CERTS is read only at process start. So a
// client with a `ca` uses `fetchTrusting(ca)`: the same fetch interface (Request init in,
// WHATWG Response out, streamed both ways) over node:https, which takes `ca` per request.
// Without a `ca` the global fetch is used unchanged. WebSockets (ws) take `ca` directly.
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { UserError } from './errors.js';

/** Reads a PEM CA file named by `where` (a config field or flag), as a UserError when it cannot. */
export function readCa(file: string, where: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (err) {
    throw new UserError(`${where}: cannot read the CA file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UserError(`${where}: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return pem;
}

function responseHeaders(res: IncomingMessage): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
  }
  return h;
}

/** Errors as global fetch throws them: a TypeError whose `cause` is the network's error. */
function fetchError(cause: unknown): TypeError {
  return Object.assign(new TypeError('fetch failed'), { cause });
}

/** `fetch`, trusting `ca` alone for https URLs. */
export function fetchTrusting(ca: Buffer): typeof fetch {
  return (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const method = (init.method ?? 'GET').toUpperCase();
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<Response>((resolve, reject) => {
      const req = send(url, { method, headers, ca, ...(init.signal ? { signal: init.signal } : {}) }, (res) => {
        const status = res.statusCode ?? 500;
        const empty = method === 'HEAD' || status === 204 || status === 205 || status === 304;
        if (empty) res.resume();
        resolve(new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, statusText: res.statusMessage ?? '', headers: responseHeaders(res) }));
      });
      req.on('error', (err) => reject(fetchError(err)));
      const body = init.body;
      if (body === undefined || body === null) req.end();
      else if (typeof body === 'string' || body instanceof Uint8Array) req.end(body);
      else if (body instanceof ReadableStream) {
        const source = Readable.fromWeb(body as import('node:stream/web').ReadableStream);
        source.on('error', (err) => req.destroy(err));
        source.pipe(req);
      } else reject(new TypeError('fetchTrusting: unsupported body type'));
    });
  };
}

/** The fetch a client of the head uses: trusting `ca` when given, else the global one. */
export function headFetch(ca: Buffer | null | undefined): typeof fetch {
  return ca ? fetchTrusting(ca) : fetch;
}

const TLS_CODES: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its certificate is not signed by a CA this side trusts',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its certificate is not signed by a CA this side trusts',
  SELF_SIGNED_CERT_IN_CHAIN: 'its certificate chain ends in a CA this side does not trust',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its certificate is self-signed and not trusted here',
  CERT_HAS_EXPIRED: 'its certificate has expired',
  CERT_NOT_YET_VALID: 'its certificate is not valid yet (check the clocks)',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its certificate does not name this host',
  EPROTO: 'it does not speak TLS there (use ws:// or http://), or speaks another TLS',
  ERR_SSL_WRONG_VERSION_NUMBER: 'it does not speak TLS there (use ws:// or http://)',
};

/** The error code of a failed connection, looking through `cause` chains. */
export function errorCode(err: unknown): string | null {
  let e: unknown = err;
  for (let i = 0; i < 5 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}

/** A TLS failure as what happened, its code and what to do; null when `err` is not one. */
export function tlsProblem(err: unknown): { what: string; code: string; fix: string } | null {
  const code = errorCode(err);
  if (!code) return null;
  const what = TLS_CODES[code] ?? (/^ERR_SSL_|^ERR_TLS_|CERT/.test(code) ? `TLS failed (${code})` : null);
  if (!what) return null;
  const fix = code === 'ERR_TLS_CERT_ALTNAME_INVALID'
    ? 'use the name the certificate was made for, or remake it with this name in subjectAltName'
    : code.includes('EXPIRED') || code.includes('NOT_YET')
      ? 'renew the head\'s certificate'
      : code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER'
        ? 'check the URL scheme against the head\'s tls: setting'
        : 'give the lab CA that signed it (ca: in the config, --ca FILE or DISTRIBUTE_CA)';
  return { what, code, fix };
}

/** What to do about a TLS failure in one line, or null when `err` is not one. */
export function tlsAdvice(err: unknown): string | null {
  const p = tlsProblem(err);
  return p ? `${p.what} (${p.code}): ${p.fix}` : null;
}
