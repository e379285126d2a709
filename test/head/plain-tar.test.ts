// The whole-archive fast path (head/plain-tar.ts) reads a small result exactly as node-tar's
// parser does, or declines: every archive here is inspected both ways and the two inspections
// must be equal; the node's own small results must take the fast path.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as tar from 'tar';
import { ArchiveInspector, type Inspection } from '../../head/archive.js';
import { plainEntries } from '../../head/plain-tar.js';
import { packResult } from '../../compute/pack.js';
import { tempDir } from '../helpers/cli.js';

async function whole(archive: Buffer): Promise<Inspection> {
  const i = new ArchiveInspector();
  i.writeAll(archive);
  return i.end();
}

/** node-tar's parser, given the same bytes in one piece (the streaming path never takes the fast one) */
async function streamed(archive: Buffer): Promise<Inspection> {
  const i = new ArchiveInspector();
  await i.write(archive);
  return i.end();
}

function nodeResult(dir: string, files: Record<string, string>): Buffer {
  for (const [path, body] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), body);
  }
  const packed = packResult(dir);
  assert.equal(packed.kind, 'buffer');
  return (packed as { data: Buffer }).data;
}

function nodeTar(dir: string, entries: string[]): Buffer {
  const chunks: Buffer[] = [];
  tar.create({ cwd: dir, sync: true, portable: true }, entries).on('data', (c: Buffer) => chunks.push(c));
  return Buffer.concat(chunks);
}

describe('reading a small result held whole', () => {
  it("takes the fast path for the node's own results, and agrees with node-tar", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const archive = nodeResult(dir, {
        '_distribute/result.json': JSON.stringify({ exit_code: 3, signal: null, usage: { cpu_seconds: 0.5, peak_memory_bytes: 1000, wall_seconds: 1 } }),
        '_distribute/stdout.log': 'out\n',
        '_distribute/stderr.log': '',
        'out/a.txt': 'a'.repeat(1000),
      });
      assert.ok(plainEntries(gunzipSync(archive)), 'the fast path reads it');
      const a = await whole(archive);
      assert.deepEqual(a, await streamed(archive));
      assert.equal(a.result?.exit_code, 3);
      assert.equal(a.checked, true);
      assert.deepEqual(a.mismatches, []);
      assert.deepEqual(a.members.map((m) => m.path).sort(), ['_distribute/result.json', '_distribute/stderr.log', '_distribute/stdout.log']);
    } finally {
      cleanup();
    }
  });

  it('agrees with node-tar on links, long names, hostile members, damage and trailing bytes', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const base = nodeResult(join(dir, 'r'), { '_distribute/result.json': '{"exit_code":0}' });
      const plain = gunzipSync(base);
      mkdirSync(join(dir, 't', 'd'.repeat(120)), { recursive: true });
      writeFileSync(join(dir, 't', 'd'.repeat(120), 'f'), 'long');
      writeFileSync(join(dir, 't', 'r.json'), '{"exit_code":0}');
      const longNames = nodeTar(join(dir, 't'), ['.']);
      mkdirSync(join(dir, 'k'));
      writeFileSync(join(dir, 'k', 'x.txt'), 'x');
      symlinkSync('x.txt', join(dir, 'k', 'l'));
      const withLink = nodeTar(join(dir, 'k'), ['x.txt', 'l']);
      const hostile = Buffer.from(plain);
      hostile.write('../../etc/passwd\0', 512 * 0, 'latin1'); // first header's name (its checksum now wrong too)
      const cases: [string, Buffer][] = [
        ['as the node packs it', plain],
        ['with a symlink', withLink],
        ['long names (PAX)', longNames],
        ['a renamed member with a bad checksum', hostile],
        ['truncated in a body', plain.subarray(0, 700)],
        ['truncated at a header', plain.subarray(0, 512)],
        ['no end blocks', plain.subarray(0, plain.length - 1024)],
        ['trailing bytes', Buffer.concat([plain, Buffer.from('garbage')])],
        ['one zero block, then an entry', Buffer.concat([Buffer.alloc(512), plain])],
        ['a flipped body byte', (() => { const b = Buffer.from(plain); b[512 + 3]! ^= 1; return b; })()],
        ['empty', Buffer.alloc(0)],
        ['only zeros', Buffer.alloc(1024)],
      ];
      for (const [what, archive] of cases) {
        assert.deepEqual(await whole(archive), await streamed(archive), what);
      }
      assert.equal(plainEntries(withLink), null, 'a link is left to node-tar');
      assert.equal(plainEntries(longNames), null, 'a PAX header is left to node-tar');
    } finally {
      cleanup();
    }
  });
});
