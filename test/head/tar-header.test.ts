import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Header } from 'tar';
import { decodePlain, encodePlain } from '../../head/tar-header.js';

const GIB = 1024 ** 3;

interface Fields {
  path: string;
  type: 'File' | 'Link' | 'SymbolicLink' | 'Directory' | 'ContiguousFile';
  size: number;
  mode: number;
  mtime: Date;
  linkpath?: string;
}

/** Headers of every shape the relay meets, as node-tar writes them. */
function cases(): Fields[] {
  const out: Fields[] = [];
  const paths = ['a', 'job/out.txt', `${'d'.repeat(40)}/${'f'.repeat(59)}`, `${'p'.repeat(120)}/${'n'.repeat(90)}`, 'x'.repeat(99), 'x'.repeat(100), 'dir/', 'ünï/cødé.txt', 'sp ace/tab\there'];
  const sizes = [0, 1, 511, 512, 513, 107_375, GIB - 1, GIB, 8 * GIB - 1];
  const mtimes = [new Date(0), new Date(1_700_000_000_000), new Date(1_600_000_000_500), new Date(2 ** 33 * 1000)];
  let i = 0;
  for (const path of paths) {
    for (const size of sizes) {
      const mtime = mtimes[i++ % mtimes.length]!;
      out.push({ path, type: 'File', size, mode: [0o644, 0o755, 0o600, 0o4755][i % 4]!, mtime });
    }
    out.push({ path, type: 'Directory', size: 0, mode: 0o755, mtime: mtimes[1]! });
    out.push({ path, type: 'SymbolicLink', size: 0, mode: 0o777, mtime: mtimes[1]!, linkpath: '../target' });
    out.push({ path, type: 'Link', size: 0, mode: 0o644, mtime: mtimes[1]!, linkpath: 'job/out.txt' });
    out.push({ path, type: 'ContiguousFile', size: 100, mode: 0o644, mtime: mtimes[1]! });
  }
  return out;
}

function nodeTarBlock(f: Fields): Buffer {
  const h = new Header(f);
  h.encode();
  return h.block!;
}

describe('ustar headers without node-tar', () => {
  it('reads every plain header exactly as node-tar does', () => {
    let read = 0;
    for (const f of cases()) {
      const block = nodeTarBlock(f);
      const theirs = new Header(block);
      const ours = decodePlain(block);
      if (ours === null) continue;
      read++;
      assert.deepEqual(ours, {
        path: theirs.path,
        type: theirs.type,
        size: theirs.size,
        mode: theirs.mode,
        mtime: theirs.mtime!.getTime() / 1000,
        linkpath: theirs.linkpath,
      }, JSON.stringify(f));
    }
    assert.ok(read > 60, `only ${read} headers read without node-tar`);
  });

  it('leaves to node-tar what is not a plain POSIX ustar header', () => {
    const good = nodeTarBlock({ path: 'job/out.txt', type: 'File', size: 10, mode: 0o644, mtime: new Date(1_700_000_000_000) });
    assert.notEqual(decodePlain(good), null);
    const gnu = Buffer.from(good);
    gnu.write('ustar  \0', 257, 'latin1');
    assert.equal(decodePlain(gnu), null, 'GNU magic');
    const bad = Buffer.from(good);
    bad[130] = bad[130]! ^ 1;
    assert.equal(decodePlain(bad), null, 'checksum');
    assert.equal(decodePlain(nodeTarBlock({ path: 'big', type: 'File', size: 9 * GIB, mode: 0o644, mtime: new Date(0) })), null, 'base-256 size');
    const pax = new Header({ path: 'PaxHeader', type: 'ExtendedHeader', size: 20, mode: 0o644, mtime: new Date(0) });
    pax.encode();
    assert.equal(decodePlain(pax.block!), null, 'an extended header');
    assert.equal(decodePlain(Buffer.alloc(512)), null, 'a null block');
  });

  it('writes byte for byte what node-tar writes, or leaves it to node-tar', () => {
    let written = 0;
    for (const f of cases()) {
      if (f.type === 'Directory') continue;
      const fields = { path: f.path, type: f.type, size: f.size, mode: f.mode, mtime: Math.floor(f.mtime.getTime() / 1000), linkpath: f.linkpath };
      const ours = Buffer.alloc(512, 0xee);
      const wrote = encodePlain(fields, ours);
      const theirs = new Header(f);
      const needPax = theirs.encode();
      if (!wrote) {
        assert.ok(needPax || f.path.length >= 99 || /[^\x00-\x7f]/.test(f.path), `left to node-tar without a reason: ${JSON.stringify(f)}`);
        continue;
      }
      written++;
      assert.equal(needPax, false, JSON.stringify(f));
      assert.ok(ours.equals(theirs.block!), `differs from node-tar: ${JSON.stringify(f)}`);
    }
    assert.ok(written > 40, `only ${written} headers written without node-tar`);
  });
});
