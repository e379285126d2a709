import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { create } from 'tar';
import { join } from 'node:path';
import { silentLogger } from '../../../shared/log.js';
import { lastLines, OVERVIEW_TAIL, readMemberTail, STDERR_MEMBER, TailCache } from '../../../head/dashboard/tails.js';
import { archivePath } from '../../../head/archive.js';
import { tempDir } from '../../helpers/cli.js';
import { seedArchive as writeArchive } from './seed.js';

describe('stderr tails from result archives', () => {
  let dir: string;
  let cleanup: () => void;
  const lines = Array.from({ length: 50_000 }, (_, i) => `line ${i} of the traceback`).join('\n') + '\n';

  before(() => ({ dir, cleanup } = tempDir()));
  after(() => cleanup());

  it('keeps only the last bytes of a big stderr, cut at a line start', async () => {
    const file = await writeArchive(dir, 'ns', 'b', 'big', lines);
    const tail = await readMemberTail(file, STDERR_MEMBER, 4096);
    assert.ok(tail !== null);
    assert.ok(tail.length <= 4096, `${tail.length} bytes`);
    assert.ok(tail.endsWith('line 49999 of the traceback\n'));
    assert.match(tail, /^line \d+ of the traceback\n/);
    assert.deepEqual(lastLines(tail, 3).split('\n'), ['line 49997 of the traceback', 'line 49998 of the traceback', 'line 49999 of the traceback']);
  });

  it('gives a short stderr whole, and an empty one as empty', async () => {
    assert.equal(await readMemberTail(await writeArchive(dir, 'ns', 'b', 'short', 'Traceback: boom\n'), STDERR_MEMBER, 4096), 'Traceback: boom\n');
    assert.equal(await readMemberTail(await writeArchive(dir, 'ns', 'b', 'empty', ''), STDERR_MEMBER, 4096), '');
  });

  it('reads past a member that compresses a thousandfold without holding it in memory', async () => {
    // 256 MiB of zeros gzip to ~250 KiB: inflated whole per chunk this used to balloon or be refused
    const src = join(dir, 'src', 'zeros');
    mkdirSync(join(src, '_distribute'), { recursive: true });
    const zeros = openSync(join(src, 'zeros.dat'), 'w');
    for (let i = 0; i < 256; i++) writeSync(zeros, Buffer.alloc(1024 * 1024));
    closeSync(zeros);
    writeFileSync(join(src, '_distribute', 'stderr.log'), 'after the zeros\n');
    const file = join(dir, 'zeros.tar.gz');
    await create({ gzip: true, file, cwd: src, portable: true }, ['zeros.dat', '_distribute/stderr.log']);
    const before = process.memoryUsage().rss;
    assert.equal(await readMemberTail(file, STDERR_MEMBER, 4096), 'after the zeros\n');
    assert.ok(process.memoryUsage().rss - before < 100 * 1024 * 1024, 'the archive was inflated in bounded chunks');
  });

  it('answers null for a missing archive, a missing member, or a file that is no archive', async () => {
    assert.equal(await readMemberTail(join(dir, 'nope.tar.gz'), STDERR_MEMBER, 4096), null);
    assert.equal(await readMemberTail(await writeArchive(dir, 'ns', 'b', 'nolog', null), STDERR_MEMBER, 4096), null);
    const junk = join(dir, 'junk.tar.gz');
    writeFileSync(junk, 'this is not a tarball at all'.repeat(100));
    assert.equal(await readMemberTail(junk, STDERR_MEMBER, 4096), null);
  });

  it('reads overview tails in the background, says when one is ready, and caches them by attempt', async () => {
    const file = await writeArchive(dir, 'cfd', 'sweep', 'a_2', lines);
    let ready!: () => void;
    const readyOnce = new Promise<void>((r) => (ready = r));
    const cache = new TailCache((ns, batch, job) => archivePath(dir, ns, batch, job), () => ready(), silentLogger());
    assert.equal(cache.tail(42, 'cfd', 'sweep', 'a_2'), undefined, 'not read yet');
    await readyOnce;
    const tail = cache.tail(42, 'cfd', 'sweep', 'a_2');
    assert.equal(tail?.split('\n').length, OVERVIEW_TAIL.lines);
    assert.ok(tail!.endsWith('line 49999 of the traceback'));
    rmSync(file);
    assert.equal(cache.tail(42, 'cfd', 'sweep', 'a_2'), tail, 'an attempt\'s tail is not read twice');
    cache.close();
  });
});
