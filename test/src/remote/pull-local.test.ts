import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { splitByPresence } from '../../../src/remote/present.js';
import { progressLine, PullProgress } from '../../../src/remote/pull-progress.js';
import { loadRulesFile, rulesFrom } from '../../../src/remote/rules.js';
import type { PlannedMember } from '../../../shared/protocol/api.js';
import { tempDir } from '../../helpers/cli.js';

describe('what is already in the save folder', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());
  const when = Date.UTC(2024, 0, 2, 3, 4, 5);
  const m = (job: string, path: string, size: number, mtime: number | null = when): PlannedMember => ({ job, path, size, mtime });

  it('counts a file present only with the same size and the same time to the second', async () => {
    const dest = join(tmp.dir, 'batch');
    mkdirSync(join(dest, 'j', 'sub'), { recursive: true });
    const put = (path: string, text: string, at = when) => {
      writeFileSync(join(dest, 'j', path), text);
      utimesSync(join(dest, 'j', path), at / 1000, at / 1000);
    };
    put('same.txt', 'abc');
    put('sub/ms.txt', 'abc', when + 400);
    put('size.txt', 'abcd');
    put('time.txt', 'abc', when + 5000);
    put('notime.txt', 'abc', when + 5000);
    symlinkSync('same.txt', join(dest, 'j', 'link'));
    const plan = [m('j', 'same.txt', 3), m('j', 'sub/ms.txt', 3), m('j', 'size.txt', 3), m('j', 'time.txt', 3), m('j', 'notime.txt', 3, null), m('j', 'link', 0), m('j', 'absent.txt', 1), m('k', 'x', 1)];
    const got = await splitByPresence(plan, dest, false);
    assert.deepEqual(got.present.map((p) => p.path), ['same.txt', 'sub/ms.txt', 'notime.txt', 'link']);
    assert.deepEqual(got.missing.map((p) => `${p.job}/${p.path}`), ['j/size.txt', 'j/time.txt', 'j/absent.txt', 'k/x']);
    const forced = await splitByPresence(plan, dest, true);
    assert.equal(forced.missing.length, plan.length);
  });

  it('refuses a plan that names a path outside the folder', async () => {
    await assert.rejects(splitByPresence([m('j', '../../etc/passwd', 1)], join(tmp.dir, 'x'), false), /path leaves the folder; nothing was pulled/);
  });
});

describe('the progress bar', () => {
  it('shows the share, bytes, rate and files', () => {
    const line = progressLine({ bytes: 512 * 1024 ** 2, totalBytes: 1024 ** 3, files: 3, totalFiles: 10, elapsedMs: 4000 }, 100);
    assert.match(line, /^ 50% \[#+-+\] 512\.0 MiB \/ 1\.0 GiB  128\.0 MiB\/s  3\/10 files$/);
    assert.ok(line.length <= 100);
  });

  it('draws on a terminal at most every interval, and erases itself', () => {
    let t = 0;
    const written: string[] = [];
    const bar = new PullProgress({ isTTY: true, columns: 80, write: (s) => written.push(s) }, { files: 2, bytes: 100 }, () => t, 100);
    bar.addBytes(10);
    t = 50;
    bar.addBytes(10);
    t = 150;
    bar.addFile();
    bar.end();
    assert.equal(written.length, 3);
    assert.match(written[1]!, /20\/100|20 B \/ 100 B.*1\/2 files/);
    assert.equal(written[2], '\r\x1b[K');
  });

  it('draws nothing off a terminal', () => {
    const written: string[] = [];
    const bar = new PullProgress({ isTTY: false, write: (s) => written.push(s) }, { files: 1, bytes: 1 });
    bar.addBytes(1);
    bar.addFile();
    bar.end();
    assert.deepEqual(written, []);
  });
});

describe('rules files', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());
  const file = (name: string, text: string) => {
    const f = join(tmp.dir, name);
    writeFileSync(f, text);
    return f;
  };

  it('takes strings or lists and joins them with the flags', async () => {
    const f = file('ok.yaml', 'include: "\\\\.csv$"\nexclude: [a, b]\nglob: ["*.log"]\njob: ^re_\n');
    assert.deepEqual(await loadRulesFile(f), { include: ['\\.csv$'], exclude: ['a', 'b'], glob: ['*.log'], job: ['^re_'] });
    assert.deepEqual(await rulesFrom({ rules: f, include: ['x'], job: ['y'] }), { include: ['\\.csv$', 'x'], exclude: ['a', 'b'], glob: ['*.log'], job: ['^re_', 'y'] });
  });

  it('names the file, line, column and field of every problem, exit code 2', async () => {
    const f = file('bad.yaml', 'include:\n  - ok\n  - 3\nexclude: {a: 1}\nglobs: x\n');
    await assert.rejects(loadRulesFile(f), (err: Error & { exitCode?: number }) => {
      const lines = err.message.split('\n');
      assert.ok(lines.some((l) => l === `${f}:3:5: include[1]: must be a string (a pattern), not 3`), err.message);
      assert.ok(lines.some((l) => l.startsWith(`${f}:4:10: exclude: must be a string or a list of strings`)), err.message);
      assert.ok(lines.some((l) => l.startsWith(`${f}:5:1: globs: not a rules key`)), err.message);
      assert.equal(err.exitCode, 2);
      return true;
    });
    await assert.rejects(loadRulesFile(file('syntax.yaml', 'include: [a\n')), /syntax\.yaml:\d+:\d+: /);
    await assert.rejects(loadRulesFile(join(tmp.dir, 'missing.yaml')), /cannot read rules file .*missing\.yaml/);
    await assert.rejects(loadRulesFile(file('glob.yaml', 'glob: ["{a,b"]\n')), /glob\.yaml:1:8: glob\[0\]: "\{a,b": glob "\{a,b": a \{ is not closed/);
  });
});
