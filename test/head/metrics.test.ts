import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Histogram, histogramFamily, renderFamilies } from '../../head/metrics.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { VERSION } from '../../shared/version.js';
import { REPO_ROOT } from '../helpers/cli.js';

describe('metrics exposition', () => {
  it('escapes label values so they parse back as written', () => {
    const tricky = 'a "quoted" \\ back\nslash';
    const text = renderFamilies([{ name: 'x_info', help: 'Help with \\ and\nnewline.', type: 'gauge', samples: [{ labels: { v: tricky, w: 'plain' }, value: 1 }] }]);
    const m = parsePrometheus(text);
    assert.equal(m.get('x_info')!.samples[0]!.labels.v, tricky);
    assert.equal(sampleValue(m, 'x_info', { v: tricky, w: 'plain' }), 1);
  });

  it('renders a histogram with cumulative buckets, +Inf, sum and count', () => {
    const h = new Histogram([0.1, 1]);
    for (const v of [0.05, 0.5, 0.7, 3]) h.observe(v);
    const m = parsePrometheus(renderFamilies([histogramFamily('lat_seconds', 'Latency.', h)]));
    const b = (le: string) => sampleValue(m, 'lat_seconds', { le }, 'lat_seconds_bucket');
    assert.deepEqual([b('0.1'), b('1'), b('+Inf')], [1, 3, 4]);
    assert.equal(sampleValue(m, 'lat_seconds', {}, 'lat_seconds_count'), 4);
    assert.ok(Math.abs(sampleValue(m, 'lat_seconds', {}, 'lat_seconds_sum') - 4.25) < 1e-9);
  });

  it('the parser refuses what Prometheus would (so parsing back proves something)', () => {
    assert.throws(() => parsePrometheus('orphan 1\n'), /before any # TYPE/);
    assert.throws(() => parsePrometheus('# TYPE a gauge\na{x="1} 1\n'), /unterminated/);
    assert.throws(() => parsePrometheus('# TYPE a gauge\na one\n'), /not a number/);
    assert.throws(() => parsePrometheus('# TYPE a gauge\na 1'), /newline/);
  });

  it('VERSION is the package version', () => {
    assert.equal(VERSION, (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });
});
