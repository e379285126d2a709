// `distribute token create` writes only into a head's database, unless told to start one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir } from '../helpers/cli.js';
import { openStore } from '../../head/store.js';

describe('distribute token create', () => {
  it('refuses a folder with no head database, naming it and where up and install keep theirs', async () => {
    const t = tempDir('distribute-token-');
    try {
      const r = await runCli(['token', 'create', '--state-dir', t.dir, '--node', 'x'], { env: { XDG_DATA_HOME: join(t.dir, 'data') } });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`--state-dir ${t.dir}: no head database \\(distribute\\.db\\)`));
      assert.match(r.stderr, new RegExp(`distribute up\` keeps its head in ${join(t.dir, 'data', 'distribute', 'head')}`));
      assert.match(r.stderr, /distribute install` in \/var\/lib\/distribute\/head/);
      assert.match(r.stderr, /--init/);
      assert.deepEqual(readdirSync(t.dir), [], 'nothing is made');
    } finally {
      t.cleanup();
    }
  });

  it('with --init makes the database and the token', async () => {
    const t = tempDir('distribute-token-');
    try {
      const r = await runCli(['token', 'create', '--state-dir', t.dir, '--node', 'x', '--init']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(existsSync(join(t.dir, 'distribute.db')));
      assert.match(r.stdout, /^token for node x/);
    } finally {
      t.cleanup();
    }
  });

  it('writes into an existing head database without --init', async () => {
    const t = tempDir('distribute-token-');
    try {
      openStore(t.dir).close();
      const r = await runCli(['token', 'create', '--state-dir', t.dir, '--user', 'ada']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^token for user ada/);
    } finally {
      t.cleanup();
    }
  });
});
