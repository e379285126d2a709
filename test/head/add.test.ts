import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import { parseBatch } from '../../shared/spec/parse.js';
import type { FileRef } from '../../shared/spec/types.js';
import { hello, startTestHead, TestNode, type TestHead } from './harness.js';
import { tempDir } from '../helpers/cli.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** What a client does for `add`: hash the batch's files, upload the missing ones, post the YAML. */
async function addBatch(t: TestHead, token: string, file: string, o: { dry?: boolean; skipUpload?: boolean; tamper?: (files: Record<string, { hash: string; size: number }>) => void } = {}) {
  const text = readFileSync(file, 'utf8');
  const parsed = parseBatch(text, { file, checkFiles: true });
  const files: Record<string, { hash: string; size: number }> = {};
  const bytes = new Map<string, Buffer>();
  if (parsed.ok) {
    const b = parsed.batch;
    const refs: FileRef[] = [...b.jobs.flatMap((j) => [...(j.file ? [j.file] : []), ...j.requiredFiles]), ...b.initialize.requiredFiles];
    if (b.initialize.kind === 'python' && b.initialize.buildFile) refs.push(b.initialize.buildFile);
    if (b.initialize.kind === 'apptainer') refs.push(b.initialize.sif);
    for (const ref of refs) {
      const key = relative(b.source.dir, ref.path).split(sep).join(posix.sep);
      if (files[key]) continue;
      const data = readFileSync(ref.path);
      files[key] = { hash: sha(data), size: data.length };
      bytes.set(files[key].hash, data);
    }
  }
  let uploads = 0;
  if (!o.skipUpload && bytes.size) {
    const missing = await t.http('POST', '/v1/inputs/missing', token, { hashes: Object.values(files).map((f) => f.hash) });
    assert.equal(missing.status, 200);
    for (const h of missing.json.missing as string[]) {
      const put = await t.http('PUT', `/v1/inputs/${h}`, token, bytes.get(h)!);
      assert.equal(put.status, 201, put.text);
      uploads++;
    }
  }
  o.tamper?.(files);
  const r = await t.http('POST', '/v1/batches', token, { yaml: text, file: relative(process.cwd(), file), files, dry: o.dry ?? false });
  return { ...r, uploads };
}

function count(t: TestHead, sql: string): number {
  return t.store.db.prepare(sql).pluck().get() as number;
}

