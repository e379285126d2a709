// "state dir full" once per episode, and its end when free space grows: a real (small) tmpfs,
// real statfs, real ENOSPC.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../shared/log.js';
import { isDiskFull, StateDirSpace } from '../../head/state-dir-space.js';
import { tempDir } from '../helpers/cli.js';
import { until } from '../helpers/until.js';

function capture(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger('head', { level: 'debug', destination: { write: (s: string) => sink.write(s) } as never }), lines };
}

describe('state dir space', () => {
  let cleanup: (() => void) | null = null;
  afterEach(() => {
    cleanup?.();
    cleanup = null;
  });

  it('tells a full disk from other write errors', () => {
    assert.equal(isDiskFull(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })), true);
    assert.equal(isDiskFull(Object.assign(new Error('EDQUOT'), { code: 'EDQUOT' })), true);
    assert.equal(isDiskFull(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })), true);
    assert.equal(isDiskFull(new Error('x', { cause: Object.assign(new Error('y'), { code: 'ENOSPC' }) })), true);
    assert.equal(isDiskFull(Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' })), false);
  });

  it('logs "state dir full" once however many writes fail, and "has space again" once free space grows', async (t) => {
    const { dir, cleanup: rmDir } = tempDir('distribute-space-');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { stdio: 'pipe' });
    } catch (err) {
      rmDir();
      t.skip(`cannot mount a tmpfs here (needs root): ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`);
      return;
    }
    cleanup = () => {
      execFileSync('umount', ['-l', dir]);
      rmDir();
    };
    const { logger, lines } = capture();
    let passes = 0;
    const space = new StateDirSpace(dir, logger, () => passes++, 20);
    // a real ENOSPC: the file system filled by a file of the test's
    let enospc: unknown = null;
    try {
      writeFileSync(join(dir, 'filler'), Buffer.alloc(9 * 1024 * 1024));
    } catch (err) {
      enospc = err;
    }
    assert.ok(enospc && isDiskFull(enospc), `writing past the end fails with ENOSPC (${String(enospc)})`);
    assert.equal(space.failed(new Error('EACCES'), {}), false, 'other errors are not a full disk');
    assert.equal(space.full, false);
    for (let i = 0; i < 5; i++) assert.equal(space.failed(enospc, { attempt: i }), true);
    assert.equal(space.full, true);
    assert.equal(lines.filter((l) => l.event === 'state_dir_full').length, 1, 'once per episode');
    assert.equal(space.space()!.free, 0);

    // a little room (a failed upload's temp file deleted) does not end it: only growth by 4 MiB
    // beyond the most seen while full does
    const filled = statSync(join(dir, 'filler')).size;
    truncateSync(join(dir, 'filler'), filled - 2 * 1024 * 1024);
    await until(() => space.space()!.free >= 2 * 1024 * 1024, 'the room to show');
    await new Promise((r) => setTimeout(r, 100)); // five polls
    assert.equal(space.full, true, 'still full: free space did not grow by 4 MiB');
    rmSync(join(dir, 'filler'));
    await until(() => !space.full, 'the episode to end', 5000);
    assert.equal(passes, 1, 'its end asks for a pass');
    assert.equal(lines.filter((l) => l.event === 'state_dir_space').length, 1);
    // a new failure is a new episode
    space.failed(enospc);
    assert.equal(lines.filter((l) => l.event === 'state_dir_full').length, 2);
    space.stop();
  });
});
