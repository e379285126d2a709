// Tokens: created on the head host (`distribute token create`, `distribute up`), stored as
// SHA-256 only, presented as `Authorization: Bearer <token>`.
import { bearerToken, hashToken, newToken, sameHash } from '../shared/auth.js';
import { unsafeNameReason } from '../shared/paths.js';
import { UserError } from '../shared/errors.js';
import type { Store } from './store.js';

export interface Principal {
  kind: 'user' | 'node';
  name: string;
  admin: boolean;
}

export interface TokenRequest {
  kind: 'user' | 'node';
  name: string;
  admin?: boolean;
}

/** Makes a new token for a user or node, stores its hash, and returns it (shown once). */
export function createToken(store: Store, req: TokenRequest): string {
  const why = unsafeNameReason(req.name);
  if (why) throw new UserError(`${req.kind} name ${why}`);
  if (req.kind === 'node' && req.admin) throw new UserError('--admin is for user tokens; a node token only speaks the node protocol');
  const token = newToken();
  store.tx(() => {
    store
      .stmt('INSERT INTO tokens (hash, kind, name, admin, created) VALUES (?, ?, ?, ?, ?)')
      .run(hashToken(token), req.kind, req.name, req.admin ? 1 : 0, store.now());
  });
  return token;
}

/** Who an `Authorization` header speaks for, or null when it names no known token. */
export function authenticate(store: Store, header: string | undefined): Principal | null {
  const token = bearerToken(header);
  if (!token) return null;
  const hash = hashToken(token);
  const row = store.token(hash);
  if (!row || !sameHash(row.hash, hash)) return null;
  return { kind: row.kind, name: row.name, admin: row.admin === 1 };
}
