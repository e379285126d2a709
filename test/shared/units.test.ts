import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatSlurmSize, formatSlurmTime, parseDuration, parseSize } from '../../shared/spec/units.js';

const ok = <T>(r: { ok: true; value: T } | { ok: false; error: string }): T => {
  if (!r.ok) assert.fail(r.error);
  return r.value;
};

describe('sizes', () => {
  it('reads Slurm binary units, case-insensitive', () => {
    assert.equal(ok(parseSize('512M')), 512 * 1024 ** 2);
    assert.equal(ok(parseSize('8G')), 8 * 1024 ** 3);
    assert.equal(ok(parseSize('4g')), 4 * 1024 ** 3);
    assert.equal(ok(parseSize('1.5T')), 1.5 * 1024 ** 4);
    assert.equal(ok(parseSize('100KiB')), 100 * 1024);
  });
  it('takes a bare number as megabytes, as Slurm does', () => {
    assert.equal(ok(parseSize('4000')), 4000 * 1024 ** 2);
    assert.equal(ok(parseSize(2)), 2 * 1024 ** 2);
  });
  it('refuses what is not a size', () => {
    for (const bad of ['', 'lots', '8X', '-1G', '1..2G']) assert.equal(parseSize(bad).ok, false, bad);
  });
  it('formats back for Slurm', () => {
    assert.equal(formatSlurmSize(8 * 1024 ** 3), '8G');
    assert.equal(formatSlurmSize(1536 * 1024 ** 2), '1536M');
  });
});

describe('durations', () => {
  const cases: [string, number][] = [
    ['90s', 90], ['5m', 300], ['2h30m', 9000], ['1d', 86400], ['1.5h', 5400],
    ['01:02:03', 3723], ['10:30', 630], ['1-02:00:00', 93600], ['2-12', 216000], ['PT2H', 7200],
    ['P1DT30M', 88200], ['30', 1800],
  ];
  for (const [input, seconds] of cases) it(`reads ${input}`, () => assert.equal(ok(parseDuration(input)), seconds));
  it('refuses out-of-range clocks and garbage', () => {
    for (const bad of ['25:99:77', '10:60', '1-24:00:00', 'soon', 'PT', '5x', '']) assert.equal(parseDuration(bad).ok, false, bad);
  });
  it('formats back for Slurm', () => {
    assert.equal(formatSlurmTime(3723), '01:02:03');
    assert.equal(formatSlurmTime(93600), '1-02:00:00');
  });
});
