import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readFileSync, readdirSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';
import { extractStrict, refusalReason } from '../../../src/remote/extract.js';
import { tempDir } from '../../helpers/cli.js';

/** A raw tar archive from hand-made headers: what a hostile server could send. */
function rawTar(entries: { path: string; type: string; data?: string; linkpath?: string }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    const header = new tar.Header({ path: e.path, type: e.type as tar.Header['type'], size: data.length, linkpath: e.linkpath ?? '', mode: 0o644, mtime: new Date(0) });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

describe('extractStrict', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());

  it('writes the members of an honest archive, gzipped or not', async () => {
    const archive = rawTar([
      { path: 'job1/', type: 'Directory' },
      { path: 'job1/out.txt', type: 'File', data: 'one\n' },
      { path: 'job1/_distribute/result.json', type: 'File', data: '{}' },
      { path: 'job1/latest', type: 'SymbolicLink', linkpath: 'out.txt' },
      { path: 'job2/copy.txt', type: 'Link', linkpath: 'job1/out.txt' },
    ]);
    for (const [name, bytes] of [['plain', archive], ['gz', gzipSync(archive)]] as const) {
      const dest = join(tmp.dir, name);
      const got = await extractStrict(Readable.from([bytes]), dest);
      assert.deepEqual(got, { files: 2, bytes: 6, refused: [] });
      assert.equal(readFileSync(join(dest, 'job1', 'out.txt'), 'utf8'), 'one\n');
      assert.equal(readFileSync(join(dest, 'job1', 'latest'), 'utf8'), 'one\n');
      assert.equal(readFileSync(join(dest, 'job2', 'copy.txt'), 'utf8'), 'one\n');
    }
  });

  it('refuses absolute paths, .., links that leave the folder and devices', async () => {
    const outside = join(tmp.dir, 'outside');
    mkdirSync(outside);
    const dest = join(outside, 'dest');
    const archive = rawTar([
      { path: 'ok.txt', type: 'File', data: 'fine' },
      { path: '../escaped.txt', type: 'File', data: 'bad' },
      { path: 'job/../../escaped2.txt', type: 'File', data: 'bad' },
      { path: `${outside}/abs.txt`, type: 'File', data: 'bad' },
      { path: 'job/passwd', type: 'SymbolicLink', linkpath: '/etc/passwd' },
      { path: 'job/up', type: 'SymbolicLink', linkpath: '../../..' },
      { path: 'job/hard', type: 'Link', linkpath: '../escaped.txt' },
      { path: 'job/dev', type: 'CharacterDevice' },
      { path: 'job/fifo', type: 'FIFO' },
    ]);
    const got = await extractStrict(Readable.from([archive]), dest);
    assert.equal(got.files, 1);
    assert.equal(got.refused.length, 8, got.refused.join('\n'));
    assert.deepEqual(readdirSync(outside).sort(), ['dest']);
    assert.equal(readFileSync(join(dest, 'ok.txt'), 'utf8'), 'fine');
    assert.deepEqual(readdirSync(dest).filter((n) => n !== 'job' && n !== 'ok.txt'), []);
    if (existsSync(join(dest, 'job'))) assert.deepEqual(readdirSync(join(dest, 'job')), []);
    assert.equal(existsSync(join(dest, 'job', 'passwd')), false);
  });

  it('does not write through a symlink already in the folder', async () => {
    const dest = join(tmp.dir, 'through');
    const victim = join(tmp.dir, 'victim');
    mkdirSync(victim);
    mkdirSync(dest);
    symlinkSync(victim, join(dest, 'job'));
    const got = await extractStrict(Readable.from([rawTar([{ path: 'job/x.txt', type: 'File', data: 'bad' }])]), dest);
    assert.equal(readdirSync(victim).length, 0);
    assert.equal(got.refused.length, 1);
    assert.ok(lstatSync(join(dest, 'job')).isSymbolicLink());
  });

  it('names the reason of each refusal', () => {
    assert.equal(refusalReason('/etc/x', 'File', undefined), 'absolute path');
    assert.equal(refusalReason('a/../../x', 'File', undefined), 'path leaves the folder');
    assert.equal(refusalReason('a/l', 'SymbolicLink', '../../x'), 'symbolic link to ../../x leaves the folder');
    assert.equal(refusalReason('a/l', 'SymbolicLink', '../b/x'), null);
    assert.equal(refusalReason('a/d', 'BlockDevice', undefined), 'BlockDevice entries are not extracted');
  });
});
