import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BatchParser } from '../../head/batch-parser.js';
import { until } from '../helpers/until.js';

const body = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

describe('the batch parser thread', () => {
  it('is stopped once idle, freeing the heap a large batch grew, and started again by the next batch', async () => {
    const parser = new BatchParser(60_000, 300);
    try {
      const first = await parser.check(body({ document: 'not: [a batch' }));
      assert.equal(first.ok, false);
      assert.equal(parser.running, true);
      await until(() => !parser.running, 'the idle worker to stop', 10_000);
      const second = await parser.check(body({ document: 'not: [a batch' }));
      assert.equal(second.ok, false, 'a batch after the stop is checked by a new worker');
      assert.equal(parser.running, true);
    } finally {
      await parser.close();
    }
  });
});
