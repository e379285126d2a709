import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startHead } from '../../head/daemon.js';
import { queueBatch } from '../../head/queue.js';
import { openStore } from '../../head/store.js';
import { createToken } from '../../head/tokens.js';
import { HeadConfig } from '../../shared/config.js';
import { silentLogger } from '../../shared/log.js';
import { tempDir } from '../helpers/cli.js';
import { hello, shellBatch, TestNode, until } from './harness.js';

describe('head restart', () => {
  it('gives nodes that were online node_timeout to return, then requeues what they held', async () => {
    const { dir, cleanup } = tempDir('distribute-restart-');
    const config = HeadConfig.parse({ listen: '127.0.0.1:0', state_dir: dir, node_timeout: 0.5, heartbeat: 0.1 });
    const store = openStore(dir);
    try {
      const tok = createToken(store, { kind: 'node', name: 'gone' });
      queueBatch(store, shellBatch('lab', 'b', [{ name: 'j' }]));
      let head = await startHead(config, { logger: silentLogger() });
      const { node } = await TestNode.join(head.url, tok, hello('gone'));
      const a = await node.next('assign');
      node.send({ type: 'started', attempt: a.attempt, pid: 1 });
      const state = () => store.db.prepare("SELECT state FROM jobs WHERE name = 'j'").pluck().get();
      await until(() => state() === 'running', 'running');
      await head.close();
      await node.closed;

      head = await startHead(config, { logger: silentLogger() });
      assert.equal(state(), 'running', 'kept while the node may still come back');
      await until(() => state() === 'queued', 'requeued after node_timeout', 3000);
      assert.equal(store.attempt(a.attempt)!.state, 'lost');
      assert.equal(store.node('gone')!.state, 'lost');
      await head.close();
    } finally {
      store.close();
      cleanup();
    }
  });
});
