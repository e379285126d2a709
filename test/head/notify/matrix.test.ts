import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MatrixConfig } from '../../../shared/config.js';
import { silentLogger } from '../../../shared/log.js';
import { checkMatrix, MatrixSender } from '../../../head/notify/matrix.js';
import { InMemoryMatrixMemory, StoreMatrixMemory } from '../../../head/notify/matrix-memory.js';
import { DeliveryError } from '../../../head/notify/outbox.js';
import { TestHomeserver } from '../../helpers/homeserver.js';
import { testStore } from './support.js';

const logger = silentLogger();
const msg = { body: 'hello', html: '<p>hello</p>' };

function passwordConfig(url: string, password = 'pw') {
  return MatrixConfig.parse({ homeserver_url: url, user_id: '@bot:test', password, device_name: 'distribute head' });
}

function routes(hs: TestHomeserver, from = 0): string[] {
  return hs.requests.slice(from).map((r) => `${r.method} ${r.path.replace('/_matrix/client', '')}`);
}

describe('matrix sender (matrix-js-sdk against a test homeserver)', () => {
  let hs: TestHomeserver;
  before(async () => {
    hs = new TestHomeserver({ users: { '@bot:test': 'pw' }, tokens: { 'static-token': '@bot:test' } });
    await hs.start();
  });
  after(() => hs.close());

  it('logs in, creates the direct room once, records it in m.direct, and sends text with HTML', async () => {
    const t = testStore();
    try {
      const sender = new MatrixSender(passwordConfig(hs.url), new StoreMatrixMemory(t.store), { logger });
      const from = hs.requests.length;
      const { eventId } = await sender.send('@you:test', msg, 'txn-1');
      assert.deepEqual(routes(hs, from), [
        'POST /v3/login',
        'GET /v3/user/@bot:test/account_data/m.direct',
        'POST /v3/createRoom',
        'GET /v3/user/@bot:test/account_data/m.direct',
        'PUT /v3/user/@bot:test/account_data/m.direct',
        'PUT /v3/rooms/!r3:test/send/m.room.message/txn-1',
      ]);
      const login = hs.requests[from]!.body as Record<string, unknown>;
      assert.deepEqual(login, { type: 'm.login.password', identifier: { type: 'm.id.user', user: '@bot:test' }, password: 'pw', initial_device_display_name: 'distribute head' });
      const create = hs.requests[from + 2]!.body;
      assert.deepEqual(create, { is_direct: true, invite: ['@you:test'], preset: 'trusted_private_chat' });
      assert.deepEqual(hs.accountData.get('@bot:test')!.get('m.direct'), { '@you:test': ['!r3:test'] });
      const [event] = hs.events;
      assert.equal(event!.event_id, eventId);
      assert.deepEqual(event!.content, { msgtype: 'm.text', body: 'hello', format: 'org.matrix.custom.html', formatted_body: '<p>hello</p>' });

      // a new sender on the same database (a restarted head): same token, same room, no login
      const again = new MatrixSender(passwordConfig(hs.url), new StoreMatrixMemory(t.store), { logger });
      const mark = hs.requests.length;
      await again.send('@you:test', msg, 'txn-2');
      assert.deepEqual(routes(hs, mark), ['GET /v3/account/whoami', 'PUT /v3/rooms/!r3:test/send/m.room.message/txn-2']);
      assert.equal(hs.requests[mark]!.token, hs.requests[mark + 1]!.token);
      assert.equal(hs.requests[mark]!.token, hs.requests[from + 5]!.token, 'the saved access token is reused');
    } finally {
      t.cleanup();
    }
  });

  it('uses a direct room already listed in m.direct that it is still in', async () => {
    const t = testStore();
    try {
      const sender = new MatrixSender(passwordConfig(hs.url), new InMemoryMatrixMemory(), { logger });
      await sender.send('@carol:test', msg, 'c-1'); // creates the room and lists it
      const room = (hs.accountData.get('@bot:test')!.get('m.direct') as Record<string, string[]>)['@carol:test']![0]!;
      const fresh = new MatrixSender(passwordConfig(hs.url), new StoreMatrixMemory(t.store), { logger });
      const mark = hs.requests.length;
      await fresh.send('@carol:test', msg, 'c-2');
      assert.deepEqual(routes(hs, mark), [
        'POST /v3/login',
        'GET /v3/user/@bot:test/account_data/m.direct',
        'GET /v3/joined_rooms',
        `PUT /v3/rooms/${room}/send/m.room.message/c-2`,
      ]);
    } finally {
      t.cleanup();
    }
  });

  it('classifies failures for the outbox: 429 with its delay, 5xx transient, 4xx on the send permanent', async () => {
    const sender = new MatrixSender(MatrixConfig.parse({ homeserver_url: hs.url, user_id: '@bot:test', access_token: 'static-token' }), new InMemoryMatrixMemory(), { logger });
    await sender.send('@dave:test', msg, 'd-0');
    hs.inject({ method: 'PUT', path: /\/send\// }, { kind: 'rate_limit', retryAfterMs: 1234 }, 1);
    await assert.rejects(sender.send('@dave:test', msg, 'd-1'), (e: unknown) => e instanceof DeliveryError && e.retryAfterMs === 1234 && !e.permanent && /M_LIMIT_EXCEEDED/.test(e.message));
    hs.inject({ method: 'PUT', path: /\/send\// }, { kind: 'fail', status: 502, errcode: 'M_UNKNOWN' }, 1);
    await assert.rejects(sender.send('@dave:test', msg, 'd-1'), (e: unknown) => e instanceof DeliveryError && !e.permanent && e.retryAfterMs === null);
    hs.inject({ method: 'PUT', path: /\/send\// }, { kind: 'fail', status: 403, errcode: 'M_FORBIDDEN', error: 'not allowed' }, 1);
    await assert.rejects(sender.send('@dave:test', msg, 'd-1'), (e: unknown) => e instanceof DeliveryError && e.permanent && /send to !r\d+:test: M_FORBIDDEN \(HTTP 403\): not allowed/.test(e.message));
    // a refused send forgets the room: the next attempt looks it up again
    const mark = hs.requests.length;
    await sender.send('@dave:test', msg, 'd-1');
    assert.ok(routes(hs, mark).includes('GET /v3/user/@bot:test/account_data/m.direct'));
  });

  it('gives up on a stalled request after its timeout', async () => {
    const sender = new MatrixSender(MatrixConfig.parse({ homeserver_url: hs.url, user_id: '@bot:test', access_token: 'static-token' }), new InMemoryMatrixMemory(), { logger, requestTimeoutMs: 300 });
    await sender.send('@erin:test', msg, 'e-0');
    hs.inject({ method: 'PUT', path: /\/send\// }, { kind: 'stall' }, 1);
    const t0 = Date.now();
    await assert.rejects(sender.send('@erin:test', msg, 'e-1'), (e: unknown) => e instanceof DeliveryError && !e.permanent && /send to !r\d+:test: no answer within 300 ms$/.test(e.message));
    const took = Date.now() - t0;
    assert.ok(took >= 290 && took < 2000, `took ${took} ms`);
  });

  it('logs in again on the same device when the saved token is no longer valid', async () => {
    const t = testStore();
    try {
      const memory = new StoreMatrixMemory(t.store);
      await new MatrixSender(passwordConfig(hs.url), memory, { logger }).send('@you:test', msg, 'f-1');
      const saved = memory.session(hs.url, '@bot:test')!;
      await fetch(`${hs.url}/_matrix/client/v3/logout`, { method: 'POST', headers: { authorization: `Bearer ${saved.access_token}` } });
      const mark = hs.requests.length;
      await new MatrixSender(passwordConfig(hs.url), memory, { logger }).send('@you:test', msg, 'f-2');
      assert.deepEqual(routes(hs, mark).slice(0, 2), ['GET /v3/account/whoami', 'POST /v3/login']);
      assert.equal((hs.requests[mark + 1]!.body as { device_id?: string }).device_id, saved.device_id);
      assert.equal(memory.session(hs.url, '@bot:test')!.device_id, saved.device_id);
    } finally {
      t.cleanup();
    }
  });

  describe('checkMatrix', () => {
    it('says ok with who the head signs in as', async () => {
      const r = await checkMatrix(passwordConfig(hs.url), { logger });
      assert.deepEqual(r.ok, true);
      assert.match(r.message, /^matrix: ok, signed in as @bot:test \(device DEV\d+, password\) on http:\/\/127\.0\.0\.1:\d+$/);
      // a one-off check does not leave a session behind
      assert.equal(hs.requests.at(-1)!.path, '/_matrix/client/v3/logout');
    });

    it('names what is wrong: credentials, user id, password, token owner, reachability', async () => {
      assert.deepEqual(await checkMatrix(undefined), { ok: true, message: 'matrix: not configured (no notifications are sent)' });
      assert.deepEqual(await checkMatrix(MatrixConfig.parse({ homeserver_url: hs.url, user_id: '@bot:test' })), { ok: false, message: 'matrix: give access_token or password' });
      assert.deepEqual(await checkMatrix(MatrixConfig.parse({ homeserver_url: hs.url, user_id: 'bot', password: 'x' })), {
        ok: false,
        message: 'matrix: user_id "bot" is not a Matrix user id (@name:server)',
      });
      assert.deepEqual(await checkMatrix(passwordConfig(hs.url, 'wrong')), {
        ok: false,
        message: `matrix: cannot sign in as @bot:test on ${hs.url}: M_FORBIDDEN (HTTP 403): Invalid username or password`,
      });
      const other = MatrixConfig.parse({ homeserver_url: hs.url, user_id: '@someone:test', access_token: 'static-token' });
      assert.deepEqual(await checkMatrix(other), {
        ok: false,
        message: `matrix: cannot sign in as @someone:test on ${hs.url}: matrix: the access_token belongs to @bot:test, not to user_id @someone:test`,
      });
      const down = new TestHomeserver();
      const url = await down.start();
      await down.close();
      const r = await checkMatrix(passwordConfig(url));
      assert.equal(r.ok, false);
      assert.match(r.message, new RegExp(`^matrix: cannot reach the homeserver ${url}: .*ECONNREFUSED`));
    });
  });
});
