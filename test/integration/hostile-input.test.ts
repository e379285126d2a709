// What a user may send the head, bounded: a huge batch file, a huge request body (declared or
// streamed), an alias bomb, a command of megabytes. Each is refused at once with exit 2 and a
// line naming the limit, while the head's event loop keeps turning and no node is lost.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TestCluster } from '../helpers/cluster.js';

/** The head's own event loop delay (quantile 1 = max, 0.99 = p99) over the last minute, from /metrics. */
async function loopDelay(c: TestCluster, quantile: '1' | '0.99'): Promise<number> {
  const res = await fetch(`${c.url.replace(/^ws/, 'http')}/metrics`, { headers: { authorization: `Bearer ${await c.user('bob')}` } });
  const text = await res.text();
  const m = new RegExp(`^distribute_event_loop_delay_seconds\\{quantile="${quantile.replace('.', '\\.')}"\\} (\\S+)$`, 'm').exec(text);
  assert.ok(m, text);
  return Number(m[1]);
}

/**
 * POSTs `/v1/batches` declaring `declared` bytes (or chunked, without a length) and sending up
 * to `send`, a chunk at a time, stopping as soon as the head answers.
 */
function postBody(c: TestCluster, token: string, opts: { declared?: number; send: number }): Promise<{ status: number; body: string; ms: number }> {
  const url = new URL('/v1/batches', c.url.replace(/^ws/, 'http'));
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    if (opts.declared !== undefined) headers['content-length'] = String(opts.declared);
    let answered = false;
    const req = request(url, { method: 'POST', headers }, (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - t0 }));
    });
    // the head closes once it answered, before the whole body went
    req.on('error', (err: NodeJS.ErrnoException) => (answered || err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    req.on('close', () => setTimeout(() => answered || resolve({ status: 0, body: 'closed without an answer', ms: performance.now() - t0 }), 1000));
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let sent = 0;
    const pump = () => {
      while (sent < opts.send && !answered && !req.destroyed) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!req.destroyed) req.end();
    };
    pump();
  });
}

describe('hostile input: size limits at the edge', () => {
  let c: TestCluster;
  before(async () => {
    c = await TestCluster.start({ head: { node_timeout: '2s', max_batch_bytes: '2M' }, nodes: [{ name: 'n1', capabilities: ['shell'] }] });
  });
  after(async () => c?.stop());

  it('refuses a 50 MB batch file in the CLI before reading it, exit 2, naming the limit', async () => {
    const file = join(c.root, 'huge.yaml');
    const filler = 'x'.repeat(1000);
    const lines = ['meta: {batch_name: huge, namespace: hostile}', 'shell:', '  jobs:'];
    for (let i = 0; i < 50_000; i++) lines.push(`    - {name: j${i}, command: "echo ${filler}"}`);
    writeFileSync(file, lines.join('\n'));
    await c.user('alice');
    const t1 = performance.now();
    const r = await c.cli(['add', file]);
    const ms = performance.now() - t1;
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /huge\.yaml: 4\d\.\d MiB is over the limit of 8\.0 MiB for a batch file/);
    // beyond what starting the CLI costs: on this shared machine a margin of seconds still tells
    // a refusal (milliseconds) from a parse of 50 MB (over ten seconds and gigabytes)
    const tiny = join(c.root, 'tiny.yaml');
    writeFileSync(tiny, stringify({ meta: { batch_name: 'tiny', namespace: 'hostile' }, shell: { jobs: [{ name: 'j', command: 'true' }] } }));
    const t0 = performance.now();
    await c.cli(['validate', tiny]);
    const start = performance.now() - t0;
    assert.ok(ms < start + 3000, `the CLI took ${ms} ms, starting it ${start} ms`);
  });

  it('refuses a declared 1 GB body at once with 413 naming max_batch_bytes, reading none of it', async () => {
    const token = await c.user('alice');
    const answer = await postBody(c, token, { declared: 1024 ** 3, send: 64 * 1024 * 1024 });
    assert.equal(answer.status, 413);
    assert.match(JSON.parse(answer.body).error, /^batch document of 1\.0 GiB is over the head's limit of 2\.0 MiB \(max_batch_bytes in head\.yaml\)$/);
    assert.ok(answer.ms < 1000, `answered after ${answer.ms} ms`);
    // the head's loop never stood still (a head reading the body whole would, for seconds)
    const max = await loopDelay(c, '1');
    assert.ok(max < 0.5, `the head's loop stood still for ${max} s`);
  });

  it('refuses a chunked body as soon as it passes the limit', async () => {
    const token = await c.user('alice');
    const answer = await postBody(c, token, { send: 64 * 1024 * 1024 });
    assert.equal(answer.status, 413);
    assert.match(JSON.parse(answer.body).error, /^batch document of more than 2\.0 MiB is over the head's limit/);
  });

  it("passes the head's limit to the user of the CLI with exit 2", async () => {
    // 3 MB of YAML: under the CLI's own 8 MiB, over this head's 2 MiB
    const file = join(c.root, 'big.yaml');
    writeFileSync(file, stringify({ meta: { batch_name: 'big', namespace: 'hostile' }, shell: { jobs: Array.from({ length: 3000 }, (_, i) => ({ name: `j${i}`, command: `echo ${'y'.repeat(1000)}` })) } }));
    const r = await c.cli(['add', file]);
    assert.equal(r.code, 2, r.stderr + c.head.raw.slice(-8).join('\n'));
    assert.match(r.stderr, /over the head's limit of 2\.0 MiB \(max_batch_bytes in head\.yaml\)/);
    assert.equal(await c.statusOf('big'), null);
  });

  it('refuses a YAML alias bomb with its line and column, exit 2', async () => {
    const file = join(c.root, 'bomb.yaml');
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      levels.push(`${cur}: &${cur} [*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev}]`);
    }
    writeFileSync(file, ['meta: {batch_name: bomb, namespace: hostile}', 'x:', ...levels.map((l) => `  ${l}`), 'shell: {jobs: [{name: j, command: "true"}]}'].join('\n'));
    const r = await c.cli(['validate', file]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /bomb\.yaml:4:10: YAML: aliases expand to more than 1000 nodes/);
  });

  it('refuses a command over its length limit in validate, with file:line:col', async () => {
    const file = join(c.root, 'longcmd.yaml');
    writeFileSync(file, stringify({ meta: { batch_name: 'longcmd', namespace: 'hostile' }, shell: { jobs: [{ name: 'ok', command: 'true' }, { name: 'long', command: `echo ${'z'.repeat(300_000)}` }] } }));
    const r = await c.cli(['validate', file]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /longcmd\.yaml:\d+:\d+: shell\.jobs\[1\]\.command: 300005 characters is over the limit of 262144/);
  });

  it('refuses a command filled from parameters past its limit', async () => {
    const file = join(c.root, 'fill.yaml');
    const big = 'v'.repeat(4000);
    writeFileSync(file, stringify({ meta: { batch_name: 'fill', namespace: 'hostile' }, shell: { jobs: [{ name: 'j{i}', command: '{x}'.repeat(100), parameters: { i: [1, 2], x: [big] } }] } }));
    const r = await c.cli(['validate', file]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /shell\.jobs\[0\]\.command: the command filled with .* is over the limit of 262144 characters/);
  });

  it('lost no node, and its loop delay stayed low (from /metrics)', async () => {
    assert.equal(c.head.count('node_lost'), 0);
    const p99 = await loopDelay(c, '0.99');
    assert.ok(p99 >= 0 && p99 < 0.1, `p99 ${p99} s`);
  });
});
