import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { MatrixConfig } from '../../../shared/config.js';
import { createLogger } from '../../../shared/log.js';
import { noteBatchChange } from '../../../head/notify/enqueue.js';
import { MatrixSender } from '../../../head/notify/matrix.js';
import { StoreMatrixMemory } from '../../../head/notify/matrix-memory.js';
import { OutboxWorker, type OutboxOptions } from '../../../head/notify/outbox.js';
import { openStore, type Store } from '../../../head/store.js';
import { TestHomeserver } from '../../helpers/homeserver.js';
import { endJob, outbox, seedBatch, testStore } from './support.js';

/** pino lines, parsed, for assertions on what the worker logged */
function capture(): { lines: Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  return { lines, logger: createLogger('head', { level: 'info', destination: { write: (s: string) => void lines.push(JSON.parse(s)) } }) };
}

let batches = 0;
/** A batch that ends, queued through the real path; returns the outbox row id. */
function queueEnd(store: Store): number {
  const id = seedBatch(store, { name: `b${++batches}`, jobs: 1 });
  endJob(store, id, 'job0', 'done');
  return noteBatchChange(store, id)[0]!.id;
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const config = (url: string) => MatrixConfig.parse({ homeserver_url: url, user_id: '@bot:test', password: 'pw' });

function worker(store: Store, url: string, logger: ReturnType<typeof createLogger>, opts: Omit<OutboxOptions, 'logger'> = {}, requestTimeoutMs = 5000): OutboxWorker {
  const sender = new MatrixSender(config(url), new StoreMatrixMemory(store), { logger, requestTimeoutMs });
  return new OutboxWorker(store, sender, { logger, baseDelayMs: 100, ...opts });
}

const sentRow = (store: Store, id: number) => () => outbox(store).find((r) => r.id === id && r.state === 'sent');

describe('outbox worker (real SQLite, real SDK, test homeserver)', () => {
  let hs: TestHomeserver;
  before(async () => {
    hs = new TestHomeserver({ users: { '@bot:test': 'pw' } });
    await hs.start();
  });
  after(() => hs.close());

  it('sends a queued message once, with a transaction id fixed by its row, and marks it sent', async () => {
    const t = testStore();
    const { logger, lines } = capture();
    const w = worker(t.store, hs.url, logger);
    try {
      w.start();
      const before = hs.events.length;
      const id = queueEnd(t.store);
      w.kick();
      const row = await until('sent', sentRow(t.store, id));
      const events = hs.events.slice(before);
      assert.equal(events.length, 1);
      assert.equal(row.event_id, events[0]!.event_id);
      assert.equal(row.attempts, 1);
      assert.match(events[0]!.txn_id, /^distribute\.[0-9a-f]{16}\.\d+$/);
      assert.equal(events[0]!.txn_id, w.txnId(id));
      assert.equal(events[0]!.content.body, row.body);
      assert.ok(lines.some((l) => l.msg === 'notification sent' && l.outbox === id && l.recipient === '@you:test'));
    } finally {
      await w.stop();
      t.cleanup();
    }
  });

  it('honours 429: the next attempt comes after retry_after_ms, and nothing is sent meanwhile', async () => {
    const t = testStore();
    const { logger, lines } = capture();
    const w = worker(t.store, hs.url, logger, { baseDelayMs: 50 });
    try {
      w.start();
      queueEnd(t.store); // signs in and makes the room first
      w.kick();
      await until('first sent', () => outbox(t.store)[0]?.state === 'sent');
      hs.inject({ method: 'PUT', path: /\/send\// }, { kind: 'rate_limit', retryAfterMs: 800 }, 1);
      const mark = hs.requests.length;
      const a = queueEnd(t.store);
      const b = queueEnd(t.store);
      w.kick();
      await until('both sent', () => sentRow(t.store, a)() && sentRow(t.store, b)());
      const after = hs.requests.slice(mark);
      assert.deepEqual(after.map((r) => r.status), [429, 200, 200]);
      const gap = after[1]!.at - after[0]!.at;
      assert.ok(gap >= 800 && gap < 1500, `second attempt ${gap} ms after the 429`);
      assert.equal(after[1]!.path, after[0]!.path, 'the same message (same txnId) is retried first');
      assert.ok(lines.some((l) => l.msg === 'notification not sent; will retry' && l.rate_limited === true && l.retry_in_ms === 800));
    } finally {
      await w.stop();
      t.cleanup();
    }
  });

  it('backs off while the homeserver is down, and delivers when it is back', async () => {
    const down = new TestHomeserver({ users: { '@bot:test': 'pw' } });
    const url = await down.start();
    await down.close();
    const t = testStore();
    const { logger, lines } = capture();
    const w = worker(t.store, url, logger, { baseDelayMs: 100 });
    try {
      w.start();
      const id = queueEnd(t.store);
      w.kick();
      await until('three failed attempts', () => outbox(t.store)[0]!.attempts >= 3);
      const waits = lines.filter((l) => l.msg === 'notification not sent; will retry').map((l) => l.retry_in_ms);
      assert.deepEqual(waits.slice(0, 3), [100, 200, 400]);
      assert.match(outbox(t.store)[0]!.last_error!, /^sign in: .*ECONNREFUSED/);
      await down.start(Number(new URL(url).port));
      const row = await until('sent after the homeserver is back', sentRow(t.store, id));
      assert.equal(down.events.length, 1);
      assert.equal(row.event_id, down.events[0]!.event_id);
    } finally {
      await w.stop();
      t.cleanup();
      await down.close();
    }
  });

  it('keeps a pending message across a restart and sends it from the next worker', async () => {
    const t = testStore();
    const { logger } = capture();
    try {
      const id = queueEnd(t.store);
      t.store.close();
      const store = openStore(t.dir);
      const w = worker(store, hs.url, logger);
      const before = hs.events.length;
      w.start(); // no kick: the worker finds what was pending at start
      await until('sent', sentRow(store, id));
      assert.equal(hs.events.length - before, 1);
      await w.stop();
      store.close();
    } finally {
      t.cleanup();
    }
  });

  it('delivers exactly once when the head dies between the send and marking it sent', async () => {
    const t = testStore();
    const { logger } = capture();
    let store = t.store;
    try {
      const first = worker(store, hs.url, logger);
      first.start();
      const id = queueEnd(store);
      hs.inject({ method: 'PUT', path: /\/send\// }, { kind: 'commit_then_stall' }, 1);
      const before = hs.events.length;
      first.kick();
      await until('the homeserver stored the message', () => hs.events.length > before);
      await first.stop(); // the answer never came: the row is still pending
      store.close();
      store = openStore(t.dir);
      assert.equal(outbox(store)[0]!.state, 'pending');
      const second = worker(store, hs.url, logger);
      second.start();
      const row = await until('sent', sentRow(store, id));
      await second.stop();
      const sends = hs.sends().filter((r) => r.path.endsWith(`/${second.txnId(id)}`));
      assert.equal(sends.length, 2, 'sent twice with the same txnId');
      assert.equal(sends[0]!.token, sends[1]!.token, 'with the same access token');
      assert.equal(hs.events.length - before, 1, 'stored once');
      assert.equal(row.event_id, hs.events.at(-1)!.event_id);
    } finally {
      store.close();
      t.cleanup();
    }
  });

  it('gives a message up after maxAttempts refusals of its own, keeping the reason', async () => {
    const t = testStore();
    const { logger, lines } = capture();
    const w = worker(t.store, hs.url, logger, { baseDelayMs: 20, maxAttempts: 3 });
    try {
      hs.inject({ method: 'PUT', path: /\/send\// }, { kind: 'fail', status: 403, errcode: 'M_FORBIDDEN', error: 'cannot send here' }, 3);
      w.start();
      const id = queueEnd(t.store);
      w.kick();
      const row = await until('failed', () => outbox(t.store).find((r) => r.id === id && r.state === 'failed'));
      assert.equal(row.attempts, 3);
      assert.match(row.last_error!, /^send to !r\d+:test: M_FORBIDDEN \(HTTP 403\): cannot send here$/);
      assert.ok(lines.some((l) => l.level === 50 && l.msg === 'notification given up after 3 attempts'));
    } finally {
      hs.heal();
      await w.stop();
      t.cleanup();
    }
  });

  it('holds nothing while the homeserver stalls: the event loop and the store stay free', async () => {
    const t = testStore();
    const { logger } = capture();
    const w = worker(t.store, hs.url, logger, { deadlineMs: 700 }, 5000);
    try {
      w.start();
      queueEnd(t.store);
      w.kick();
      await until('first sent', () => outbox(t.store)[0]?.state === 'sent');
      hs.inject({ method: 'PUT', path: /\/send\// }, { kind: 'stall' }, 1);
      const id = queueEnd(t.store);
      w.kick();
      await hs.waitFor((r) => r.status === null && /\/send\//.test(r.path));
      const t0 = performance.now();
      for (let i = 0; i < 200; i++) queueEnd(t.store); // the head's transactions go on
      const txMs = performance.now() - t0;
      const lag = monitorEventLoopDelay({ resolution: 10 });
      lag.enable();
      const row = await until('the stalled attempt given up', () => outbox(t.store).find((r) => r.id === id && r.attempts === 1));
      lag.disable();
      assert.match(row.last_error!, /^no answer within 700 ms$/);
      assert.ok(txMs < 2000, `200 batch ends took ${txMs.toFixed(0)} ms`);
      assert.ok(lag.max / 1e6 < 200, `event loop delay up to ${(lag.max / 1e6).toFixed(0)} ms`);
    } finally {
      await w.stop();
      t.cleanup();
    }
  });
});
