import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pickFitting, slotsFor } from '../../../src/local/slots.js';

describe('slotsFor', () => {
  it('takes as many slots as the job asks cpus, at least one, at most all', () => {
    assert.equal(slotsFor(1, 4), 1);
    assert.equal(slotsFor(2, 4), 2);
    assert.equal(slotsFor(8, 4), 4);
    assert.equal(slotsFor(0, 4), 1);
  });
});

describe('pickFitting', () => {
  const cases: [string, number[], number, number[]][] = [
    ['starts in batch order while jobs fit', [1, 1, 1], 2, [0, 1]],
    ['lets a smaller later job use what a big one cannot', [2, 1, 1], 1, [1]],
    ['fills the slots first fit', [2, 3, 1, 1], 4, [0, 2, 3]],
    ['starts nothing when nothing is free', [1], 0, []],
    ['starts a job taking every slot when all are free', [4, 1], 4, [0]],
    ['nothing waiting', [], 3, []],
  ];
  for (const [what, waiting, free, expected] of cases) {
    it(what, () => assert.deepEqual(pickFitting(waiting, free), expected));
  }
});
