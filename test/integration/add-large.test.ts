// `distribute add` of the largest batch a file may hold, through the real CLI and head: the CLI
// sends the batch as the data it read from the YAML, the head validates and expands it again
// and queues every job — exactly those, in the order of the file.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { stringify } from 'yaml';
import { parseJobRecord } from '../../head/store.js';
import { TestCluster } from '../helpers/cluster.js';

const JOBS = 100_000;

describe('cluster: add of 100,000 jobs', () => {
  let c: TestCluster;
  before(async () => {
    c = await TestCluster.start({ nodes: [{ name: 'solo', capabilities: ['shell'], cpus: 1 }] });
  });
  after(async () => c?.stop());

  it(`queues exactly the ${JOBS} jobs of one parameter list, in order`, async () => {
    const file = join(c.root, 'large.yaml');
    // pinned to a node that never joins, so they stay queued while they are counted
    writeFileSync(file, stringify({
      meta: { batch_name: 'large', namespace: 'scale', nodes: ['elsewhere'] },
      shell: { jobs: [{ name: 'j{i}', command: 'echo {i}', parameters: { i: Array.from({ length: JOBS }, (_, i) => i) } }] },
    }));
    const add = await c.cli(['add', file], { timeoutMs: 120_000 });
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, new RegExp(`^queued ${JOBS} jobs of scale/large; can run on 1 of 1 known node$`, 'm'));

    const db = new Database(join(c.stateDir, 'distribute.db'), { readonly: true });
    try {
      const rows = db
        .prepare(`SELECT j.name, j.spec, j.state FROM jobs j JOIN batches b ON b.id = j.batch_id WHERE b.namespace = 'scale' AND b.name = 'large' ORDER BY j.id`)
        .all() as { name: string; spec: string; state: string }[];
      assert.equal(rows.length, JOBS);
      let wrong = 0;
      rows.forEach((row, i) => {
        const spec = parseJobRecord(row);
        if (row.name !== `j${i}` || spec.job.command !== `echo ${i}` || spec.nodes?.[0] !== 'elsewhere' || row.state !== 'queued') wrong++;
      });
      assert.equal(wrong, 0, `${wrong} of ${JOBS} jobs are not the job of their place in the list`);
    } finally {
      db.close();
    }
  });

  it('still refuses a bad batch file in the CLI with FILE:LINE:COL and exit 2, sending nothing', async () => {
    const file = join(c.root, 'bad-large.yaml');
    writeFileSync(file, stringify({
      meta: { batch_name: 'bad_large', namespace: 'scale' },
      shell: { jobs: [{ name: 'j{i}', command: 'true', parameters: { i: Array.from({ length: 1000 }, (_, i) => i) } }, { name: 'j7', command: 'true' }] },
    }));
    const add = await c.cli(['add', file]);
    assert.equal(add.code, 2);
    assert.match(add.stderr, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: shell\\.jobs\\[1\\]\\.name: duplicate job name "j7"; also used by shell\\.jobs\\[0\\] at line \\d+$`, 'm'));
    assert.equal(await c.statusOf('bad_large'), null);
  });
});
