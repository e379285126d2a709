// The Matrix side of notifications, through matrix-js-sdk, pinned to major 37 (43.x fails to
// send on Node 20). No sync loop: the client is made without a scheduler or store and only the plain
// request methods are called — login or whoami, the `m.direct` account data, createRoom,
// joined_rooms, and `PUT /rooms/{room}/send/m.room.message/{txnId}`.
//
// Login: with `access_token`, that token is used as is. With `password`, the head logs in once
// and keeps the device and token in its database, so a restart reuses the same access token:
// that keeps a resent transaction id deduplicated by the homeserver (see outbox.ts). A token
// the server no longer knows is replaced by a new login on the same device.
//
// The direct room of a recipient: remembered in the database once found; else the last room
// listed for them in our `m.direct` account data that we are still in; else a new room
// (`createRoom {is_direct, invite:[recipient], preset: trusted_private_chat}`), remembered at
// once, then added to `m.direct` so other clients show it as a direct chat.
import { ConnectionError, EventType, MatrixClient, MatrixError, MsgType, Preset } from 'matrix-js-sdk';
import type { MatrixConfig } from '../../shared/config.js';
import type { Logger } from '../../shared/log.js';
import type { z } from 'zod';
import type { Message } from './message.js';
import { DeliveryError, type Sender } from './outbox.js';
import { InMemoryMatrixMemory, type MatrixMemory, type MatrixSession } from './matrix-memory.js';

type SdkLogger = NonNullable<ConstructorParameters<typeof MatrixClient>[0]['logger']>;

export type MatrixSettings = z.output<typeof MatrixConfig>;

export const USER_ID = /^@[^:\s]+:\S+$/;

export interface MatrixOptions {
  logger: Logger;
  /** the limit of one HTTP exchange with the homeserver */
  requestTimeoutMs?: number;
}

export const REQUEST_TIMEOUT_MS = 20_000;

/** A problem in head.yaml's `matrix:` that no retry fixes by itself; null when it looks right. */
export function configProblem(c: MatrixSettings): string | null {
  if (!c.access_token && !c.password) return 'matrix: give access_token or password';
  if (!USER_ID.test(c.user_id)) return `matrix: user_id "${c.user_id}" is not a Matrix user id (@name:server)`;
  return null;
}

export class MatrixSender implements Sender {
  private client: MatrixClient | null = null;
  private connecting: Promise<MatrixClient> | null = null;
  private readonly timeoutMs: number;

  constructor(
    private readonly config: MatrixSettings,
    private readonly memory: MatrixMemory,
    private readonly opts: MatrixOptions,
  ) {
    this.timeoutMs = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  }

  async send(recipient: string, message: Message, txnId: string): Promise<{ eventId: string }> {
    const client = await this.signIn().catch((err: unknown) => {
      throw this.classify(err, 'sign in', true);
    });
    let roomId: string;
    try {
      roomId = await this.directRoom(client, recipient);
    } catch (err) {
      throw this.classify(err, `find or create the direct room with ${recipient}`);
    }
    try {
      const res = await client.sendMessage(roomId, { msgtype: MsgType.Text, body: message.body, format: 'org.matrix.custom.html', formatted_body: message.html }, txnId);
      return { eventId: res.event_id };
    } catch (err) {
      if (err instanceof MatrixError && err.errcode === 'M_FORBIDDEN') this.memory.forgetRoom(client.getSafeUserId(), recipient);
      throw this.classify(err, `send to ${roomId}`);
    }
  }

  abort(): void {
    this.client?.http.abort();
  }

  /** Signs in (or reuses the session): the check the head logs at start. */
  async signIn(): Promise<MatrixClient> {
    if (this.client) return this.client;
    this.connecting ??= this.connect().finally(() => (this.connecting = null));
    return this.connecting;
  }

  /** Logs the session out on the homeserver (a one-off check's throwaway login). */
  async signOut(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (client) await client.logout(false).catch(() => undefined);
  }

