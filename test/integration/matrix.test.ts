// Matrix notifications end to end: the real head (`distribute head`, head.yaml with `matrix:`)
// and a real compute daemon as child processes, batches added with the real CLI, and the
// test homeserver (test/helpers/homeserver.ts) receiving what matrix-js-sdk sends from inside
// the head.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { stringify } from 'yaml';
import { Daemon, TestCluster } from '../helpers/cluster.js';
import { spawnCli } from '../helpers/cli.js';
import { TestHomeserver, type DeliveredEvent } from '../helpers/homeserver.js';

const BOT = '@bot:test';
const YOU = '@you:test';

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function batchYaml(dir: string, name: string, jobs: [string, string][], meta: Record<string, unknown> = {}): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      meta: { batch_name: name, namespace: 'study', capabilities: ['shell'], matrix: YOU, ...meta },
      shell: { jobs: jobs.map(([n, command]) => ({ name: n, command })) },
    }),
  );
  return file;
}

/** The events a batch's message produced (its body names the batch). */
function messagesAbout(hs: TestHomeserver, batch: string): DeliveredEvent[] {
  return hs.events.filter((e) => String(e.content.body).startsWith(`Batch ${batch} `));
}

function outboxRows(stateDir: string): { id: number; kind: string; state: string; attempts: number; event_id: string | null; body: string }[] {
  const db = new Database(join(stateDir, 'distribute.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT id, kind, state, attempts, event_id, body FROM notify_outbox ORDER BY id').all() as never;
  } finally {
    db.close();
  }
}

/** SIGKILLs the cluster's head and starts a new one on the same port and state dir. */
async function restartHead(c: TestCluster, matrix: Record<string, unknown>): Promise<void> {
  c.head.kill();
  await new Promise<void>((r) => (c.head.child.exitCode !== null || c.head.child.signalCode !== null ? r() : c.head.child.once('exit', () => r())));
  const port = new URL(c.url).port;
  const file = join(c.root, 'head-again.yaml');
  writeFileSync(file, stringify({ listen: `127.0.0.1:${port}`, state_dir: c.stateDir, matrix }));
  c.head = new Daemon('head', spawnCli(['head', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { XDG_CONFIG_HOME: c.configHome } }));
  await c.head.event('listening');
}

