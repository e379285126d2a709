// The CLI's client and the head agree on every entry of the API table: each is called as the
// CLI (or the node) calls it, through HeadClient and pathFor, against a real head, and the answer
// must pass the entry's response schema (the client checks it) with the entry's status. The
// cases are keyed by the table's names, so a new entry without a case fails here.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { queueBatch } from '../../head/queue.js';
import { putBody, putFile } from '../../shared/head-http.js';
import { ApiError } from '../../shared/protocol/api.js';
import { API, pathFor, type ApiName } from '../../shared/protocol/http-api.js';
import { HeadClient, resolveConnection } from '../../src/client.js';
import { prepareAdd, sendAdd } from '../../src/remote/add.js';
import { tempDir } from '../helpers/cli.js';
import { hello, resultArchive, shellBatch, startTestHead, TestNode, type TestHead } from './harness.js';

async function text(res: AsyncIterable<unknown>): Promise<string> {
  let out = '';
  for await (const chunk of res) out += String(chunk);
  return out;
}

describe('the client and the head agree on every entry of the API table', () => {
  let t: TestHead;
  let alice: HeadClient;
  let root: HeadClient;
  let nodeToken: string;
  let node: TestNode;
  let attempt: number;
  const tmp = tempDir('distribute-agree-');
  const input = Buffer.from('input bytes\n');
  const inputHash = createHash('sha256').update(input).digest('hex');
  const nodeGet = (path: string) => fetch(t.head.httpUrl + path, { headers: { authorization: `Bearer ${nodeToken}` } });

  before(async () => {
    t = await startTestHead();
    const client = (token: string) => new HeadClient(resolveConnection({ head: t.head.url, token }, {}, '/nonexistent'));
    alice = client(t.user('alice'));
    root = client(t.user('root', true));
    nodeToken = t.nodeToken('n');
    queueBatch(t.store, shellBatch('lab', 'b', [{ name: 'j1' }]));
    ({ node } = await TestNode.join(t.head.url, nodeToken, hello('n', { resources: { cpus: 1, memory: 0, gpus: 0 } })));
    const a = await node.next('assign');
    attempt = a.attempt;
    node.send({ type: 'started', attempt, pid: 100 });
    node.send({ type: 'finished', attempt, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
  });
  after(async () => {
    await node.close();
    await t.stop();
    tmp.cleanup();
  });

  // the result first (the others read it), rm last (it removes it)
  const cases: { [K in ApiName]: () => Promise<void> } = {
    async resultPut() {
      const answer = await putBody(t.head.httpUrl + pathFor(API.resultPut, { attempt: String(attempt) }), { authorization: `Bearer ${nodeToken}` }, { data: await resultArchive({ stdout: 'stdout of j1\n' }) });
      assert.equal(answer.status, API.resultPut.status ?? 200, answer.text);
      const taken = API.resultPut.response.parse(JSON.parse(answer.text));
      assert.equal(taken.attempt, attempt);
    },
    async whoami() {
      assert.deepEqual(await root.call(API.whoami), { name: 'root', kind: 'user', admin: true });
    },
    async add() {
      writeFileSync(join(tmp.dir, 'in.dat'), input);
      const file = join(tmp.dir, 'added.yaml');
      writeFileSync(file, 'meta: {batch_name: added, namespace: lab}\nshell:\n  jobs:\n    - name: a\n      command: "true"\n      required_files: [{path: in.dat}]\n');
      // the CLI's own steps: inputs missing, the upload, the batch
      const out = await sendAdd(alice, await prepareAdd(file), { dry: false });
      assert.equal(out.uploaded, 1);
      assert.deepEqual({ namespace: out.response.namespace, batch: out.response.batch, jobs: out.response.jobs }, { namespace: 'lab', batch: 'added', jobs: 1 });
    },
    async inputsMissing() {
      assert.deepEqual(await alice.call(API.inputsMissing, { body: { hashes: [inputHash, 'f'.repeat(64)] } }), { missing: ['f'.repeat(64)] });
    },
    async inputPut() {
      const file = join(tmp.dir, 'in.dat');
      writeFileSync(file, input);
      assert.deepEqual(await alice.upload(API.inputPut, { hash: inputHash }, file), { hash: inputHash, size: input.length });
      const answer = await putFile(t.head.httpUrl + pathFor(API.inputPut, { hash: inputHash }), { authorization: `Bearer ${t.user('alice')}` }, file);
      assert.equal(answer.status, API.inputPut.status);
      assert.deepEqual(API.inputPut.response.parse(JSON.parse(answer.text)), { hash: inputHash, size: input.length });
    },
    async inputGet() {
      const res = await nodeGet(pathFor(API.inputGet, { hash: inputHash }));
      assert.equal(res.status, 200);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), input);
    },
    async finalizeResults() {
      // the attempt is no finalize step: the head's refusal, from the route's own handler
      const res = await nodeGet(pathFor(API.finalizeResults, { attempt: String(attempt) }));
      assert.equal(res.status, 409);
      assert.match(ApiError.parse(await res.json()).error, /is not a current finalize step of node n/);
    },
    async status() {
      const batches = await alice.call(API.status, { query: { namespace: 'lab', batch: 'b' } });
      assert.deepEqual(batches.map((b) => [b.batch_name, b.state, b.counts.done]), [['b', 'done', 1]]);
    },
    async nodes() {
      assert.deepEqual((await alice.call(API.nodes)).map((n) => n.name), ['n']);
    },
    async drain() {
      assert.deepEqual(await root.call(API.drain, { params: { name: 'n' } }), { node: 'n', draining: true });
    },
    async undrain() {
      assert.deepEqual(await root.call(API.undrain, { params: { name: 'n' } }), { node: 'n', draining: false });
    },
    async kill() {
      assert.deepEqual(await alice.call(API.kill, { params: { ns: 'lab', batch: 'added' }, body: {} }), { cancelled: 1 });
    },
    async retry() {
      assert.deepEqual(await alice.call(API.retry, { params: { ns: 'lab', batch: 'b' } }), { requeued: 0 });
    },
    async resolve() {
      assert.deepEqual(await alice.call(API.resolve, { query: { batch: 'b' } }), { namespace: 'lab', batch: 'b' });
    },
    async pullPlan() {
      const plan = await alice.call(API.pullPlan, { body: { namespace: 'lab', batch: 'b' } });
      assert.ok(plan.members.some((m) => m.job === 'j1' && m.path === 'out.txt'), JSON.stringify(plan.members));
    },
    async pull() {
      const res = await alice.open(API.pull, { body: { namespace: 'lab', batch: 'b', members: ['j1/out.txt'] } });
      assert.equal(res.headers['content-type'], 'application/x-tar');
      assert.match(await text(res.setEncoding('latin1')), /j1\/out\.txt/);
    },
    async logs() {
      const res = await alice.open(API.logs, { params: { ns: 'lab', batch: 'b', job: 'j1' }, query: { stream: 'stdout' } });
      assert.equal(await text(res.setEncoding('utf8')), 'stdout of j1\n');
    },
    async usage() {
      const u = await alice.call(API.usage, { query: { since: '1h' } });
      assert.ok(u.until >= u.since);
    },
    async metrics() {
      const res = await alice.open(API.metrics);
      assert.match(await text(res.setEncoding('utf8')), /^distribute_jobs\{state="done"\} 1$/m);
    },
    async version() {
      assert.equal((await alice.call(API.version)).protocol, (await import('../../shared/protocol/common.js')).PROTOCOL_VERSION);
    },
    async allocList() {
      assert.deepEqual(await root.call(API.allocList), []);
    },
    async allocPause() {
      // no allocation queue on this head: the handler's own 404 (the route and the caller agreed)
      await assert.rejects(root.call(API.allocPause, { params: { name: 'q' } }), { message: 'no allocation queue q in head.yaml' });
    },
    async allocResume() {
      await assert.rejects(root.call(API.allocResume, { params: { name: 'q' } }), { message: 'no allocation queue q in head.yaml' });
    },
    async rm() {
      const r = await alice.call(API.rm, { params: { ns: 'lab', batch: 'b' }, body: { job: 'j1' } });
      assert.deepEqual([r.jobs, r.batch_removed], [1, false]);
    },
  };

  it('has a case for every entry', () => {
    assert.deepEqual(Object.keys(cases).sort(), Object.keys(API).sort());
  });

  for (const [name, run] of Object.entries(cases)) it(`${API[name as ApiName].method} ${API[name as ApiName].path} (${name})`, run);

  it('refuses an admin route to a user who is not one, naming what it does', async () => {
    for (const e of [API.drain, API.allocList]) await assert.rejects(alice.call(e, { params: { name: 'n' } } as never), { message: `only an admin may ${e.does}` });
  });
});
