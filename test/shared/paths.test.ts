import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isContainedRelative, isSafeName, safeJoin, unsafeNameReason } from '../../shared/paths.js';

describe('safe names', () => {
  it('accepts names of letters, digits, dot, dash and underscore', () => {
    for (const n of ['re_100', 'a', 'A.b-c_9', 'x'.repeat(128)]) assert.ok(isSafeName(n), n);
  });
  it('refuses names that could escape or confuse a path, saying why', () => {
    for (const n of ['', '.hidden', '..', 'a/b', 'a b', '-x', 'x'.repeat(129), 'é']) {
      assert.equal(isSafeName(n), false, n);
      assert.ok(unsafeNameReason(n));
    }
  });
});

describe('safeJoin', () => {
  it('joins inside the root', () => assert.equal(safeJoin('/r', 'a', 'b.txt'), '/r/a/b.txt'));
  it('refuses .., absolute parts and the root itself', () => {
    assert.throws(() => safeJoin('/r', '../x'));
    assert.throws(() => safeJoin('/r', 'a/../../x'));
    assert.throws(() => safeJoin('/r', '/etc/passwd'));
    assert.throws(() => safeJoin('/r', '.'));
  });
  it('tells contained relative member paths', () => {
    assert.ok(isContainedRelative('job/out.txt'));
    assert.ok(!isContainedRelative('../out.txt'));
    assert.ok(!isContainedRelative('/abs'));
    assert.ok(!isContainedRelative('a/../../b'));
  });
});