describe('matrix notifications with the real head and compute daemon', () => {
  let hs: TestHomeserver;
  let c: TestCluster;
  let matrix: Record<string, unknown>;

  before(async () => {
    hs = new TestHomeserver({ users: { [BOT]: 'secret' } });
    await hs.start();
    matrix = { homeserver_url: hs.url, user_id: BOT, password: 'secret', device_name: 'distribute head' };
    c = await TestCluster.start({ head: { matrix }, nodes: [{ name: 'ws1', capabilities: ['shell'], cpus: 2 }] });
  });
  after(async () => {
    await c?.stop();
    await hs?.close();
  });

  it('checks the account at start and logs it', async () => {
    const line = await c.head.event('matrix_check');
    assert.equal(line.ok, true);
    assert.match(String(line.msg), /^matrix: ok, signed in as @bot:test \(device DEV\d+, password\) on http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('sends the exact end message to a new direct room when the batch ends', async () => {
    const file = batchYaml(c.root, 'sweep', [
      ['ok1', 'true'],
      ['bad', 'echo oops >&2; exit 3'],
      ['ok2', 'true'],
    ]);
    const t0 = Date.now();
    const r = await c.cli(['add', 'sweep.yaml'], { cwd: c.root });
    assert.equal(r.code, 0, r.stderr);
    const [event] = await until('the message', () => (messagesAbout(hs, 'sweep').length ? messagesAbout(hs, 'sweep') : false));
    const wall = /^Batch sweep \(namespace study\) ended after (\d+ms|\d+s): /.exec(String(event!.content.body));
    assert.ok(wall, String(event!.content.body));
    const elapsed = wall[1]!.endsWith('ms') ? Number(wall[1]!.slice(0, -2)) : Number(wall[1]!.slice(0, -1)) * 1000;
    assert.ok(elapsed <= Date.now() - t0 + 1000, `wall time ${wall[1]} within the test's ${Date.now() - t0} ms`);
    assert.equal(
      event!.content.body,
      [
        `Batch sweep (namespace study) ended after ${wall[1]}: 2 done, 1 failed, 0 cancelled.`,
        'Failures:',
        '- bad: exit code 3',
        'Fetch the results: distribute pull sweep.yaml',
      ].join('\n'),
    );
    assert.equal(event!.content.msgtype, 'm.text');
    assert.equal(event!.content.format, 'org.matrix.custom.html');
    assert.equal(
      event!.content.formatted_body,
      `<p>Batch <b>sweep</b> (namespace <b>study</b>) ended after ${wall[1]}: 2 done, 1 failed, 0 cancelled.</p><p>Failures:</p>` +
        '<ul><li><code>bad</code>: exit code 3</li></ul><p>Fetch the results: <code>distribute pull sweep.yaml</code></p>',
    );
    const room = hs.rooms.get(event!.room_id)!;
    assert.equal(room.is_direct, true);
    assert.deepEqual(room.invite, [YOU]);
    assert.equal(event!.sender, BOT);
    assert.deepEqual(hs.accountData.get(BOT)!.get('m.direct'), { [YOU]: [event!.room_id] });

    // the status the user would poll agrees
    const [status] = await c.json<{ counts: Record<string, number> }[]>(['status', 'sweep']);
    assert.deepEqual([status!.counts.done, status!.counts.failed], [2, 1]);
  });

  it('tells a batch whose build failed on every node, with the end of the build log', async () => {
    const file = join(c.root, 'broken.yaml');
    writeFileSync(
      file,
      stringify({
        meta: { batch_name: 'broken', namespace: 'study', capabilities: ['shell'], matrix: YOU },
        shell: { initialize: { command: 'echo compiling; echo "error: solver.f90 not found" >&2; exit 2' }, jobs: [{ name: 'a', command: 'true' }, { name: 'b', command: 'true' }] },
      }),
    );
    assert.equal((await c.cli(['add', 'broken.yaml'], { cwd: c.root })).code, 0);
    const [event] = await until('the message', () => (messagesAbout(hs, 'broken').length ? messagesAbout(hs, 'broken') : false));
    const body = String(event!.content.body);
    assert.equal(body, `Batch broken (namespace study) failed after ${/after (\S+):/.exec(body)![1]}: its build failed on every capable node.\n- ws1: exit code 2; error: solver.f90 not found\n0 done, 2 failed, 0 cancelled.`);
  });

  it('honours 429: the second attempt comes after retry_after_ms, in the same room, once', async () => {
    const rooms = hs.requests.filter((r) => r.path.endsWith('/createRoom')).length;
    hs.inject({ method: 'PUT', path: /\/send\/m\.room\.message\// }, { kind: 'rate_limit', retryAfterMs: 3000 }, 1);
    const mark = hs.requests.length;
    batchYaml(c.root, 'limited', [['one', 'true']]);
    assert.equal((await c.cli(['add', 'limited.yaml'], { cwd: c.root })).code, 0);
    await until('the message', () => messagesAbout(hs, 'limited').length === 1);
    const sends = hs.requests.slice(mark).filter((r) => /\/send\/m\.room\.message\//.test(r.path));
    assert.deepEqual(sends.map((s) => s.status), [429, 200]);
    assert.equal(sends[0]!.path, sends[1]!.path, 'the same transaction id');
    const gap = sends[1]!.at - sends[0]!.at;
    // the head's own backoff would have retried after 2 s
    assert.ok(gap >= 3000 && gap < 4500, `retried ${gap} ms after the 429`);
    const line = await c.head.event('notification_retry', (l) => l.rate_limited === true);
    assert.equal(line.retry_in_ms, 3000);
    assert.equal(hs.requests.filter((r) => r.path.endsWith('/createRoom')).length, rooms, 'the direct room is remembered');
  });

  it('a head killed while the homeserver fails delivers the pending message after restart, once', async () => {
    hs.inject({ method: 'PUT', path: /\/send\/m\.room\.message\// }, { kind: 'fail', status: 503, errcode: 'M_UNKNOWN', error: 'down for maintenance' });
    batchYaml(c.root, 'failing', [['one', 'true']]);
    assert.equal((await c.cli(['add', 'failing.yaml'], { cwd: c.root })).code, 0);
    await c.head.event('notification_retry', (l) => /down for maintenance/.test(String(l.error)));
    assert.deepEqual(outboxRows(c.stateDir).filter((r) => r.body.startsWith('Batch failing ')).map((r) => r.state), ['pending']);
    hs.heal();
    await restartHead(c, matrix);
    await until('the message', () => messagesAbout(hs, 'failing').length === 1);
    await c.head.event('notification_sent');
    assert.equal(messagesAbout(hs, 'failing').length, 1);
  });

  it('a head killed after the homeserver stored the message but before it answered sends it once', async () => {
    hs.inject({ method: 'PUT', path: /\/send\/m\.room\.message\// }, { kind: 'commit_then_stall' }, 1);
    batchYaml(c.root, 'stalled', [['one', 'true']]);
    assert.equal((await c.cli(['add', 'stalled.yaml'], { cwd: c.root })).code, 0);
    await until('the homeserver to store it', () => messagesAbout(hs, 'stalled').length === 1);
    const [row] = outboxRows(c.stateDir).filter((r) => r.body.startsWith('Batch stalled '));
    assert.equal(row!.state, 'pending', 'the answer never came');
    await restartHead(c, matrix);
    await c.head.event('notification_sent');
    const sends = hs.sends().filter((r) => r.path.endsWith(`.${row!.id}`));
    assert.equal(sends.length, 2, 'sent again after the restart');
    assert.equal(sends[0]!.path, sends[1]!.path, 'with the same transaction id');
    assert.equal(sends[0]!.token, sends[1]!.token, 'and the same access token (the head kept its login)');
    assert.equal(messagesAbout(hs, 'stalled').length, 1, 'the homeserver stored it once');
    const after = outboxRows(c.stateDir).find((r) => r.id === row!.id)!;
    assert.equal(after.state, 'sent');
    assert.equal(after.event_id, messagesAbout(hs, 'stalled')[0]!.event_id);
    assert.equal(hs.requests.filter((r) => r.path === '/_matrix/client/v3/login').length, 1, 'one login for all these restarts');
  });
});

describe('a homeserver that is down does not slow job dispatch', () => {
  const JOBS = 50;
  const node = { name: 'ws1', capabilities: ['shell'], cpus: 2 };

  /** Adds a batch of JOBS quick jobs (every tenth fails) and times it from add to the last result archived. */
  async function timeBatch(c: TestCluster, name: string, meta: Record<string, unknown>): Promise<number> {
    const jobs = Array.from({ length: JOBS }, (_, i) => [`j${i}`, i % 10 === 3 ? 'exit 1' : 'true'] as [string, string]);
    batchYaml(c.root, name, jobs, meta);
    const before = c.head.count('result_archived');
    const t0 = Date.now();
    const r = await c.cli(['add', `${name}.yaml`], { cwd: c.root });
    assert.equal(r.code, 0, r.stderr);
    await c.head.events('result_archived', before + JOBS, () => true, 120_000);
    return Date.now() - t0;
  }

  it(`finishes ${JOBS} jobs about as fast with Matrix down as without Matrix`, async (t) => {
    const down = new TestHomeserver();
    const url = await down.start();
    await down.close(); // nothing listens there now
    const plain = await TestCluster.start({ nodes: [node] });
    const withDown = await TestCluster.start({ head: { matrix: { homeserver_url: url, user_id: BOT, password: 'x' } }, nodes: [node] });
    try {
      const check = await withDown.head.event('matrix_check');
      assert.equal(check.ok, false);
      assert.match(String(check.msg), /cannot reach the homeserver .*ECONNREFUSED/);
      // alternate the two heads, and compare each one's best run: the machine is shared
      const times = { plain: [] as number[], down: [] as number[] };
      for (const round of [1, 2]) {
        times.plain.push(await timeBatch(plain, `many${round}`, { matrix: null }));
        times.down.push(await timeBatch(withDown, `many${round}`, { notify: ['end', 'first_failure'] }));
      }
      const rows = outboxRows(withDown.stateDir);
      assert.deepEqual(rows.map((r) => [r.kind, r.state]), [['first_failure', 'pending'], ['end', 'pending'], ['first_failure', 'pending'], ['end', 'pending']]);
      assert.ok(withDown.head.count('notification_retry') >= 1);
      const best = { plain: Math.min(...times.plain), down: Math.min(...times.down) };
      t.diagnostic(`${JOBS} jobs, add to last result: without Matrix ${times.plain.join(', ')} ms; homeserver down ${times.down.join(', ')} ms`);
      assert.ok(best.down < 1.5 * best.plain + 1000, `${best.down} ms with Matrix down vs ${best.plain} ms without`);
    } finally {
      await plain.stop();
      await withDown.stop();
    }
  });
});