describe('head: add', () => {
  let t: TestHead;
  let dir: string;
  let cleanup: () => void;
  let alice: string;
  let bob: string;
  let admin: string;
  let node: TestNode;
  let nodeToken: string;

  before(async () => {
    ({ dir, cleanup } = tempDir('distribute-add-'));
    t = await startTestHead();
    alice = t.user('alice');
    bob = t.user('bob');
    admin = t.user('root', true);
    nodeToken = t.nodeToken('ws1');
  });
  after(async () => {
    await node?.close();
    await t.stop();
    cleanup();
  });

  function write(name: string, text: string): string {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  }

  it('refuses every batch while no compute node has joined, naming why', async () => {
    const f = write('early.yaml', 'meta: {batch_name: early, namespace: lab}\nshell:\n  jobs:\n    - {name: a, command: "true"}\n');
    const r = await addBatch(t, alice, f);
    assert.equal(r.status, 400);
    assert.match(r.json.error, /no compute node has joined/);
    assert.equal(count(t, 'SELECT COUNT(*) FROM jobs'), 0);
    assert.equal(count(t, 'SELECT COUNT(*) FROM namespaces'), 0, 'a refused add claims nothing');
    ({ node } = await TestNode.join(t.head.url, nodeToken, hello('ws1', { capabilities: ['python3'], resources: { cpus: 2, memory: 0, gpus: 0 } })));
  });

  it('refuses an invalid batch with compiler-style problems, and queues nothing', async () => {
    const f = write('bad.yaml', 'meta:\n  batch_name: bad\n  namespace: lab\nshell:\n  jobs:\n    - name: a\n      command: "true"\n      resources: {cpus: lots, memory: plenty}\n');
    const r = await addBatch(t, alice, f);
    assert.equal(r.status, 400);
    assert.ok(r.json.problems.length >= 2, JSON.stringify(r.json));
    for (const p of r.json.problems as string[]) assert.match(p, /bad\.yaml:\d+:\d+: shell\.jobs\[0\]\.\w+/);
    assert.equal(count(t, 'SELECT COUNT(*) FROM batches'), 0);
  });

  it('refuses a batch no known node can run, naming the missing capability per node', async () => {
    const f = write('cuda.yaml', 'meta: {batch_name: gpu, namespace: lab, capabilities: [python3, cuda]}\nshell:\n  jobs:\n    - {name: a, command: "true"}\n');
    const r = await addBatch(t, alice, f);
    assert.equal(r.status, 400);
    assert.match(r.json.error, /needs python3, cuda; node ws1 lacks cuda/);
    assert.equal(count(t, 'SELECT COUNT(*) FROM batches'), 0);
  });

  it('validates a dry add without queueing', async () => {
    const f = write('dry.yaml', 'meta: {batch_name: dry, namespace: lab, capabilities: [python3]}\nshell:\n  jobs:\n    - {name: a, command: "true"}\n');
    const r = await addBatch(t, alice, f, { dry: true });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { namespace: 'lab', batch: 'dry', jobs: 1, feasibleNodes: ['ws1'], knownNodes: 1, dry: true });
    assert.equal(count(t, 'SELECT COUNT(*) FROM batches'), 0);
  });

  it('queues a batch, assigns its jobs with their files by hash, and stores an input shared by 200 jobs once', async () => {
    const big = randomBytes(1024 * 1024);
    writeFileSync(join(dir, 'big.dat'), big);
    writeFileSync(join(dir, 'run.py'), 'print("hi")\n');
    const ids = Array.from({ length: 200 }, (_, i) => i + 1).join(', ');
    const f = write('py.yaml', `meta: {batch_name: sweep, namespace: lab, capabilities: [python3]}\npython:\n  jobs:\n    - name: "case_{i}"\n      parameters: {i: [${ids}]}\n      file: run.py\n      required_files: [{path: big.dat, alias: mesh.dat}]\n`);
    const r = await addBatch(t, alice, f);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.jobs, 200);
    assert.equal(r.uploads, 2, 'big.dat and run.py, each once');
    assert.equal(count(t, 'SELECT COUNT(*) FROM jobs'), 200);
    // one copy on disk, under inputs/<hash[0..2]>/<hash>
    const h = sha(big);
    assert.deepEqual(readdirSync(join(t.stateDir, 'inputs', h.slice(0, 2))), [h]);
    assert.equal(count(t, 'SELECT COUNT(*) FROM inputs'), 2);
    // the node (2 cpus) gets two jobs, each naming the file by hash
    const a1 = await node.next('assign');
    const a2 = await node.next('assign');
    assert.deepEqual([a1.job.name, a2.job.name], ['case_1', 'case_2']);
    assert.deepEqual(a1.job.requiredFiles, [{ alias: 'mesh.dat', hash: h, size: big.length }]);
    assert.equal(a1.job.file!.hash, sha(Buffer.from('print("hi")\n')));
    assert.equal(a1.kind, 'python');
    // the node fetches it by hash
    const got = await fetch(`${t.head.httpUrl}/v1/inputs/${h}`, { headers: { authorization: `Bearer ${nodeToken}` } });
    assert.equal(got.status, 200);
    assert.equal(sha(Buffer.from(await got.arrayBuffer())), h);
    // a second batch naming the same file uploads nothing
    const f2 = write('py2.yaml', readFileSync(f, 'utf8').replace('sweep', 'sweep2'));
    const r2 = await addBatch(t, alice, f2);
    assert.equal(r2.status, 200);
    assert.equal(r2.uploads, 0);
  });

  it('refuses a second batch of the same name in the namespace (409)', async () => {
    const f = write('dup.yaml', readFileSync(join(dir, 'py.yaml'), 'utf8'));
    const r = await addBatch(t, alice, f);
    assert.equal(r.status, 409);
    assert.match(r.json.error, /batch sweep already exists in namespace lab/);
  });

  it('refuses another user\'s namespace, naming its owner; an admin may add there', async () => {
    const f = write('bob.yaml', 'meta: {batch_name: mine, namespace: lab}\nshell:\n  jobs:\n    - {name: a, command: "true"}\n');
    const r = await addBatch(t, bob, f);
    assert.equal(r.status, 403);
    assert.equal(r.json.error, 'namespace lab belongs to alice');
    assert.equal((await addBatch(t, admin, f)).status, 200);
    const st = await t.http('GET', '/v1/status', bob);
    assert.deepEqual(st.json, [], 'bob sees nothing of lab');
    const all = await t.http('GET', '/v1/status?namespace=lab', admin);
    assert.deepEqual(all.json.map((b: { batch_name: string }) => b.batch_name), ['sweep', 'sweep2', 'mine']);
  });

  it('refuses a batch whose files were not uploaded or do not match', async () => {
    writeFileSync(join(dir, 'p.json'), '{"re": 100}');
    const f = write('files.yaml', 'meta: {batch_name: files, namespace: lab}\nshell:\n  jobs:\n    - {name: a, command: "true", required_files: [p.json]}\n');
    const notUp = await addBatch(t, alice, f, { skipUpload: true });
    assert.equal(notUp.status, 400);
    assert.match(notUp.json.problems[0], /p\.json \(sha256 [0-9a-f]{64}\) is not on the head/);
    const forgotten = await addBatch(t, alice, f, { tamper: (files) => delete files['p.json'] });
    assert.equal(forgotten.status, 400);
    assert.match(forgotten.json.problems[0], /p\.json was not uploaded/);
    assert.equal(t.store.batchByName('lab', 'files'), undefined);
  });

  it('refuses an upload whose bytes do not match its hash', async () => {
    const data = Buffer.from('some bytes');
    const wrong = sha(Buffer.from('other bytes'));
    const r = await t.http('PUT', `/v1/inputs/${wrong}`, alice, data);
    assert.equal(r.status, 400);
    assert.match(r.json.error, new RegExp(`hash to ${sha(data)}, not ${wrong}`));
    assert.equal(t.store.input(wrong), undefined);
    assert.deepEqual(readdirSync(join(t.stateDir, 'inputs', '.tmp')), []);
  });
});
