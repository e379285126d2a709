// The client's strictness, through the real CLI: a small HTTP server in the test plays a
// hostile head, answering the plan and then `POST /v1/pull` with a crafted tar (the real
// head refuses such members at upload, so only a compromised or fake head could send them).
// Whatever it sends, nothing is written outside the save folder and the pull fails with a
// clear error.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as tar from 'tar';
import { runCli, tempDir } from '../helpers/cli.js';

interface Crafted {
  path: string;
  type: 'File' | 'SymbolicLink';
  data?: string;
  linkpath?: string;
}

function rawTar(entries: Crafted[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    const header = new tar.Header({ path: e.path, type: e.type, size: data.length, linkpath: e.linkpath ?? '', mode: 0o644, mtime: new Date(1_700_000_000_000) });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

describe('pull from a hostile head', () => {
  const tmp = tempDir('distribute-hostile-');
  let server: Server;
  let url = '';
  /** what the fake head answers next */
  let plan: unknown = null;
  let body: Buffer = Buffer.alloc(0);
  const requests: string[] = [];

  before(async () => {
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      req.resume();
      req.on('end', () => {
        if (req.url === '/v1/pull/plan') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(plan));
        } else if (req.url === '/v1/pull') {
          res.writeHead(200, { 'content-type': 'application/x-tar' });
          res.end(body);
        } else {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: `no route ${req.url}` }));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    tmp.cleanup();
  });

  function planOf(entries: Crafted[]) {
    const members = entries.map((e) => {
      const slash = e.path.indexOf('/');
      return { job: 'job1', path: slash > 0 ? e.path.slice(slash + 1) : e.path, size: (e.data ?? '').length, mtime: 1_700_000_000_000 };
    });
    return { namespace: 'lab', batch: 'evil', members, bytes: 0, jobs: { total: 1, finished: 1, unfinished: 0, selected: 1 } };
  }

  const cases: [string, Crafted[], RegExp][] = [
    ['a ../ member', [{ path: 'job1/ok.txt', type: 'File', data: 'fine' }, { path: '../../escaped.txt', type: 'File', data: 'pwned' }], /refused member "\.\.\/\.\.\/escaped\.txt" of the pull: path leaves the folder/],
    ['an absolute path', [{ path: 'job1/ok.txt', type: 'File', data: 'fine' }, { path: 'ABSOLUTE', type: 'File', data: 'pwned' }], /refused member "\/.*abs\.txt" of the pull: absolute path/],
    ['a symlink pointing out, then a file through it', [
      { path: 'job1/ok.txt', type: 'File', data: 'fine' },
      { path: 'job1/out', type: 'SymbolicLink', linkpath: '../../..' },
      { path: 'job1/out/escaped.txt', type: 'File', data: 'pwned' },
    ], /refused member "job1\/out" of the pull: symbolic link to \.\.\/\.\.\/\.\. leaves the folder/],
    ['a symlink inside, then a file through it', [
      { path: 'job1/ok.txt', type: 'File', data: 'fine' },
      { path: 'job1/in', type: 'SymbolicLink', linkpath: '.' },
      { path: 'job1/in/escaped.txt', type: 'File', data: 'pwned' },
    ], /refused member "job1\/in\/escaped\.txt" of the pull: its folder job1\/in is a symbolic link/],
  ];

  for (const [name, crafted, expected] of cases) {
    it(`refuses ${name}: exit 1, a clear error, nothing outside the save folder`, async () => {
      const root = join(tmp.dir, name.replace(/\W+/g, '-'));
      const save = join(root, 'save');
      mkdirSync(save, { recursive: true });
      const abs = join(root, 'abs.txt');
      const entries = crafted.map((e) => (e.path === 'ABSOLUTE' ? { ...e, path: abs } : e));
      plan = planOf(entries.filter((e) => e.path.startsWith('job1/')));
      body = rawTar(entries);
      const r = await runCli(['pull', '--namespace', 'lab', '--batch', 'evil', '--save-dir', save, '--head', url, '--token', 'whatever'], { env: { XDG_CONFIG_HOME: join(root, 'cfg') } });
      assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, expected);
      assert.match(r.stderr, /the pull stopped and nothing was written outside .*\/save\/evil/);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line, no stack: ${r.stderr}`);
      assert.deepEqual(readdirSync(root).sort(), ['save']);
      assert.equal(existsSync(abs), false);
      assert.equal(readFileSync(join(save, 'evil', 'job1', 'ok.txt'), 'utf8'), 'fine');
      for (const where of [join(save, 'evil', 'job1'), join(save, 'evil'), save]) {
        assert.equal(existsSync(join(where, 'escaped.txt')), false);
      }
      rmSync(root, { recursive: true, force: true });
    });
  }

  it('refuses a plan that names a member outside the folder before downloading anything', async () => {
    const save = join(tmp.dir, 'plan', 'save');
    plan = { ...planOf([]), members: [{ job: 'job1', path: '../../x', size: 1, mtime: null }] };
    requests.length = 0;
    const r = await runCli(['pull', '--namespace', 'lab', '--batch', 'evil', '--save-dir', save, '--head', url, '--token', 't'], { env: { XDG_CONFIG_HOME: join(tmp.dir, 'cfg') } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /the head's plan names member "job1\/\.\.\/\.\.\/x": path leaves the folder; nothing was pulled/);
    assert.deepEqual(requests, ['POST /v1/pull/plan']);
  });
});
