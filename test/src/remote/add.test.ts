import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { prepareAdd } from '../../../src/remote/add.js';
import { UserError } from '../../../shared/errors.js';
import { REPO_ROOT } from '../../helpers/cli.js';

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('prepareAdd', () => {
  it('names every file by its path relative to the YAML, each path once, with its hash and size', async () => {
    const file = join(REPO_ROOT, 'configs', 'python-batch.yaml');
    const p = await prepareAdd(file);
    assert.deepEqual(Object.keys(p.files).sort(), ['python/build.py', 'python/re_100.json', 'python/re_200.json', 'python/re_300.json', 'python/run.py']);
    const run = join(REPO_ROOT, 'configs', 'python', 'run.py');
    assert.deepEqual(p.files['python/run.py'], { hash: sha(run), size: readFileSync(run).length });
    assert.equal(p.byHash.get(sha(run))?.path, run);
    assert.equal(p.text, readFileSync(file, 'utf8'));
    // what the head is sent to validate again: the YAML as data, unexpanded
    assert.deepEqual(p.document, parse(p.text));
  });

  it('refuses an invalid batch with every problem, before any network', async () => {
    await assert.rejects(prepareAdd(join(REPO_ROOT, 'configs', 'no-such.yaml')), (e: unknown) => e instanceof UserError && e.exitCode === 2);
  });
});
