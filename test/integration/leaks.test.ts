// What one user can learn of another's work, and small things the CLI got wrong: `nodes` names
// no job of a namespace the caller cannot see; an input is served only to a user who holds it;
// an absolute required_files path reaches the job; `status | head -1` exits quietly; a /proc
// file as a batch or an input gives a clear message; a 50 MB batch file costs the CLI little.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { NodeInfo } from '../../shared/protocol/api.js';
import { CLI } from '../helpers/cli.js';
import { TestCluster } from '../helpers/cluster.js';
import { until } from '../helpers/until.js';

describe('leaks between users, and CLI edges', () => {
  let c: TestCluster;
  let http: string;
  let secret: string;
  let secretHash: string;
  before(async () => {
    c = await TestCluster.start({ nodes: [{ name: 'ws1', capabilities: ['shell'], cpus: 4 }] });
    http = c.url.replace(/^ws/, 'http');
    // alice's batch: a job that runs until killed, and an input file only she has
    const dir = join(c.root, 'alice');
    mkdirSync(dir);
    secret = `alice's secret ${Math.random()}\n`;
    secretHash = createHash('sha256').update(secret).digest('hex');
    writeFileSync(join(dir, 'secret.txt'), secret);
    writeFileSync(
      join(dir, 'hidden.yaml'),
      stringify({ meta: { batch_name: 'topsecret-batch', namespace: 'alice-private', capabilities: ['shell'] }, shell: { jobs: [{ name: 'covert-job', command: 'sleep 120', required_files: ['secret.txt'] }] } }),
    );
    const added = await c.cli(['add', join(dir, 'hidden.yaml')]);
    assert.equal(added.code, 0, added.stderr);
    await until(async () => (await c.statusOf('topsecret-batch'))?.counts.running === 1, 'alice\'s job to run', 20_000);
  });
  after(async () => {
    await c?.cli(['kill', 'topsecret-batch']);
    await c?.stop();
  });

  it('nodes, as JSON and as a table, names no job of a namespace the caller cannot see', async () => {
    const bobJson = await c.cli(['nodes', '--json'], { user: 'bob' });
    assert.equal(bobJson.code, 0, bobJson.stderr);
    for (const name of ['alice-private', 'topsecret-batch', 'covert-job']) assert.ok(!bobJson.stdout.includes(name), `bob saw ${name}: ${bobJson.stdout}`);
    const ws1 = (JSON.parse(bobJson.stdout) as NodeInfo[]).find((n) => n.name === 'ws1')!;
    assert.deepEqual(ws1.running, []);
    assert.equal(ws1.hidden_running, 1);
    assert.equal(ws1.state, 'busy');
    const bobTable = await c.cli(['nodes'], { user: 'bob' });
    assert.ok(!/alice-private|topsecret|covert/.test(bobTable.stdout), bobTable.stdout);
    assert.match(bobTable.stdout, /^ws1\s+busy\s+\S+\s+.+\s+\d+\s+1\s+shell$/m, 'the table counts the hidden job');
    // the owner and an admin see the names
    await c.user('root', true);
    for (const user of ['alice', 'root']) {
      const nodes = await c.json<NodeInfo[]>(['nodes'], { user });
      assert.deepEqual(nodes.find((n) => n.name === 'ws1')!.running.map((r) => `${r.namespace}/${r.batch}/${r.job}`), ['alice-private/topsecret-batch/covert-job']);
    }
  });

  it('serves an input only to a user who holds it; naming it in a batch is no way round', async () => {
    const get = async (user: string) => fetch(`${http}/v1/inputs/${secretHash}`, { headers: { authorization: `Bearer ${await c.user(user)}` } });
    const alice = await get('alice');
    assert.equal(alice.status, 200);
    assert.equal(await alice.text(), secret);
    const bob = await get('bob');
    assert.equal(bob.status, 404);
    assert.doesNotMatch(await bob.text(), /secret/);
    // bob names alice's hash in a batch of his own without having the bytes: refused
    const bobToken = await c.user('bob');
    const headers = { authorization: `Bearer ${bobToken}`, 'content-type': 'application/json' };
    const missing = await (await fetch(`${http}/v1/inputs/missing`, { method: 'POST', headers, body: JSON.stringify({ hashes: [secretHash] }) })).json();
    assert.deepEqual(missing, { missing: [secretHash] });
    const document = { meta: { batch_name: 'steal', namespace: 'bob-ns', capabilities: ['shell'] }, shell: { jobs: [{ name: 'j', command: 'cat input/loot', required_files: [{ path: 'loot.txt', alias: 'loot' }] }] } };
    const add = await fetch(`${http}/v1/batches`, { method: 'POST', headers, body: JSON.stringify({ document, file: 'steal.yaml', files: { 'loot.txt': { hash: secretHash, size: secret.length } } }) });
    assert.equal(add.status, 400);
    assert.match(await add.text(), /loot\.txt \(sha256 [0-9a-f]{64}\) is not on the head; upload it first/);
    // once he uploads the same bytes, he has shown he holds them
    const put = await fetch(`${http}/v1/inputs/${secretHash}`, { method: 'PUT', headers: { authorization: `Bearer ${bobToken}` }, body: secret });
    assert.equal(put.status, 201);
    assert.equal((await get('bob')).status, 200);
  });

  it('an absolute required_files path works end to end: validate, add, and the job reads it', async () => {
    const elsewhere = join(c.root, 'elsewhere');
    mkdirSync(elsewhere);
    const abs = join(elsewhere, 'params.json');
    writeFileSync(abs, '{"re": 100}\n');
    const dir = join(c.root, 'abs', 'deeper');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'abs.yaml');
    writeFileSync(file, stringify({ meta: { batch_name: 'absolute', namespace: 'carol-ns', capabilities: ['shell'] }, shell: { jobs: [{ name: 'reads', command: 'cp input/params.json "$DISTRIBUTE_SAVE/got.json"', required_files: [abs] }] } }));
    // named relative to where the user stands, as people do: the head's own folder differs
    assert.equal((await c.cli(['validate', 'abs.yaml'], { user: 'carol', cwd: dir })).code, 0);
    const added = await c.cli(['add', 'abs.yaml'], { user: 'carol', cwd: dir });
    assert.equal(added.code, 0, added.stderr);
    await until(async () => (await c.statusOf('absolute', 'carol'))?.counts.done === 1, 'the job to end done', 30_000);
    const saveDir = join(c.root, 'carol-results');
    const pulled = await c.cli(['pull', file, '--save-dir', saveDir], { user: 'carol' });
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(readFileSync(join(saveDir, 'absolute', 'reads', 'got.json'), 'utf8'), '{"re": 100}\n');
  });

  it('status | head -1 exits quietly, also when its reader is gone before it writes', async () => {
    const env = { ...process.env, ...c.env(await c.user('alice')) };
    // `true` exits at once, so the CLI's first write meets a closed pipe: EPIPE for sure
    for (const reader of ['true', 'head -1']) {
      const err = join(c.root, 'status-stderr');
      const rc = await new Promise<number | null>((resolve) => {
        spawn('sh', ['-c', `"$NODE" "$CLI" status 2>"$ERR" | ${reader} >/dev/null`], { env: { ...env, NODE: process.execPath, CLI, ERR: err } }).on('close', resolve);
      });
      assert.equal(rc, 0);
      assert.equal(readFileSync(err, 'utf8'), '', `distribute status | ${reader} wrote to stderr`);
    }
  });

  it('a /proc file as a batch file or as an input gives a clear message', async () => {
    for (const proc of ['/proc/self/status', '/proc/self/mem', '/proc/self']) {
      const r = await c.cli(['validate', proc]);
      assert.equal(r.code, 2, `${proc}: ${r.stderr}`);
      assert.ok(r.stderr.includes(proc), `${proc}: the message does not name the file: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /^error: \s*$/m);
    }
    const file = join(c.root, 'proc-input.yaml');
    writeFileSync(file, stringify({ meta: { batch_name: 'proc', namespace: 'dave-ns', capabilities: ['shell'] }, shell: { jobs: [{ name: 'j', command: 'true', required_files: [{ path: '/proc/self/status', alias: 'status' }] }] } }));
    const added = await c.cli(['add', file], { user: 'dave' });
    assert.equal(added.code, 2, added.stderr);
    assert.match(added.stderr, /proc-input\.yaml:\d+:\d+: shell\.jobs\[0\]\.required_files\[0\]\.path: \/proc\/self\/status is not a regular file/);
  });

  it("the CLI's memory stays small for a 50 MB batch file", async () => {
    const file = join(c.root, 'huge.yaml');
    const fd = openSync(file, 'w');
    writeSync(fd, 'meta: {batch_name: huge, namespace: n}\nshell:\n  jobs:\n');
    const line = Buffer.from('    - {name: j, command: "echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}\n');
    for (let written = 0; written < 50 * 1024 * 1024; written += line.length * 1024) writeSync(fd, Buffer.concat(Array(1024).fill(line)));
    closeSync(fd);
    for (const cmd of [['validate', file], ['add', file]]) {
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        // GNU time's %M: the CLI's peak resident set, in KiB
        const p = spawn('/usr/bin/time', ['-f', 'maxrss_kib=%M', process.execPath, CLI, ...cmd], { env: { ...process.env, ...c.env(null) } });
        let stderr = '';
        p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        p.on('close', (code) => resolve({ code, stderr }));
      });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /over the limit of 8\.0 MiB for a batch file/);
      const kib = Number(/maxrss_kib=(\d+)/.exec(r.stderr)![1]);
      assert.ok(kib < 150 * 1024, `distribute ${cmd[0]} of a 50 MB file peaked at ${kib} KiB`);
    }
  });
});