  private async connect(): Promise<MatrixClient> {
    const c = this.config;
    const problem = configProblem(c);
    if (problem) throw new Error(problem);
    if (c.access_token) {
      const client = this.makeClient({ accessToken: c.access_token, userId: c.user_id });
      const who = await client.whoami();
      if (who.user_id !== c.user_id) throw new Error(`matrix: the access_token belongs to ${who.user_id}, not to user_id ${c.user_id}`);
      if (who.device_id) client.deviceId = who.device_id;
      return (this.client = client);
    }
    const saved = this.memory.session(c.homeserver_url, c.user_id);
    if (saved?.access_token) {
      const client = this.makeClient({ accessToken: saved.access_token, userId: saved.user_id, deviceId: saved.device_id });
      try {
        await client.whoami();
        return (this.client = client);
      } catch (err) {
        if (!(err instanceof MatrixError && err.errcode === 'M_UNKNOWN_TOKEN')) throw err;
        this.opts.logger.info({ event: 'matrix_relogin', user_id: c.user_id, device_id: saved.device_id }, 'matrix: saved access token no longer valid; logging in again on the same device');
      }
    }
    const res = await this.makeClient({}).loginRequest({
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user: c.user_id },
      password: c.password!,
      ...(saved?.device_id ? { device_id: saved.device_id } : {}),
      initial_device_display_name: c.device_name,
    });
    if (res.user_id !== c.user_id) throw new Error(`matrix: logged in as ${res.user_id}, not as user_id ${c.user_id}`);
    const session: MatrixSession = { homeserver: c.homeserver_url, user_id: res.user_id, device_id: res.device_id, access_token: res.access_token };
    this.memory.saveSession(session);
    this.opts.logger.info({ event: 'matrix_login', user_id: res.user_id, device_id: res.device_id }, 'matrix: logged in');
    return (this.client = this.makeClient({ accessToken: res.access_token, userId: res.user_id, deviceId: res.device_id }));
  }

  private makeClient(auth: { accessToken?: string; userId?: string; deviceId?: string }): MatrixClient {
    return new MatrixClient({
      baseUrl: this.config.homeserver_url,
      ...auth,
      useAuthorizationHeader: true,
      logger: sdkLogger(this.opts.logger),
      fetchFn: timedFetch(this.timeoutMs),
    });
  }

  private async directRoom(client: MatrixClient, recipient: string): Promise<string> {
    const me = client.getSafeUserId();
    const known = this.memory.room(me, recipient);
    if (known) return known;

    const direct = (await client.getAccountDataFromServer(EventType.Direct)) ?? {};
    const listed = direct[recipient] ?? [];
    if (listed.length > 0) {
      const joined = new Set((await client.getJoinedRooms()).joined_rooms);
      const room = [...listed].reverse().find((r) => joined.has(r));
      if (room) {
        this.memory.saveRoom(me, recipient, room);
        return room;
      }
    }

    const { room_id } = await client.createRoom({ is_direct: true, invite: [recipient], preset: Preset.TrustedPrivateChat });
    this.memory.saveRoom(me, recipient, room_id);
    this.opts.logger.info({ event: 'matrix_room_created', recipient, room_id }, 'matrix: created a direct room');
    try {
      const fresh = (await client.getAccountDataFromServer(EventType.Direct)) ?? {};
      await client.setAccountDataRaw(EventType.Direct, { ...fresh, [recipient]: [...(fresh[recipient] ?? []).filter((r) => r !== room_id), room_id] });
    } catch (err) {
      // the room works without it; other clients just do not list it as a direct chat
      this.opts.logger.warn({ event: 'matrix_direct_unrecorded', recipient, room_id, error: explain(err) }, 'matrix: could not record the room in m.direct');
    }
    return room_id;
  }

  /** Turns an SDK error into a DeliveryError the outbox knows how to retry. */
  private classify(err: unknown, stage: string, accountProblem = false): DeliveryError {
    const message = `${stage}: ${explain(err)}`;
    if (err instanceof MatrixError) {
      if (err.isRateLimitError()) return new DeliveryError(message, false, retryAfter(err));
      if (err.errcode === 'M_UNKNOWN_TOKEN') {
        this.client = null;
        if (!this.config.access_token) this.memory.forgetSession(this.config.homeserver_url, this.config.user_id);
        return new DeliveryError(message, false);
      }
      const status = err.httpStatus ?? 500;
      return new DeliveryError(message, !accountProblem && status >= 400 && status < 500);
    }
    return new DeliveryError(message, false);
  }
}

