import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { headFromIp, resolveConnection } from '../../src/client.js';
import { UserError } from '../../shared/errors.js';

describe('--ip HOST [--port N], the original distribute\'s way to name the head', () => {
  it('is ws://HOST:8952, or the port given', () => {
    assert.equal(headFromIp({ ip: '10.0.0.7' }), 'ws://10.0.0.7:8952');
    assert.equal(headFromIp({ ip: 'head.lab', port: '9000' }), 'ws://head.lab:9000');
    assert.equal(headFromIp({ ip: '::1' }), 'ws://[::1]:8952');
    assert.equal(headFromIp({}), undefined);
  });

  it('wins over DISTRIBUTE_HEAD, as any flag does', () => {
    const c = resolveConnection({ ip: '127.0.0.1', token: 't' }, { DISTRIBUTE_HEAD: 'ws://elsewhere:1' }, '/nonexistent/config.yaml');
    assert.equal(c.head, 'ws://127.0.0.1:8952');
    assert.equal(c.http, 'http://127.0.0.1:8952');
  });

  it('refuses --ip with --head, --port alone, a bad port or host (exit 2)', () => {
    for (const opts of [{ ip: 'a', head: 'ws://b:1' }, { port: '1' }, { ip: 'a', port: '70000' }, { ip: 'a', port: 'x' }, { ip: 'a/b' }]) {
      assert.throws(() => headFromIp(opts), (e: unknown) => e instanceof UserError && e.exitCode === 2, JSON.stringify(opts));
    }
  });
});
