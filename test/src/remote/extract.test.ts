import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, mkdirSync, symlinkSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';
import { extractStrict, partName, refusalReason, UnsafeMember } from '../../../src/remote/extract.js';
import { tempDir } from '../../helpers/cli.js';

interface RawEntry {
  path: string;
  type: string;
  data?: string | Buffer;
  linkpath?: string;
  mtime?: Date;
}

/** A raw tar archive from hand-made headers: what a hostile server could send. */
function rawTar(entries: RawEntry[], opts: { end?: boolean } = {}): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.isBuffer(e.data) ? e.data : Buffer.from(e.data ?? '');
    const header = new tar.Header({ path: e.path, type: e.type as tar.Header['type'], size: data.length, linkpath: e.linkpath ?? '', mode: 0o644, mtime: e.mtime ?? new Date(0) });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  if (opts.end !== false) blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** Every path under dir (relative), folders with a trailing slash. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1) + (e.isDirectory() ? '/' : ''))
    .sort();
}

describe('extractStrict', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());
  const sha = (text: string) => createHash('sha256').update(text).digest('hex');

  it('places a file only when its bytes match the SHA-256 the index recorded, naming the one that does not', async () => {
    const dest = join(tmp.dir, 'sums');
    mkdirSync(join(dest, 'j'), { recursive: true });
    writeFileSync(join(dest, 'j', 'bad.txt'), 'an earlier copy');
    const archive = rawTar([
      { path: 'j/good.txt', type: 'File', data: 'good' },
      { path: 'j/bad.txt', type: 'File', data: 'flipped' },
      { path: 'j/old.txt', type: 'File', data: 'no checksum' },
    ]);
    const expected = new Map([['j/good.txt', sha('good')], ['j/bad.txt', sha('intact')]]);
    const got = await extractStrict(Readable.from([archive]), dest, {}, (p) => expected.get(p));
    assert.equal(got.verified, 1);
    assert.deepEqual(got.failed.map((f) => f.path), ['j/bad.txt']);
    assert.match(got.failed[0]!.reason, /SHA-256 .* is not the .* the head recorded/);
    assert.equal(readFileSync(join(dest, 'j', 'bad.txt'), 'utf8'), 'an earlier copy', 'the damaged copy never replaces a file');
    assert.equal(readFileSync(join(dest, 'j', 'old.txt'), 'utf8'), 'no checksum');
    assert.deepEqual(tree(join(dest, 'j')), ['bad.txt', 'good.txt', 'old.txt']);
  });

  it("takes back a damaged job's unproven files when the head marks it, keeping the proven ones and the other jobs'", async () => {
    const dest = join(tmp.dir, 'damaged');
    const archive = rawTar([
      { path: 'j/proven.txt', type: 'File', data: 'p' },
      { path: 'j/unproven.txt', type: 'File', data: 'u' },
      { path: 'k/other.txt', type: 'File', data: 'o' },
      { path: '.distribute/damaged/j', type: 'File', data: JSON.stringify({ job: 'j', cut: null, error: 'unexpected end of file' }) },
      { path: 'm/after.txt', type: 'File', data: 'a' },
    ]);
    const got = await extractStrict(Readable.from([archive]), dest, {}, (p) => (p === 'j/proven.txt' ? sha('p') : null));
    assert.deepEqual(got.damaged, [{ job: 'j', error: 'unexpected end of file' }]);
    assert.deepEqual(got.failed.map((f) => f.path), ['j/unproven.txt']);
    assert.deepEqual(tree(dest), ['j/', 'j/proven.txt', 'k/', 'k/other.txt', 'm/', 'm/after.txt']);
  });

  it('writes the members of an honest archive, gzipped or not, with their modification times', async () => {
    const when = new Date('2024-05-06T07:08:09Z');
    const archive = rawTar([
      { path: 'job1/', type: 'Directory' },
      { path: 'job1/out.txt', type: 'File', data: 'one\n', mtime: when },
      { path: 'job1/_distribute/result.json', type: 'File', data: '{}' },
      { path: 'job1/latest', type: 'SymbolicLink', linkpath: 'out.txt' },
      { path: 'job1/up', type: 'SymbolicLink', linkpath: '../job2/copy.txt' },
      { path: 'job2/copy.txt', type: 'Link', linkpath: 'job1/out.txt' },
    ]);
    for (const [name, bytes] of [['plain', archive], ['gz', gzipSync(archive)]] as const) {
      const dest = join(tmp.dir, name);
      const got = await extractStrict(Readable.from([bytes]), dest);
      assert.deepEqual({ members: got.members, files: got.files, bytes: got.bytes, skipped: got.skipped, failed: got.failed }, { members: 5, files: 2, bytes: 6, skipped: [], failed: [] });
      assert.equal(readFileSync(join(dest, 'job1', 'out.txt'), 'utf8'), 'one\n');
      assert.equal(statSync(join(dest, 'job1', 'out.txt')).mtimeMs, when.getTime());
      assert.equal(readFileSync(join(dest, 'job1', 'latest'), 'utf8'), 'one\n');
      assert.equal(readFileSync(join(dest, 'job2', 'copy.txt'), 'utf8'), 'one\n');
      assert.deepEqual(tree(dest).filter((p) => p.includes('.dpart-')), []);
    }
  });

  const hostile: [string, RawEntry[], RegExp][] = [
    ['a ../ member', [{ path: '../escaped.txt', type: 'File', data: 'bad' }], /path leaves the folder/],
    ['a ../ inside a member', [{ path: 'job/../../escaped.txt', type: 'File', data: 'bad' }], /path leaves the folder/],
    ['an absolute path', [{ path: '/tmp/abs-distribute-test.txt', type: 'File', data: 'bad' }], /absolute path/],
    ['a symlink pointing out, then a file through it', [
      { path: 'job/out', type: 'SymbolicLink', linkpath: '../../..' },
      { path: 'job/out/escaped.txt', type: 'File', data: 'bad' },
    ], /symbolic link to \.\.\/\.\.\/\.\. leaves the folder/],
    ['an absolute symlink', [{ path: 'job/passwd', type: 'SymbolicLink', linkpath: '/etc/passwd' }], /leaves the folder/],
    ['a symlink climbing after a name', [
      { path: 'dot', type: 'SymbolicLink', linkpath: '.' },
      { path: 'up', type: 'SymbolicLink', linkpath: 'dot/..' },
    ], /climbs with "\.\." after a name/],
    ['a file through a symlink inside', [
      { path: 'job/sub', type: 'SymbolicLink', linkpath: '.' },
      { path: 'job/sub/x.txt', type: 'File', data: 'bad' },
    ], /its folder job\/sub is a symbolic link/],
    ['a hard link out', [{ path: 'job/hard', type: 'Link', linkpath: '../escaped.txt' }], /hard link/],
    ['a device', [{ path: 'job/dev', type: 'CharacterDevice' }], /CharacterDevice entries are not extracted/],
    ['a FIFO', [{ path: 'job/fifo', type: 'FIFO' }], /FIFO entries are not extracted/],
  ];
  for (const [name, entries, reason] of hostile) {
    it(`stops at ${name}, writing nothing outside the folder`, async () => {
      const outside = join(tmp.dir, `outside-${name.replace(/\W+/g, '-')}`);
      mkdirSync(outside);
      const dest = join(outside, 'dest', 'batch');
      const archive = rawTar([{ path: 'ok/first.txt', type: 'File', data: 'fine' }, ...entries, { path: 'ok/after.txt', type: 'File', data: 'never' }]);
      await assert.rejects(extractStrict(Readable.from([archive]), dest), (err: Error) => {
        assert.ok(err instanceof UnsafeMember, err.stack);
        assert.match(err.message, reason);
        assert.match(err.message, /the pull stopped and nothing was written outside/);
        return true;
      });
      assert.deepEqual(readdirSync(outside), ['dest']);
      assert.deepEqual(readdirSync(join(outside, 'dest')), ['batch']);
      assert.equal(readFileSync(join(dest, 'ok', 'first.txt'), 'utf8'), 'fine');
      assert.equal(existsSync(join(dest, 'ok', 'after.txt')), false, 'extraction went on after the refusal');
      assert.equal(existsSync('/tmp/abs-distribute-test.txt'), false);
      for (const p of tree(dest)) {
        if (!lstatSync(join(dest, p)).isSymbolicLink()) continue;
        const target = resolve(dirname(join(dest, p)), readlinkSync(join(dest, p)));
        assert.ok(target === dest || target.startsWith(dest + '/'), `a link out was left: ${p} -> ${target}`);
      }
    });
  }

  it('does not write through a symlink already in the folder', async () => {
    const dest = join(tmp.dir, 'through');
    const victim = join(tmp.dir, 'victim');
    mkdirSync(victim);
    mkdirSync(dest);
    symlinkSync(victim, join(dest, 'job'));
    await assert.rejects(extractStrict(Readable.from([rawTar([{ path: 'job/x.txt', type: 'File', data: 'bad' }])]), dest), /its folder job is a symbolic link/);
    assert.equal(readdirSync(victim).length, 0);
    assert.ok(lstatSync(join(dest, 'job')).isSymbolicLink());
  });

  it('replaces a symlink at a member\'s own path instead of writing through it', async () => {
    const dest = join(tmp.dir, 'replace');
    const victim = join(tmp.dir, 'victim.txt');
    mkdirSync(join(dest, 'job'), { recursive: true });
    symlinkSync(victim, join(dest, 'job', 'x.txt'));
    await extractStrict(Readable.from([rawTar([{ path: 'job/x.txt', type: 'File', data: 'mine' }])]), dest);
    assert.equal(existsSync(victim), false);
    assert.ok(lstatSync(join(dest, 'job', 'x.txt')).isFile());
  });

  it('fails on a stream cut inside a file and leaves no partial file under its name', async () => {
    const dest = join(tmp.dir, 'cut');
    const whole = rawTar([
      { path: 'job/done.txt', type: 'File', data: 'complete' },
      { path: 'job/big.bin', type: 'File', data: Buffer.alloc(100_000, 7) },
    ], { end: false });
    const cut = whole.subarray(0, 512 + 512 + 512 + 40_000);
    await assert.rejects(extractStrict(Readable.from([cut]), dest), /run the pull again/);
    assert.equal(readFileSync(join(dest, 'job', 'done.txt'), 'utf8'), 'complete');
    assert.equal(existsSync(join(dest, 'job', 'big.bin')), false);
    assert.equal(existsSync(join(dest, 'job', partName('big.bin'))), false);
  });

  it('writes a body of many chunks byte for byte, reporting every byte to the progress hooks', async () => {
    const dest = join(tmp.dir, 'chunks');
    // 3.5 MiB + 1: several write batches and a short last one, fed in chunks that never line up with them
    const body = Buffer.alloc(3.5 * 1024 * 1024 + 1);
    for (let i = 0; i < body.length; i += 4) body.writeUInt32LE((i * 2654435761) >>> 0, Math.min(i, body.length - 4));
    const archive = rawTar([{ path: 'job/big.bin', type: 'File', data: body }, { path: 'job/after.txt', type: 'File', data: 'next' }]);
    const chunks: Buffer[] = [];
    for (let i = 0, n = 1; i < archive.length; i += n, n = (n * 7 + 13) % 70_001) chunks.push(archive.subarray(i, i + n));
    let bytes = 0;
    const members: string[] = [];
    const got = await extractStrict(Readable.from(chunks), dest, { onBytes: (n) => (bytes += n), onMember: (p) => members.push(p) });
    assert.deepEqual({ members: got.members, files: got.files, bytes: got.bytes, skipped: got.skipped }, { members: 2, files: 2, bytes: body.length + 4, skipped: [] });
    assert.ok(readFileSync(join(dest, 'job', 'big.bin')).equals(body), 'the body differs');
    assert.equal(readFileSync(join(dest, 'job', 'after.txt'), 'utf8'), 'next');
    assert.equal(bytes, body.length + 4);
    assert.deepEqual(members, ['job/big.bin', 'job/after.txt']);
  });

  it('removes whatever stands at a temp file\'s name, a symlink out included, instead of writing through it', async () => {
    const dest = join(tmp.dir, 'leftover');
    const victim = join(tmp.dir, 'leftover-victim.txt');
    mkdirSync(join(dest, 'job'), { recursive: true });
    symlinkSync(victim, join(dest, 'job', partName('x.txt')));
    writeFileSync(join(dest, 'job', partName('y.txt')), 'a leftover of a killed pull, longer than the file');
    await extractStrict(Readable.from([rawTar([{ path: 'job/x.txt', type: 'File', data: 'mine' }, { path: 'job/y.txt', type: 'File', data: 'new' }])]), dest);
    assert.equal(existsSync(victim), false, 'written through the link');
    assert.equal(readFileSync(join(dest, 'job', 'x.txt'), 'utf8'), 'mine');
    assert.equal(readFileSync(join(dest, 'job', 'y.txt'), 'utf8'), 'new');
    assert.deepEqual(tree(dest).filter((p) => p.includes('.dpart-')), []);
  });

  it('names the reason of each refusal', () => {
    assert.equal(refusalReason('/etc/x', 'File', undefined), 'absolute path');
    assert.equal(refusalReason('a/../../x', 'File', undefined), 'path leaves the folder');
    assert.equal(refusalReason('a/../x', 'File', undefined), 'path contains ".."');
    assert.equal(refusalReason('a/l', 'SymbolicLink', '../../x'), 'symbolic link to ../../x leaves the folder');
    assert.equal(refusalReason('a/l', 'SymbolicLink', '../b/x'), null);
    assert.equal(refusalReason('a/d', 'BlockDevice', undefined), 'BlockDevice entries are not extracted');
  });
});