export interface MatrixCheck {
  ok: boolean;
  message: string;
}

/**
 * Checks head.yaml's `matrix:` against the homeserver: reachable, and the credentials sign in
 * as `user_id`. Never throws. With `memory` (the head's database), it uses and keeps the head's
 * own session; without, a password check logs in and out again (`distribute doctor`).
 */
export async function checkMatrix(config: MatrixSettings | undefined, opts: Partial<MatrixOptions> & { memory?: MatrixMemory; sender?: MatrixSender } = {}): Promise<MatrixCheck> {
  if (!config) return { ok: true, message: 'matrix: not configured (no notifications are sent)' };
  const problem = configProblem(config);
  if (problem) return { ok: false, message: problem };
  const logger = opts.logger ?? (await import('../../shared/log.js')).silentLogger();
  const timeout = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  try {
    const probe = new MatrixClient({ baseUrl: config.homeserver_url, logger: sdkLogger(logger), fetchFn: timedFetch(timeout) });
    await probe.getVersions();
  } catch (err) {
    return { ok: false, message: `matrix: cannot reach the homeserver ${config.homeserver_url}: ${explain(err)}` };
  }
  const throwaway = !opts.sender && !opts.memory;
  const sender = opts.sender ?? new MatrixSender(config, opts.memory ?? new InMemoryMatrixMemory(), { logger, requestTimeoutMs: timeout });
  try {
    const client = await sender.signIn();
    const how = config.access_token ? 'access_token' : 'password';
    return { ok: true, message: `matrix: ok, signed in as ${client.getSafeUserId()} (device ${client.getDeviceId() ?? 'unknown'}, ${how}) on ${config.homeserver_url}` };
  } catch (err) {
    return { ok: false, message: `matrix: cannot sign in as ${config.user_id} on ${config.homeserver_url}: ${explain(err)}` };
  } finally {
    if (throwaway && config.password && !config.access_token) await sender.signOut();
  }
}

function retryAfter(err: MatrixError): number | null {
  try {
    return err.getRetryAfterMs();
  } catch {
    return null;
  }
}

/** One line: the SDK's message, with the network cause it hides (ECONNREFUSED, timeout...). */
export function explain(err: unknown): string {
  if (err instanceof MatrixError) return `${err.errcode ?? 'error'} (HTTP ${err.httpStatus ?? '?'}): ${String(err.data?.error ?? err.message)}`;
  if (err instanceof ConnectionError) return err.message.replace(/^fetch failed: /, '');
  if (err instanceof Error) {
    return err.message;
  }
  return String(err);
}

/**
 * fetch with a deadline over the whole exchange (body included), and the cause of a network
 * failure put in the message (the SDK keeps only messages). The SDK's own `localTimeoutMs` is
 * not used: it leaves a timer behind per request, which would hold a stopping head open.
 */
export function timedFetch(timeoutMs: number): typeof globalThis.fetch {
  return async (input, init) => {
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = init?.signal ? AbortSignal.any([init.signal, deadline]) : deadline;
    try {
      return await globalThis.fetch(input, { ...init, signal });
    } catch (err) {
      if (deadline.aborted && !init?.signal?.aborted) throw new TypeError(`no answer within ${timeoutMs} ms`);
      if (err instanceof TypeError && err.cause instanceof Error) {
        const cause = err.cause as Error & { code?: string };
        throw new TypeError(cause.message || cause.code || err.message, { cause });
      }
      throw err;
    }
  };
}

/** The SDK's own logging, at debug level in ours (it is chatty; we log what matters ourselves). */
function sdkLogger(log: Logger, namespace = 'matrix-js-sdk'): SdkLogger {
  const at = (...msg: unknown[]): void => {
    if (log.isLevelEnabled('debug')) log.debug({ sdk: namespace }, msg.map((m) => (m instanceof Error ? m.message : typeof m === 'string' ? m : JSON.stringify(m))).join(' '));
  };
  return { trace: at, debug: at, info: at, warn: at, error: at, getChild: (ns: string) => sdkLogger(log, `${namespace}:${ns}`) };
}
