import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MatrixConfig } from '../../../shared/config.js';
import { createLogger } from '../../../shared/log.js';
import { batchChanged, startNotifications } from '../../../head/notify/index.js';
import { TestHomeserver } from '../../helpers/homeserver.js';
import { endJob, outbox, seedBatch, testStore } from './support.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  return { lines, logger: createLogger('head', { level: 'info', destination: { write: (s: string) => void lines.push(JSON.parse(s)) } }) };
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

describe('notifications in the head', () => {
  let hs: TestHomeserver;
  before(async () => {
    hs = new TestHomeserver({ users: { '@bot:test': 'pw' } });
    await hs.start();
  });
  after(() => hs.close());

  it('logs the check at start and sends when a batch ends in a head transaction, without waiting for a timer', async () => {
    const t = testStore();
    const { logger, lines } = capture();
    const n = await startNotifications(t.store, MatrixConfig.parse({ homeserver_url: hs.url, user_id: '@bot:test', password: 'pw' }), { logger });
    try {
      assert.equal((await n.checked).ok, true);
      assert.ok(lines.some((l) => l.level === 30 && typeof l.msg === 'string' && l.msg.startsWith('matrix: ok, signed in as @bot:test')));
      const id = seedBatch(t.store, { jobs: 2 });
      t.store.tx(() => {
        endJob(t.store, id, 'job0', 'done');
        batchChanged(t.store, id);
      });
      assert.equal(outbox(t.store).length, 0);
      const before = hs.events.length;
      const t0 = Date.now();
      t.store.tx(() => {
        endJob(t.store, id, 'job1', 'done');
        batchChanged(t.store, id);
      });
      await until('delivered', () => hs.events.length > before);
      assert.ok(Date.now() - t0 < 1000);
      assert.match(String(hs.events.at(-1)!.content.body), /^Batch sweep \(namespace study\) ended after/);
    } finally {
      await n.stop();
      t.cleanup();
    }
  });

  it('with a bad configuration: logs why at start, keeps the messages pending, and the head goes on', async () => {
    const t = testStore();
    const { logger, lines } = capture();
    const n = await startNotifications(t.store, MatrixConfig.parse({ homeserver_url: hs.url, user_id: '@bot:test', password: 'nope' }), { logger, outbox: { baseDelayMs: 50 } });
    try {
      const r = await n.checked;
      assert.equal(r.ok, false);
      assert.ok(lines.some((l) => l.level === 40 && l.msg === `matrix: cannot sign in as @bot:test on ${hs.url}: M_FORBIDDEN (HTTP 403): Invalid username or password; notifications wait in the outbox and are retried`));
      const id = seedBatch(t.store, { jobs: 1 });
      t.store.tx(() => {
        endJob(t.store, id, 'job0', 'done');
        batchChanged(t.store, id);
      });
      const row = await until('an attempt', () => outbox(t.store).find((x) => x.attempts >= 1));
      assert.equal(row.state, 'pending');
      assert.match(row.last_error!, /^sign in: M_FORBIDDEN/);
    } finally {
      await n.stop();
      t.cleanup();
    }
  });

  it('without matrix: queues nothing, and says once per batch that it asked for a message', async () => {
    const t = testStore();
    const { logger, lines } = capture();
    const n = await startNotifications(t.store, undefined, { logger });
    try {
      const id = seedBatch(t.store, { jobs: 2 });
      for (const job of ['job0', 'job1']) {
        t.store.tx(() => {
          endJob(t.store, id, job, 'done');
          batchChanged(t.store, id);
        });
      }
      assert.equal(outbox(t.store).length, 0);
      assert.equal(lines.filter((l) => l.msg === 'batch asks for Matrix notifications, but head.yaml has no matrix: section; none will be sent').length, 1);
    } finally {
      await n.stop();
      t.cleanup();
    }
  });
});
