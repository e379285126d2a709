import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import { parseBatch } from '../../shared/spec/parse.js';
import type { FileRef } from '../../shared/spec/types.js';
import { parseJobRecord } from '../../head/store.js';
import { hello, startTestHead, TestNode, type TestHead } from './harness.js';
import { tempDir } from '../helpers/cli.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * What a client does for `add`: hash the batch's files, upload the missing ones, post the batch
 * as the CLI does (the YAML read into a document) — or, `yamlOnly` or when the YAML is invalid
 * here, its text, as an older client or a client without a YAML parser.
 */
async function addBatch(t: TestHead, token: string, file: string, o: { dry?: boolean; skipUpload?: boolean; yamlOnly?: boolean; tamper?: (files: Record<string, { hash: string; size: number }>) => void } = {}) {
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
  const batch = parsed.ok && !o.yamlOnly ? { document: parsed.document } : { yaml: text };
  const r = await t.http('POST', '/v1/batches', token, { ...batch, file: relative(process.cwd(), file), files, dry: o.dry ?? false });
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

  /** Posts a batch document as a raw HTTP client would. */
  function postDocument(token: string, document: unknown, o: { file?: string; yaml?: string; files?: Record<string, { hash: string; size: number }> } = {}) {
    return t.http('POST', '/v1/batches', token, { document, file: o.file ?? 'raw.yaml', files: o.files ?? {}, ...(o.yaml === undefined ? {} : { yaml: o.yaml }) });
  }

  it('queues a batch sent as its YAML text alone, as older clients do', async () => {
    const f = write('text.yaml', 'meta: {batch_name: text, namespace: lab}\nshell:\n  jobs:\n    - {name: a, command: "true"}\n    - {name: b, command: "true"}\n');
    const r = await addBatch(t, alice, f, { yamlOnly: true });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.jobs, 2);
    assert.equal(count(t, `SELECT COUNT(*) FROM jobs j JOIN batches b ON b.id = j.batch_id WHERE b.name = 'text'`), 2);
  });

  it('refuses a malformed batch document with a 400 naming each bad field, and queues nothing', async () => {
    const batches = count(t, 'SELECT COUNT(*) FROM batches');
    const r = await postDocument(alice, {
      meta: { batch_name: 'evil', namespace: 'lab' },
      shell: {
        jobs: [
          { name: '../../escape', command: 'true' },
          { name: 'b', command: 'true', resources: { cpus: 0, memory: 'lots' } },
          { name: 'c', command: 'true', required_files: [{ path: 'x.dat', alias: '../x.dat' }] },
          { name: 'b', command: 'true' },
        ],
      },
    }, { file: 'evil.yaml' });
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error, /^evil\.yaml is not a valid batch \(\d+ problems\)$/);
    const problems = (r.json.problems as string[]).join('\n');
    assert.match(problems, /^evil\.yaml: shell\.jobs\[0\]\.name: job name not usable as a folder name/m);
    assert.match(problems, /^evil\.yaml: shell\.jobs\[1\]\.resources\.cpus: /m);
    assert.match(problems, /^evil\.yaml: shell\.jobs\[1\]\.resources\.memory: /m);
    assert.match(problems, /^evil\.yaml: shell\.jobs\[2\]\.required_files\[0\]\.alias: alias not usable as a file name/m);
    assert.match(problems, /^evil\.yaml: shell\.jobs\[3\]\.name: duplicate job name "b"; also used by shell\.jobs\[1\]$/m);
    assert.equal(count(t, 'SELECT COUNT(*) FROM batches'), batches);
  });

  it('refuses a document with an unsafe namespace, a wrong shape, or no batch at all, naming the field', async () => {
    const unsafe = await postDocument(alice, { meta: { batch_name: 'x', namespace: '../other' }, shell: { jobs: [{ name: 'a', command: 'true' }] } });
    assert.equal(unsafe.status, 400);
    assert.match(unsafe.json.problems.join('\n'), /^raw\.yaml: meta\.namespace: not usable as a folder name/m);
    const shape = await postDocument(alice, { meta: 5, shell: { jobs: 'all of them' } });
    assert.equal(shape.status, 400);
    assert.match(shape.json.problems.join('\n'), /^raw\.yaml: meta: /m);
    assert.match(shape.json.problems.join('\n'), /^raw\.yaml: shell\.jobs: /m);
    const list = await postDocument(alice, ['meta', 'shell']);
    assert.equal(list.status, 400);
    assert.deepEqual(list.json.problems, ['raw.yaml: a batch file is a map with meta: and one of python:, apptainer:, shell:']);
    const none = await t.http('POST', '/v1/batches', alice, { file: 'none.yaml', files: {} });
    assert.equal(none.status, 400);
    assert.match(none.json.error, /document: a batch needs its document \(or its yaml\)/);
    assert.equal(t.store.namespaceOwner('other'), undefined);
  });

  it('refuses a document whose jobs come to more than 100,000, before expanding the rest', async () => {
    const values = Array.from({ length: 60_000 }, (_, i) => i);
    const r = await postDocument(alice, {
      meta: { batch_name: 'huge', namespace: 'lab' },
      shell: { jobs: [{ name: 'a{i}', command: 'true', parameters: { i: values } }, { name: 'b{i}', command: 'true', parameters: { i: values } }, { name: 'c{i}', command: 'true', parameters: { i: values } }] },
    });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json.problems, ['raw.yaml: shell.jobs[1]: the batch comes to 120000 jobs with this entry, more than the 100000 allowed in one batch']);
    assert.equal(t.store.batchByName('lab', 'huge'), undefined);
  });

  it('uses the document, not the YAML text, when a client sends both', async () => {
    const r = await postDocument(alice, { meta: { batch_name: 'from_document', namespace: 'lab' }, shell: { jobs: [{ name: 'd', command: 'true' }] } }, {
      yaml: 'meta: {batch_name: from_text, namespace: lab}\nshell:\n  jobs:\n    - {name: t, command: "true"}\n',
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.batch, 'from_document');
    assert.equal(t.store.batchByName('lab', 'from_text'), undefined);
  });

  it('queues every job of a document in order with its own shape, across many-row INSERTs', async () => {
    // 401 jobs: two full INSERTs of 200 rows and one of a single row; two shapes interleaved
    const ids = (n: number, from: number) => Array.from({ length: n }, (_, i) => from + i);
    const r = await postDocument(alice, {
      meta: { batch_name: 'ordered', namespace: 'lab' },
      shell: {
        jobs: [
          { name: 'small{i}', command: 'echo {i}', parameters: { i: ids(250, 0) } },
          { name: 'wide{i}', command: 'echo {i}', parameters: { i: ids(150, 250) }, resources: { cpus: 2, time: '5m' } },
          { name: 'last', command: 'true' },
        ],
      },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.jobs, 401);
    const batch = t.store.batchByName('lab', 'ordered')!;
    const rows = t.store.db
      .prepare('SELECT j.name, j.spec, j.time_limit, s.cpus FROM jobs j JOIN shapes s ON s.id = j.shape_id WHERE j.batch_id = ? ORDER BY j.id')
      .all(batch.id) as { name: string; spec: string; time_limit: number | null; cpus: number }[];
    const expected = [...ids(250, 0).map((i) => `small${i}`), ...ids(150, 250).map((i) => `wide${i}`), 'last'];
    assert.deepEqual(rows.map((row) => row.name), expected);
    for (const row of rows) {
      const spec = parseJobRecord(row);
      assert.equal(spec.job.command, row.name === 'last' ? 'true' : `echo ${row.name.replace(/^\D+/, '')}`);
      assert.equal(row.cpus, spec.job.resources.cpus);
      assert.equal(row.time_limit, spec.job.resources.time);
    }
    assert.equal(rows.filter((row) => row.cpus === 2 && row.time_limit === 300).length, 150);
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
