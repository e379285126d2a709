// One HTTP(S) request to the head, told in the detail `distribute doctor` needs: how long it
// took, the head's clock (Date header), the certificate it showed, or why it failed.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { PeerCertificate, TLSSocket } from 'node:tls';

export interface ProbeAnswer {
  ok: true;
  status: number;
  body: string;
  /** the head's Date header, in epoch ms; null when absent */
  headDate: number | null;
  /** local clock when the request was sent and the answer came */
  sentAt: number;
  receivedAt: number;
  /** the head's certificate (https only) */
  cert: PeerCertificate | null;
}

export interface ProbeFailure {
  ok: false;
  error: Error;
  /** the network's code (ECONNREFUSED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, ...), or 'TIMEOUT' */
  code: string;
}

export interface ProbeOptions {
  token?: string | null;
  ca?: Buffer | null;
  /** accept any certificate (the checks are made on the certificate files instead) */
  insecure?: boolean;
  timeoutMs?: number;
  now?: () => number;
}

const MAX_BODY = 64 * 1024;

export function probe(url: string, o: ProbeOptions = {}): Promise<ProbeAnswer | ProbeFailure> {
  const now = o.now ?? Date.now;
  const u = new URL(url);
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers: Record<string, string> = {};
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: ProbeAnswer | ProbeFailure) => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    const sentAt = now();
    const req = send(u, { method: 'GET', headers, ...(o.ca ? { ca: o.ca } : {}), ...(o.insecure ? { rejectUnauthorized: false } : {}), agent: false }, (res: IncomingMessage) => {
      const socket = res.socket as TLSSocket;
      const cert = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : null;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < MAX_BODY) body += d;
      });
      res.on('end', () => {
        const date = res.headers.date ? Date.parse(res.headers.date) : NaN;
        done({ ok: true, status: res.statusCode ?? 0, body, headDate: Number.isNaN(date) ? null : date, sentAt, receivedAt: now(), cert: cert && Object.keys(cert).length ? cert : null });
      });
      res.on('error', (error) => done({ ok: false, error, code: (error as NodeJS.ErrnoException).code ?? 'ERROR' }));
    });
    req.setTimeout(o.timeoutMs ?? 5000, () => {
      const error = new Error(`no answer within ${o.timeoutMs ?? 5000} ms`);
      done({ ok: false, error, code: 'TIMEOUT' });
      req.destroy(error);
    });
    req.on('error', (error) => done({ ok: false, error, code: (error as NodeJS.ErrnoException).code ?? 'ERROR' }));
    req.end();
  });
}
