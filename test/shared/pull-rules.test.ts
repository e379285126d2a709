import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileRules, globToRegExp } from '../../shared/pull-rules.js';
import type { PullRules } from '../../shared/protocol/api.js';

function rules(r: Partial<PullRules>) {
  const c = compileRules({ include: [], exclude: [], glob: [], job: [], ...r });
  if (!c.ok) throw new Error(JSON.stringify(c.problems));
  return c.rules;
}

describe('pull rules', () => {
  it('takes everything without rules', () => assert.ok(rules({}).matches('j', 'x')));

  it('keeps what one include matches, over <job>/<file>', () => {
    const r = rules({ include: ['\\.csv$', '^j2/'] });
    assert.ok(r.matches('j1', 'a.csv'));
    assert.ok(r.matches('j2', 'a.txt'));
    assert.ok(!r.matches('j1', 'a.txt'));
  });

  it('drops what an exclude matches, even when included: exclude wins', () => {
    assert.ok(!rules({ include: ['\\.csv$'], exclude: ['^j2/'] }).matches('j2', 'a.csv'));
    assert.ok(!rules({ exclude: ['_distribute/'] }).matches('j', '_distribute/stdout.log'));
  });

  it('counts a glob as an include: without a slash on the file name, with one on the whole path', () => {
    const r = rules({ glob: ['*.csv'] });
    assert.ok(r.matches('j', 'deep/down/a.csv'));
    assert.ok(!r.matches('j', 'a.csv.gz'));
    const whole = rules({ glob: ['re_1*/out/*.dat'] });
    assert.ok(whole.matches('re_100', 'out/x.dat'));
    assert.ok(!whole.matches('re_100', 'out/sub/x.dat'));
    assert.ok(!whole.matches('re_200', 'out/x.dat'));
    const either = rules({ include: ['\\.log$'], glob: ['*.csv'] });
    assert.ok(either.matches('j', 'a.log') && either.matches('j', 'a.csv') && !either.matches('j', 'a.txt'));
  });

  it('keeps only the jobs a job regex matches', () => {
    const r = rules({ job: ['^re_1'] });
    assert.ok(r.matches('re_100', 'x') && !r.matches('re_200', 'x'));
    assert.ok(r.jobFiltered && r.jobMatches('re_1') && !r.jobMatches('re_2'));
  });

  it('names every pattern that does not compile', () => {
    const c = compileRules({ include: ['ok', '('], exclude: ['['], glob: ['{a,b'], job: [] });
    assert.equal(c.ok, false);
    if (c.ok) return;
    assert.deepEqual(c.problems.map((p) => `${p.field}[${p.index}]`), ['include[1]', 'exclude[0]', 'glob[0]']);
    assert.match(c.problems[0]!.message, /not a valid regular expression/);
  });
});

describe('globs', () => {
  const table: [string, string, boolean][] = [
    ['*.csv', 'a.csv', true],
    ['*.csv', 'a/b.csv', false],
    ['a/**/z.txt', 'a/z.txt', true],
    ['a/**/z.txt', 'a/b/c/z.txt', true],
    ['a/**', 'a/b/c', true],
    ['file?.txt', 'file1.txt', true],
    ['file?.txt', 'file10.txt', false],
    ['[ab]*.dat', 'b1.dat', true],
    ['[!ab]*.dat', 'b1.dat', false],
    ['[!ab]*.dat', 'c1.dat', true],
    ['*.{csv,json}', 'x.json', true],
    ['*.{csv,json}', 'x.txt', false],
    ['a+b(1).txt', 'a+b(1).txt', true],
    ['a.txt', 'abtxt', false],
    ['\\*.txt', '*.txt', true],
    ['\\*.txt', 'a.txt', false],
    ['[x', '[x', true],
  ];
  for (const [glob, path, expected] of table) {
    it(`${glob} ${expected ? 'matches' : 'does not match'} ${path}`, () => assert.equal(globToRegExp(glob).test(path), expected));
  }
});
