// `distribute doctor` against a real head: a healthy setup passes; a wrong token, an
// unreachable head, a token of the wrong kind each fail with what to fix, exit 1.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TestCluster } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';
import { closedPort } from '../helpers/net.js';

interface Checks {
  ok: boolean;
  checks: { name: string; status: string; detail: string; fix: string | null }[];
}

function statuses(r: Checks): Record<string, string> {
  return Object.fromEntries(r.checks.map((c) => [c.name, c.status]));
}

describe('distribute doctor', () => {
  let c: TestCluster;
  before(async () => (c = await TestCluster.start()));
  after(async () => c?.stop());

  const doctor = async (args: string[], env: NodeJS.ProcessEnv) => {
    const r = await runCli(['doctor', ...args], { env });
    return { ...r, parsed: args.includes('--json') ? (JSON.parse(r.stdout) as Checks) : null };
  };

  it('passes a laptop whose head and token work, one line per check', async () => {
    const r = await doctor([], c.env(await c.user('alice')));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines.map((l) => l.split(/\s+/).slice(0, 2).join(' ')), ['ok head', 'ok tls', 'ok token', 'ok protocol', 'ok clock']);
    assert.match(r.stdout, /accepted: user alice/);
  });

  it('catches a wrong token and says how to make one', async () => {
    const r = await doctor(['--json'], c.env('0'.repeat(64)));
    assert.equal(r.code, 1);
    const token = r.parsed!.checks.find((x) => x.name === 'token')!;
    assert.equal(token.status, 'FAIL');
    assert.match(token.detail, /does not know the token from DISTRIBUTE_TOKEN/);
    assert.match(token.fix!, /distribute token create --state-dir STATE_DIR --user NAME/);
    assert.equal(r.parsed!.ok, false);
    // the head itself is fine
    assert.equal(statuses(r.parsed!).head, 'ok');
  });

  it('catches an unreachable head and skips what it cannot check', async () => {
    const port = await closedPort();
    const r = await doctor(['--json', '--head', `ws://127.0.0.1:${port}`, '--token', 'whatever'], { XDG_CONFIG_HOME: c.configHome });
    assert.equal(r.code, 1);
    assert.deepEqual(statuses(r.parsed!), { head: 'FAIL', tls: 'skip', token: 'skip', clock: 'skip', protocol: 'skip' });
    const head = r.parsed!.checks[0]!;
    assert.match(head.detail, /ECONNREFUSED/);
    assert.match(head.fix!, /nothing listens at 127\.0\.0\.1:\d+: start the head/);
  });

  it('checks a workstation from its compute.yaml: node token, and free disk of work_dir', async () => {
    const dir = join(c.root, 'doctor-node');
    mkdirSync(dir);
    writeFileSync(join(dir, 'node.token'), (await c.createToken('node', 'ws-doctor')) + '\n');
    writeFileSync(join(dir, 'compute.yaml'), stringify({ head: c.url, token_file: 'node.token', work_dir: 'work' }));
    const r = await doctor(['--json', '--config', join(dir, 'compute.yaml')], { XDG_CONFIG_HOME: c.configHome });
    assert.equal(r.code, 0, r.stdout);
    const byName = new Map(r.parsed!.checks.map((x) => [x.name, x]));
    assert.match(byName.get('token')!.detail, /accepted: node ws-doctor/);
    assert.match(byName.get('disk')!.detail, new RegExp(`free of .* for work_dir ${join(dir, 'work')}`));
    assert.notEqual(byName.get('disk')!.status, 'FAIL');
    // as root on this machine's v1 hierarchies: a cgroup per job; jobs still share the daemon's uid
    if (process.getuid?.() === 0 && existsSync('/sys/fs/cgroup/freezer/cgroup.procs')) {
      assert.equal(byName.get('containment')!.status, 'ok');
      assert.match(byName.get('containment')!.detail, /^cgroup v1 \(freezer, memory, pids, cpuacct/);
    }
    if (process.getuid?.() === 0) {
      // job_uids by default: each job its own uid, but the token file is readable by all
      assert.equal(byName.get('isolation')!.status, 'warn');
      assert.match(byName.get('isolation')!.detail, new RegExp(`^each job runs as a uid of its own \\(61000-61999\\), but a job could read ${join(dir, 'compute.yaml')} \\(mode 0644\\), ${join(dir, 'node.token')} \\(mode 0644\\)$`));
      chmodSync(join(dir, 'node.token'), 0o600);
      chmodSync(join(dir, 'compute.yaml'), 0o600);
      const tight = await doctor(['--json', '--config', join(dir, 'compute.yaml')], { XDG_CONFIG_HOME: c.configHome });
      assert.equal(tight.parsed!.checks.find((x) => x.name === 'isolation')!.status, 'ok');
      writeFileSync(join(dir, 'compute-shared.yaml'), stringify({ head: c.url, token_file: 'node.token', work_dir: 'work', job_uids: 'none' }));
      const shared = await doctor(['--json', '--config', join(dir, 'compute-shared.yaml')], { XDG_CONFIG_HOME: c.configHome });
      assert.match(shared.parsed!.checks.find((x) => x.name === 'isolation')!.detail, /not isolated from each other/);
    } else {
      assert.match(byName.get('isolation')!.detail, /not isolated from each other/);
    }
    // as a user who can write no cgroup: process groups, said so
    writeFileSync(join(dir, 'compute-pg.yaml'), stringify({ head: c.url, token_file: 'node.token', work_dir: 'work', containment: 'process-group' }));
    const pg = await doctor(['--json', '--config', join(dir, 'compute-pg.yaml')], { XDG_CONFIG_HOME: c.configHome });
    const containment = pg.parsed!.checks.find((x) => x.name === 'containment')!;
    assert.equal(containment.status, 'warn');
    assert.match(containment.detail, /^process groups \(compute\.yaml containment: process-group\): kill and pause reach the job's process group only/);

    // a user token where a node token belongs
    writeFileSync(join(dir, 'node.token'), (await c.user('bob')) + '\n');
    const wrong = await doctor(['--json', '--config', join(dir, 'compute.yaml')], { XDG_CONFIG_HOME: c.configHome });
    assert.equal(wrong.code, 1);
    assert.match(wrong.parsed!.checks.find((x) => x.name === 'token')!.detail, /is a user token \(user bob\); this needs a node token/);

    // an unreadable token file
    writeFileSync(join(dir, 'compute.yaml'), stringify({ head: c.url, token_file: 'missing.token', work_dir: 'work' }));
    const again = await doctor(['--config', join(dir, 'compute.yaml')], { XDG_CONFIG_HOME: c.configHome });
    assert.equal(again.code, 1);
    assert.match(again.stdout, /^FAIL  token +cannot read .*missing\.token: ENOENT — fix: put the node token in/m);
  });

  it('refuses a config that does not validate with exit 2', async () => {
    const file = join(c.root, 'bad-compute.yaml');
    writeFileSync(file, 'head: ws://x:1\nwork_dir: w\nbogus: 1\n');
    const r = await doctor(['--config', file], {});
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bogus/);
  });
});
