// The head as a real process: `distribute head --config`, tokens made by `distribute token
// create` while it runs, a clean stop on SIGTERM, and nothing lost across a SIGKILL.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, spawnCli, tempDir } from '../helpers/cli.js';
import { hello, putResult, resultArchive, TestNode } from '../head/harness.js';

interface Head {
  child: ChildProcess;
  url: string;
  http: string;
  exited: Promise<number | null>;
}

/** Starts `distribute head` and waits for its `listening` log line. */
async function startHeadProcess(config: string): Promise<Head> {
  const child = spawnCli(['head', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n')) {
        try {
          const j = JSON.parse(line) as { event?: string; url?: string };
          if (j.event === 'listening' && j.url) resolve(j.url);
        } catch {
          /* a partial line */
        }
      }
    });
    void exited.then((code) => reject(new Error(`head exited with ${code} before listening: ${stderr}`)));
  });
  return { child, url, http: url.replace(/^ws/, 'http'), exited };
}

async function token(stateDir: string, ...who: string[]): Promise<string> {
  const r = await runCli(['token', 'create', '--state-dir', stateDir, ...who]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').pop()!;
}

async function whoami(h: Head, tok: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${h.http}/v1/whoami`, { headers: { authorization: `Bearer ${tok}` } });
  return { status: res.status, json: await res.json() };
}

describe('distribute head (process)', () => {
  let dir: string;
  let cleanup: () => void;
  let config: string;
  const stateDir = () => join(dir, 'state');

  before(() => {
    ({ dir, cleanup } = tempDir('distribute-headproc-'));
    config = join(dir, 'head.yaml');
    // state_dir is relative to the config file
    writeFileSync(config, 'listen: 127.0.0.1:0\nstate_dir: state\nnode_timeout: 5s\n');
  });
  after(() => cleanup());

  it('prints the bound URL, takes tokens created while it runs, and stops cleanly on SIGTERM', async () => {
    const h = await startHeadProcess(config);
    assert.match(h.url, /^ws:\/\/127\.0\.0\.1:\d+$/);
    const tok = await token(stateDir(), '--user', 'carol', '--admin');
    assert.deepEqual(await whoami(h, tok), { status: 200, json: { name: 'carol', kind: 'user', admin: true } });
    assert.equal((await whoami(h, 'x' + tok)).status, 401);
    h.child.kill('SIGTERM');
    assert.equal(await h.exited, 0);
  });

  it('says which flags token create needs', async () => {
    const r = await runCli(['token', 'create', '--state-dir', stateDir()]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /exactly one of --node NAME or --user NAME/);
  });

  it('loses nothing when killed: a running attempt survives a SIGKILL and a restart', async () => {
    const alice = await token(stateDir(), '--user', 'alice');
    const nodeTok = await token(stateDir(), '--node', 'ws1');
    let h = await startHeadProcess(config);
    const { node } = await TestNode.join(h.url, nodeTok, hello('ws1'));
    const yaml = 'meta: {batch_name: survive, namespace: lab}\nshell:\n  jobs:\n    - {name: a, command: "sleep 1"}\n    - {name: b, command: "sleep 1"}\n';
    const add = await fetch(`${h.http}/v1/batches`, { method: 'POST', headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' }, body: JSON.stringify({ yaml, file: 'survive.yaml', files: {} }) });
    assert.equal(add.status, 200, await add.text());
    const a = await node.next('assign');
    const b = await node.next('assign');
    node.send({ type: 'started', attempt: a.attempt, pid: 1 });
    node.send({ type: 'started', attempt: b.attempt, pid: 2 });
    // wait until the head has recorded both as running, then kill it without warning
    for (;;) {
      const st = (await (await fetch(`${h.http}/v1/status`, { headers: { authorization: `Bearer ${alice}` } })).json()) as { counts: { running: number } }[];
      if (st[0]?.counts.running === 2) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    h.child.kill('SIGKILL');
    await h.exited;
    await node.closed;

    h = await startHeadProcess(config);
    const back = await TestNode.join(h.url, nodeTok, hello('ws1', { running: [{ attempt: a.attempt, paused: false }], unacknowledged: [b.attempt] }));
    assert.deepEqual(back.welcome.drop, []);
    const put = await putResult(h.http, nodeTok, b.attempt, await resultArchive());
    assert.equal(put.status, 200);
    const st = (await (await fetch(`${h.http}/v1/status`, { headers: { authorization: `Bearer ${alice}` } })).json()) as { jobs: { name: string; state: string; attempt: number }[] }[];
    assert.deepEqual(st[0]!.jobs.map((j) => [j.name, j.state, j.attempt]), [['a', 'running', 1], ['b', 'done', 1]]);
    await back.node.close();
    h.child.kill('SIGTERM');
    assert.equal(await h.exited, 0);
  });
});
