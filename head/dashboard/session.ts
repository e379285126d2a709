// Who is looking at the dashboard. The browser keeps the user's token in a cookie
// (`HttpOnly; SameSite=Lax; Path=/`, plus `Secure` under TLS): the token itself rather
// than a session id, so a restarted head keeps everyone logged in and revoking the token in
// the database logs the browser out too. The cookie is accepted on read-only (GET) routes
// only, and login and logout check the origin, so another site gains nothing by riding on
// it. Lax, not Strict: the `/?token=T` link from a chat message is a cross-site navigation,
// and a browser sends no Strict cookie along the redirect to `/` it answers with.
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { bearerToken } from '../../shared/auth.js';
import { authenticate, type Principal } from '../tokens.js';
import type { Store } from '../store.js';

export const COOKIE_NAME = 'distribute_token';
/** How long the browser keeps the cookie; the token itself does not expire. */
const COOKIE_MAX_AGE_S = 30 * 24 * 3600;
const TOKEN_SHAPE = /^[A-Za-z0-9_\-.~+/=]{1,512}$/;

/** The value of one cookie of a `Cookie` header, or null. */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(raw);
    } catch {
      return null;
    }
  }
  return null;
}

export function isTls(req: IncomingMessage): boolean {
  return (req.socket as TLSSocket).encrypted === true;
}

export function sessionCookie(token: string, secure: boolean): string {
  return `${COOKIE_NAME}=${encodeURIComponent(token)}; HttpOnly; SameSite=Lax; Path=/; Max-Age=${COOKIE_MAX_AGE_S}${secure ? '; Secure' : ''}`;
}

export function clearedCookie(secure: boolean): string {
  return `${COOKIE_NAME}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0${secure ? '; Secure' : ''}`;
}

/** The principal a bare token names (form field, `?token=`, cookie), or null. */
export function principalOfToken(store: Store, token: string | null | undefined): Principal | null {
  if (!token || !TOKEN_SHAPE.test(token)) return null;
  return authenticate(store, `Bearer ${token}`);
}

export interface Caller {
  /** the token presented, kept to re-check it while a stream stays open */
  token: string;
  principal: Principal;
}

/**
 * Who a read-only request speaks for: the bearer header when there is one (it wins), else
 * the dashboard cookie. `undefined` = no credentials at all; `null` = credentials that name
 * no token.
 */
export function callerOf(store: Store, req: IncomingMessage): Caller | null | undefined {
  const token = bearerToken(req.headers.authorization) ?? cookieValue(req.headers.cookie, COOKIE_NAME);
  if (!token) return undefined;
  const principal = principalOfToken(store, token);
  return principal ? { token, principal } : null;
}

/** The principal of the dashboard cookie (for the head's read-only API routes), or null. */
export function cookiePrincipal(store: Store, req: IncomingMessage): Principal | null {
  if (req.headers.authorization) return null;
  return principalOfToken(store, cookieValue(req.headers.cookie, COOKIE_NAME));
}

/**
 * A POST from a page of this head, not from another site: the browser says so in
 * `Sec-Fetch-Site` (current browsers) or in `Origin` (sent with every form POST). Guards
 * login and logout against cross-site forms.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  const fetchSite = req.headers['sec-fetch-site'];
  if (fetchSite !== undefined) return fetchSite === 'same-origin' || fetchSite === 'none';
  if (origin === undefined) return true; // not a browser form (curl): nothing to forge
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}
