// The compute daemon's HTTP side of the head (bulk data: inputs in, results out).
import { headUrls } from '../shared/config.js';

export interface HeadEndpoint {
  /** http(s)://host:port */
  http: string;
  /** ws(s)://host:port */
  ws: string;
  token: string;
}

export function headEndpoint(base: string, token: string): HeadEndpoint {
  return { ...headUrls(base), token };
}

export function authorization(head: HeadEndpoint): Record<string, string> {
  return { authorization: `Bearer ${head.token}` };
}

/** The network-level reason of a failed fetch (ECONNREFUSED, ...), else its message. */
export function fetchFailure(err: unknown): string {
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
