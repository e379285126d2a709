import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { memberPath, memberProblem } from '../../head/archive.js';

describe('archive members', () => {
  const table: [string, { path: string; type: string; linkpath?: string }, RegExp | null][] = [
    ['a plain file', { path: 'out/result.csv', type: 'File' }, null],
    ['a folder', { path: 'out/', type: 'Directory' }, null],
    ['a leading ./', { path: './out.txt', type: 'File' }, null],
    ['an absolute path', { path: '/etc/passwd', type: 'File' }, /absolute/],
    ['a .. component', { path: 'a/../../x', type: 'File' }, /contains "\.\."/],
    ['a bare ..', { path: '..', type: 'Directory' }, /contains "\.\."/],
    ['a device', { path: 'dev', type: 'CharacterDevice' }, /CharacterDevice/],
    ['a FIFO', { path: 'pipe', type: 'FIFO' }, /FIFO/],
    ['a symlink inside the tree', { path: 'a/b/link', type: 'SymbolicLink', linkpath: '../c.txt' }, null],
    ['a symlink leaving the tree', { path: 'a/link', type: 'SymbolicLink', linkpath: '../../etc' }, /outside the archive/],
    ['an absolute symlink', { path: 'link', type: 'SymbolicLink', linkpath: '/etc/passwd' }, /outside the archive/],
    ['a hard link inside', { path: 'x', type: 'Link', linkpath: 'out/result.csv' }, null],
    ['a hard link leaving', { path: 'x', type: 'Link', linkpath: '../x' }, /outside the archive/],
  ];
  for (const [name, entry, expected] of table) {
    it(`${expected ? 'refuses' : 'accepts'} ${name}`, () => {
      const problem = memberProblem(entry);
      if (expected) assert.match(problem ?? '', expected);
      else assert.equal(problem, null);
    });
  }

  it('indexes paths without ./ or a trailing slash', () => {
    assert.equal(memberPath('./a/b/'), 'a/b');
    assert.equal(memberPath('a'), 'a');
  });
});
