import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../../shared/errors.js';
import { Bundle, writeBundle } from '../../../src/transpile/bundle.js';
import { tempDir } from '../../helpers/cli.js';

const tmp = tempDir('distribute-bundle-');
after(() => tmp.cleanup());

describe('writing a transpiled folder', () => {
  it('writes texts, copies and folders; scripts executable', async () => {
    const src = join(tmp.dir, 'src.txt');
    writeFileSync(src, 'data');
    const b = new Bundle();
    b.text('a/run.sh', '#!/bin/sh\n', true);
    b.copy('b/input/src.txt', src);
    b.dir('c/empty');
    const out = await writeBundle(b, join(tmp.dir, 'out1'));
    assert.equal(readFileSync(join(out, 'b/input/src.txt'), 'utf8'), 'data');
    assert.equal(statSync(join(out, 'a/run.sh')).mode & 0o111, 0o111);
    assert.deepEqual(readdirSync(join(out, 'c/empty')), []);
  });

  it('leaves nothing behind when a copy fails', async () => {
    const b = new Bundle();
    b.text('x.sh', 'x');
    b.copy('y', join(tmp.dir, 'missing'));
    const out = join(tmp.dir, 'out2');
    await assert.rejects(writeBundle(b, out), (e: unknown) => e instanceof UserError && /cannot copy .*missing/.test(e.message));
    assert.ok(!existsSync(out));
    assert.deepEqual(readdirSync(tmp.dir).filter((n) => n.includes('partial')), []);
  });

  it('refuses a folder that has something in it, unless told to replace it', async () => {
    const out = join(tmp.dir, 'out3');
    mkdirSync(out);
    writeFileSync(join(out, 'old'), '');
    const b = new Bundle();
    b.text('new', 'n');
    await assert.rejects(writeBundle(b, out), /exists and is not an empty folder/);
    await writeBundle(b, out, true);
    assert.deepEqual(readdirSync(out), ['new']);
  });

  it('writes into an empty folder that exists', async () => {
    const out = join(tmp.dir, 'out4');
    mkdirSync(out);
    const b = new Bundle();
    b.text('f', 'f');
    await writeBundle(b, out);
    assert.deepEqual(readdirSync(out), ['f']);
  });

  it('refuses paths that leave the folder', async () => {
    const b = new Bundle();
    b.text('../escape', 'x');
    await assert.rejects(writeBundle(b, join(tmp.dir, 'out5')), /leaves/);
    assert.ok(!existsSync(join(tmp.dir, 'escape')));
  });
});
