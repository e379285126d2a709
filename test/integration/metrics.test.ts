// GET /metrics on a real head: Prometheus text parsed back and checked against what the
// cluster did (jobs run, nodes known, archives written on disk).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TestCluster } from '../helpers/cluster.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { waitFor } from '../compute/support.js';

describe('GET /metrics', () => {
  let c: TestCluster;
  let http: string;
  before(async () => {
    c = await TestCluster.start({ nodes: [{ name: 'm1', capabilities: ['shell'], cpus: 2 }] });
    http = c.url.replace(/^ws/, 'http');
    const dir = join(c.root, 'metrics-batch');
    mkdirSync(dir);
    writeFileSync(join(dir, 'batch.yaml'), stringify({
      meta: { batch_name: 'm_batch', namespace: 'metrics', capabilities: ['shell'] },
      shell: { jobs: ['a', 'b', 'c'].map((name) => ({ name, command: `printf '${name}%.0s' $(seq 100) > "$DISTRIBUTE_SAVE/out.txt"` })) },
    }));
    const add = await c.cli(['add', join(dir, 'batch.yaml')]);
    assert.equal(add.code, 0, add.stderr);
    await waitFor(async () => {
      const batches = await c.json<{ batch_name: string; counts: { done: number } }[]>(['status']);
      return batches.find((b) => b.batch_name === 'm_batch')?.counts.done === 3;
    }, 'three jobs done', 30_000, 200);
  });
  after(async () => c?.stop());

  it('answers in the Prometheus text format, with what the cluster did', async () => {
    const res = await fetch(`${http}/metrics`, { headers: { authorization: `Bearer ${await c.user('prometheus')}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const m = parsePrometheus(await res.text());

    assert.equal(m.get('distribute_jobs')?.type, 'gauge');
    const jobs = Object.fromEntries(m.get('distribute_jobs')!.samples.map((s) => [s.labels.state, s.value]));
    assert.deepEqual(jobs, { queued: 0, assigned: 0, running: 0, paused: 0, done: 3, failed: 0, cancelled: 0 });
    const nodes = Object.fromEntries(m.get('distribute_nodes')!.samples.map((s) => [s.labels.state, s.value]));
    assert.deepEqual(nodes, { idle: 1, busy: 0, paused: 0, lost: 0, draining: 0 });

    const h = m.get('distribute_placement_seconds')!;
    assert.equal(h.type, 'histogram');
    const buckets = h.samples.filter((s) => s.name === 'distribute_placement_seconds_bucket');
    const counts = buckets.map((b) => b.value);
    assert.deepEqual(counts, [...counts].sort((a, b) => a - b), 'buckets are cumulative');
    const count = sampleValue(m, 'distribute_placement_seconds', {}, 'distribute_placement_seconds_count');
    assert.equal(buckets.at(-1)!.labels.le, '+Inf');
    assert.equal(buckets.at(-1)!.value, count);
    assert.ok(count >= 1, 'at least one placement pass');
    assert.ok(sampleValue(m, 'distribute_placement_seconds', {}, 'distribute_placement_seconds_sum') > 0);
    assert.equal(sampleValue(m, 'distribute_placements_total'), 3);
    assert.equal(sampleValue(m, 'distribute_results_in_flight'), 0, 'every result was taken');

    // every archive on disk was written since this head started
    const archiveDir = join(c.stateDir, 'archive', 'metrics', 'm_batch');
    const onDisk = readdirSync(archiveDir).filter((f) => f.endsWith('.tar.gz')).reduce((sum, f) => sum + statSync(join(archiveDir, f)).size, 0);
    assert.ok(onDisk > 0);
    assert.equal(sampleValue(m, 'distribute_archive_bytes_total'), onDisk);
    // each job saved 100 bytes, plus its logs and result.json
    assert.ok(sampleValue(m, 'distribute_archive_member_bytes') >= 300);

    const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    assert.equal(m.get('distribute_head_info')!.samples[0]!.labels.version, version);
  });

  it('answers only to a bearer token of a user', async () => {
    assert.equal((await fetch(`${http}/metrics`)).status, 401);
    assert.equal((await fetch(`${http}/metrics`, { headers: { authorization: 'Bearer nope' } })).status, 401);
    const node = await c.createToken('node', 'scraper-node');
    assert.equal((await fetch(`${http}/metrics`, { headers: { authorization: `Bearer ${node}` } })).status, 403);
  });
});
