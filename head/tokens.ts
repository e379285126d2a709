// Tokens: created on the head host (`distribute token create`, `distribute up`), stored as
// SHA-256 only, presented as `Authorization: Bearer <token>`.
import { bearerToken, hashToken, newToken, sameHash } from '../shared/auth.js';
import { unsafeNameReason } from '../shared/paths.js';
import { UserError } from '../shared/errors.js';
import type { Store, TokenRow } from './store.js';
import { MAX_CAPABILITY_CHARS, MAX_NODE_CAPABILITIES, MAX_NODE_CPUS, MAX_NODE_GPUS, MAX_NODE_MEMORY } from './node-claims.js';
import { hasPins, pinsOfRow, type TokenPins } from './token-pins.js';

export interface Principal {
  kind: 'user' | 'node';
  name: string;
  admin: boolean;
  /** a node token's limits on what its hello may claim (absent or empty: none) */
  pins?: TokenPins;
}

export interface TokenRequest {
  kind: 'user' | 'node';
  name: string;
  admin?: boolean;
  pins?: TokenPins;
}

/** A token as `token list` shows it: never the token, nor its hash. */
export interface TokenListing {
  kind: 'user' | 'node';
  name: string;
  admin: boolean;
  created: string;
  pins: TokenPins;
}

/** Makes a new token for a user or node, stores its hash, and returns it (shown once). */
export function createToken(store: Store, req: TokenRequest): string {
  const why = unsafeNameReason(req.name);
  if (why) throw new UserError(`${req.kind} name ${why}`);
  if (req.kind === 'node' && req.admin) throw new UserError('--admin is for user tokens; a node token only speaks the node protocol');
  const pins = req.pins ?? {};
  if (req.kind === 'user' && hasPins(pins)) throw new UserError('--cpus, --memory, --gpus and --capabilities pin a node token; a user token has no hello to pin');
  checkPins(pins);
  const token = newToken();
  store.tx(() => {
    store
      .stmt('INSERT INTO tokens (hash, kind, name, admin, created, pin_cpus, pin_memory, pin_gpus, pin_capabilities) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(
        hashToken(token), req.kind, req.name, req.admin ? 1 : 0, store.now(),
        pins.cpus ?? null, pins.memory ?? null, pins.gpus ?? null,
        pins.capabilities === undefined ? null : JSON.stringify(pins.capabilities),
      );
  });
  return token;
}

/** Pins within what one machine can have (head/node-claims.ts), capabilities as names. */
function checkPins(pins: TokenPins): void {
  const whole = (v: number | undefined, flag: string, min: number, max: number) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= max)) throw new UserError(`--${flag} ${v}: give a whole number from ${min} to ${max}`);
  };
  whole(pins.cpus, 'cpus', 1, MAX_NODE_CPUS);
  whole(pins.memory, 'memory', 0, MAX_NODE_MEMORY);
  whole(pins.gpus, 'gpus', 0, MAX_NODE_GPUS);
  const caps = pins.capabilities;
  if (caps === undefined) return;
  if (caps.length > MAX_NODE_CAPABILITIES) throw new UserError(`--capabilities: ${caps.length} given; at most ${MAX_NODE_CAPABILITIES}`);
  const bad = caps.find((c) => c.length === 0 || c.length > MAX_CAPABILITY_CHARS);
  if (bad !== undefined) throw new UserError(`--capabilities: a capability of ${bad.length} characters; give 1 to ${MAX_CAPABILITY_CHARS}`);
}

/** Every token, oldest first, for `distribute token list`. */
export function listTokens(store: Store): TokenListing[] {
  return store
    .stmt<TokenRow>('SELECT * FROM tokens ORDER BY created, kind, name')
    .all()
    .map((row) => ({ kind: row.kind, name: row.name, admin: row.admin === 1, created: new Date(row.created).toISOString(), pins: pinsOfRow(row) }));
}

/** Who an `Authorization` header speaks for, or null when it names no known token. */
export function authenticate(store: Store, header: string | undefined): Principal | null {
  const token = bearerToken(header);
  if (!token) return null;
  const hash = hashToken(token);
  const row = store.token(hash);
  if (!row || !sameHash(row.hash, hash)) return null;
  const principal: Principal = { kind: row.kind, name: row.name, admin: row.admin === 1 };
  if (row.kind === 'node') {
    const pins = pinsOfRow(row);
    if (hasPins(pins)) principal.pins = pins;
  }
  return principal;
}
