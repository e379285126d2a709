import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';
import { ReaderGone, writePull } from '../../head/pull.js';
import { TAR_END, TarRelay } from '../../head/tar-relay.js';
import { tempDir } from '../helpers/cli.js';

interface Seen {
  path: string;
  type: string;
  size: number;
  mode: number | undefined;
  mtime: number | undefined;
  linkpath: string | undefined;
  body: Buffer;
}

/** Every entry of a tar, as node-tar's parser reads it (what the head indexed at upload). */
async function parse(bytes: Buffer): Promise<Seen[]> {
  const seen: Seen[] = [];
  const parser = new tar.Parser({
    strict: true,
    onReadEntry: (e) => {
      const parts: Buffer[] = [];
      e.on('data', (d: Buffer) => parts.push(d));
      e.on('end', () => seen.push({ path: e.path, type: e.type, size: e.size ?? 0, mode: e.mode, mtime: e.mtime?.getTime(), linkpath: e.linkpath || undefined, body: Buffer.concat(parts) }));
    },
  });
  await new Promise<void>((resolve, reject) => {
    parser.on('end', resolve);
    parser.on('error', reject);
    parser.end(bytes);
  });
  return seen;
}

/** What a pull of `selected` from this archive must carry: node-tar's view, re-addressed. */
function expected(source: Seen[], job: string, selected: Set<string>): Seen[] {
  return source
    .filter((e) => e.type !== 'Directory' && selected.has(e.path.replace(/^\.\//, '')))
    .map((e) => ({
      ...e,
      path: `${job}/${e.path.replace(/^\.\//, '')}`,
      mode: ((e.mode! & 0o7777) | 0o600) & ~0o22,
      // tar headers keep whole seconds unless a PAX header carries more
      mtime: e.mtime,
      linkpath: e.type === 'Link' ? `${job}/${e.linkpath!}` : e.linkpath,
    }));
}

const ignore = { made: () => {}, passed: () => {} };

function relayAll(archive: Buffer, job: string, selected: Set<string>, chunkSize: number): Buffer {
  const relay = new TarRelay(job, selected);
  const out: Buffer[] = [];
  for (let i = 0; i < archive.length; i += chunkSize) {
    // a fresh copy per chunk, overwritten after use: the relay must not keep what it was fed
    const chunk = Buffer.from(archive.subarray(i, i + chunkSize));
    // copies taken at once: the relay's own header buffer is reused, and so is the chunk
    relay.feed(chunk, { made: (b) => out.push(Buffer.from(b)), passed: (b) => out.push(Buffer.from(b)) });
    chunk.fill(0xee);
  }
  relay.end();
  return Buffer.concat([...out, TAR_END]);
}

/** A raw header block (and its body, padded) from node-tar's Header. */
function block(fields: tar.HeaderData, body: Buffer | string = ''): Buffer {
  const data = Buffer.from(body);
  const h = new tar.Header({ mode: 0o644, mtime: new Date(1_700_000_000_000), ...fields, size: data.length });
  h.encode();
  return Buffer.concat([h.block!, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

describe('tar relay', () => {
  const tmp = tempDir();
  let plain: Buffer;
  const long = `deep/${'n'.repeat(60)}/${'m'.repeat(60)}/f.txt`;
  before(async () => {
    const src = join(tmp.dir, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    mkdirSync(join(src, long, '..'), { recursive: true });
    writeFileSync(join(src, 'a.txt'), '');
    writeFileSync(join(src, 'b.bin'), randomBytes(511));
    writeFileSync(join(src, 'c.bin'), randomBytes(512));
    writeFileSync(join(src, 'd.bin'), randomBytes(513));
    writeFileSync(join(src, 'sub', 'e.bin'), randomBytes(1024 * 1024 + 3));
    writeFileSync(join(src, long), 'far down\n');
    symlinkSync('a.txt', join(src, 'link'));
    linkSync(join(src, 'b.bin'), join(src, 'hard'));
    utimesSync(join(src, 'd.bin'), 1_600_000_000.5, 1_600_000_000.5);
    const file = join(tmp.dir, 'plain.tar');
    await tar.c({ file, cwd: src, portable: true }, ['.']);
    plain = readFileSync(file);
  });
  after(() => tmp.cleanup());

  it('sends the selected members under <job>/, as node-tar reads them, gzip\'d or not, in chunks of any size', async () => {
    const source = await parse(plain);
    const all = source.filter((e) => e.type !== 'Directory').map((e) => e.path.replace(/^\.\//, ''));
    assert.ok(all.includes(long) && all.includes('hard') && all.includes('link'), all.join(' '));
    assert.equal(source.find((e) => e.path.endsWith('hard'))!.type, 'Link');
    const selected = new Set(all.filter((p) => p !== 'c.bin'));
    const want = expected(source, 'job1', selected);
    const gz = await parse(gzipSync(plain));
    assert.deepEqual(gz, source);
    for (const size of [1, 100, 511, 512, 513, 65_536, plain.length]) {
      assert.deepEqual(await parse(relayAll(plain, 'job1', selected, size)), want, `chunks of ${size}`);
    }
  });

  it('applies GNU long names, PAX headers and a global header to the next file only, as node-tar does', async () => {
    const longName = `x/${'y'.repeat(150)}.txt`;
    const archive = Buffer.concat([
      block({ path: 'pax_global', type: 'GlobalExtendedHeader' }, new tar.Pax({ mtime: new Date(1_500_000_000_000) }, true).encodeBody()),
      block({ path: '././@LongLink', type: 'NextFileHasLongPath' }, `${longName}\0`),
      block({ path: 'short-name-ignored', type: 'File' }, 'long one'),
      block({ path: 'PaxHeader', type: 'ExtendedHeader' }, new tar.Pax({ path: 'pax/named.txt', size: 3 }).encodeBody()),
      block({ path: 'placeholder', type: 'File' }, 'pax'),
      block({ path: 'plain.txt', type: 'File' }, 'plain'),
      Buffer.alloc(1024),
    ]);
    const source = await parse(archive);
    assert.deepEqual(source.map((e) => e.path), [longName, 'pax/named.txt', 'plain.txt']);
    const selected = new Set([longName, 'pax/named.txt', 'plain.txt']);
    for (const size of [7, 512, archive.length]) {
      const got = await parse(relayAll(archive, 'j', selected, size));
      assert.deepEqual(got, expected(source, 'j', selected), `chunks of ${size}`);
      assert.equal(got[0]!.mtime, 1_500_000_000_000);
    }
  });

  it('refuses a truncated archive and a header that fails its checksum', () => {
    const selected = new Set(['b.bin']);
    const cut = new TarRelay('j', selected);
    cut.feed(Buffer.from(plain.subarray(0, plain.indexOf('b.bin') + 700)), ignore);
    assert.throws(() => cut.end(), /truncated/);
    const bad = Buffer.from(plain);
    const at = bad.indexOf('b.bin') + 130;
    bad[at] = bad[at]! ^ 1;
    assert.throws(() => new TarRelay('j', selected).feed(bad, ignore), /checksum/);
    assert.throws(() => new TarRelay('j', selected).end(), /empty/);
  });
});

/** A reader that takes each write only later, and copies it only then. */
class SlowReader extends Writable {
  readonly parts: Buffer[] = [];
  constructor(private readonly cutAfter = Infinity, private readonly delayMs = 1) {
    super({ highWaterMark: 16 * 1024 });
  }
  private taken = 0;
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    setTimeout(() => {
      this.parts.push(Buffer.from(chunk));
      this.taken += chunk.length;
      if (this.taken > this.cutAfter) {
        this.destroy(new Error('went away'));
        return;
      }
      cb();
    }, this.delayMs);
  }
}

describe('writePull', () => {
  const tmp = tempDir();
  const big = randomBytes(3 * 1024 * 1024 + 100);
  let plainFile = '';
  let gzFile = '';
  before(async () => {
    const src = join(tmp.dir, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'big.bin'), big);
    writeFileSync(join(src, 'small.txt'), 'small\n');
    plainFile = join(tmp.dir, 'a.tar.gz');
    gzFile = join(tmp.dir, 'b.tar.gz');
    await tar.c({ file: plainFile, cwd: src, portable: true }, ['big.bin', 'small.txt']);
    await tar.c({ file: gzFile, cwd: src, portable: true, gzip: true }, ['big.bin', 'small.txt']);
  });
  after(() => tmp.cleanup());

  it('sends every byte intact to a reader that takes its writes late (no buffer reused too soon)', async () => {
    const out = new SlowReader();
    await writePull([
      { job: 'p', file: plainFile, members: new Set(['big.bin', 'small.txt']) },
      { job: 'g', file: gzFile, members: new Set(['big.bin']) },
    ], out);
    const got = await parse(Buffer.concat(out.parts));
    assert.deepEqual(got.map((e) => e.path), ['p/big.bin', 'p/small.txt', 'g/big.bin']);
    assert.ok(got[0]!.body.equals(big), 'p/big.bin differs');
    assert.equal(got[1]!.body.toString(), 'small\n');
    assert.ok(got[2]!.body.equals(big), 'g/big.bin differs');
  });

  it('sends many small files intact, gathered a chunk at a time, to a reader that takes its writes late', async () => {
    const src = join(tmp.dir, 'many');
    mkdirSync(src);
    const names: string[] = [];
    const bodies = new Map<string, Buffer>();
    for (let i = 0; i < 400; i++) {
      const name = `f${i}.bin`;
      const body = randomBytes(1 + ((i * 7919) % 20_000));
      writeFileSync(join(src, name), body);
      names.push(name);
      bodies.set(`m/${name}`, body);
    }
    const file = join(tmp.dir, 'many.tar.gz');
    await tar.c({ file, cwd: src, portable: true }, names);
    const out = new SlowReader(Infinity, 20);
    await writePull([{ job: 'm', file, members: new Set(names) }], out);
    const got = await parse(Buffer.concat(out.parts));
    assert.equal(got.length, names.length);
    for (const e of got) assert.ok(e.body.equals(bodies.get(e.path)!), `${e.path} differs`);
  });

  it('stops with ReaderGone when the reader goes away', async () => {
    const out = new SlowReader(1024 * 1024);
    await assert.rejects(writePull([{ job: 'p', file: plainFile, members: new Set(['big.bin']) }], out), ReaderGone);
  });

  it('cuts the stream on an unreadable archive when told to (the finalize fetch), naming the job', async () => {
    const broken = join(tmp.dir, 'broken.tar.gz');
    writeFileSync(broken, readFileSync(plainFile).subarray(0, 2048));
    const out = new SlowReader();
    await assert.rejects(writePull([{ job: 'p', file: plainFile, members: new Set(['small.txt']) }, { job: 'bad', file: broken, members: new Set(['big.bin']) }], out, 'cut'), /archive of job bad .*truncated/);
    assert.ok(out.destroyed, 'the stream ended cleanly: a short pull would pass for a whole one');
  });

  for (const [kind, cutAt] of [['plain', 2048], ['gzip', 300_000]] as const) {
    it(`marks a truncated ${kind} archive's job damaged, closes the member it cut, and sends the jobs after it`, async () => {
      const broken = join(tmp.dir, `broken-${kind}.tar.gz`);
      writeFileSync(broken, readFileSync(kind === 'plain' ? plainFile : gzFile).subarray(0, cutAt));
      const out = new SlowReader();
      const damaged = await writePull([
        { job: 'p', file: plainFile, members: new Set(['small.txt']) },
        { job: 'bad', file: broken, members: new Set(['big.bin', 'small.txt']) },
        { job: 'g', file: gzFile, members: new Set(['big.bin']) },
      ], out);
      assert.deepEqual(damaged.map((d) => d.job), ['bad']);
      const got = await parse(Buffer.concat(out.parts));
      assert.deepEqual(got.map((e) => e.path), ['p/small.txt', 'bad/big.bin', '.distribute/damaged/bad', 'g/big.bin']);
      assert.equal(got[1]!.body.length, big.length, 'the cut member keeps its announced size');
      assert.ok(!got[1]!.body.equals(big), 'the cut member cannot be whole');
      const mark = JSON.parse(got[2]!.body.toString()) as { job: string; cut: string | null; error: string };
      assert.equal(mark.job, 'bad');
      assert.equal(mark.cut, 'bad/big.bin');
      assert.match(mark.error, /truncated|unexpected end/i);
      assert.ok(got[3]!.body.equals(big), 'the job after the damaged one arrives intact');
    });
  }
});
