import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { COMMIT_TURN_MAX, openStore } from '../../head/store.js';
import { tempDir } from '../helpers/cli.js';

describe('results committed per turn', () => {
  it('shares a transaction among the works of a turn, at most COMMIT_TURN_MAX each, and a failing one alone is rolled back', async () => {
    const { dir, cleanup } = tempDir();
    const store = openStore(dir);
    try {
      store.db.exec('CREATE TABLE t (n INTEGER PRIMARY KEY)');
      let commits = 0;
      store.onCommit(() => commits++);
      const n = COMMIT_TURN_MAX * 2 + 10;
      const works = Array.from({ length: n }, (_, i) =>
        store.commitInTurn(() => {
          if (i === 7) throw new Error('seven fails');
          store.stmt('INSERT INTO t (n) VALUES (?)').run(i);
          return i;
        }),
      );
      const outcomes = await Promise.allSettled(works);
      assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, n - 1);
      assert.match(String((outcomes[7] as PromiseRejectedResult).reason), /seven fails/);
      assert.equal((store.db.prepare('SELECT COUNT(*) AS c FROM t').get() as { c: number }).c, n - 1);
      assert.equal(commits, 3, `${n} works in ${commits} transactions`);
    } finally {
      store.close();
      cleanup();
    }
  });
});
