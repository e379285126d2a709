// A compute daemon with `sandbox: bwrap`: its jobs write their workspace and nothing else,
// and cannot read the node's token.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TestCluster } from '../helpers/cluster.js';
import { waitFor } from '../compute/support.js';

const haveBwrap = spawnSync('bwrap', ['--version']).status === 0;

describe('compute daemon with sandbox: bwrap', { skip: !haveBwrap && 'bwrap is not installed' }, () => {
  let c: TestCluster;
  let owner: string;
  before(async () => {
    // outside /tmp, which jobs see as their own empty tmpfs
    owner = mkdtempSync(join('/var/tmp', 'distribute-owner-'));
    c = await TestCluster.start({ nodes: [{ name: 'boxed', capabilities: ['shell'], config: { sandbox: 'bwrap' } }] });
  });
  after(async () => {
    await c?.stop();
    rmSync(owner, { recursive: true, force: true });
  });

  it('refuses a job\'s write outside its workspace and hides the node token, while its results come back', async () => {
    const token = join(c.root, 'node-boxed', 'node.token');
    const dir = join(c.root, 'sandbox-batch');
    mkdirSync(dir);
    writeFileSync(join(dir, 'batch.yaml'), stringify({
      meta: { batch_name: 'boxed', namespace: 'sandbox', capabilities: ['shell'] },
      shell: { jobs: [{ name: 'nosy', command: `echo pwned > '${owner}/owned.txt'; cat '${token}'; echo kept > "$DISTRIBUTE_SAVE/out.txt"` }] },
    }));
    assert.equal((await c.cli(['add', join(dir, 'batch.yaml')])).code, 0);
    await waitFor(async () => {
      const all = await c.json<{ batch_name: string; jobs: { state: string }[] }[]>(['status']);
      return all.find((b) => b.batch_name === 'boxed')?.jobs[0]?.state === 'done';
    }, 'the job to be archived', 20_000, 100);
    assert.equal(existsSync(join(owner, 'owned.txt')), false);
    const archive = join(c.stateDir, 'archive', 'sandbox', 'boxed', 'nosy.tar.gz');
    const member = (m: string) => spawnSync('tar', ['-xzOf', archive, m], { encoding: 'utf8' }).stdout;
    assert.equal(member('out.txt'), 'kept\n');
    assert.match(member('_distribute/stderr.log'), /Read-only file system/);
    const secret = readFileSync(token, 'utf8').trim();
    assert.ok(secret.length > 20);
    assert.ok(!member('_distribute/stdout.log').includes(secret), 'the job read the node token');
  });
});
