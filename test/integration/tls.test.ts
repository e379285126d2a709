// TLS end to end: a head with `tls: {cert, key}` made at test time; the CLI and compute
// daemons trust it with the right CA and refuse it with a wrong one (or none: the system
// store does not know a lab CA). A job's input and result travel over https.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { TestCluster } from '../helpers/cluster.js';
import { haveOpenssl, makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { waitFor } from '../compute/support.js';

if (!haveOpenssl && process.env.CI === 'true') throw new Error('openssl is missing in CI');

describe('TLS', { skip: !haveOpenssl && 'openssl is not installed' }, () => {
  let c: TestCluster;
  let certs: TestCerts;
  let certDir: { dir: string; cleanup: () => void };
  before(async () => {
    certDir = tempDir('distribute-certs-');
    certs = makeTestCerts(certDir.dir);
    c = await TestCluster.start({ head: { tls: { cert: certs.cert, key: certs.key } } });
  });
  after(async () => {
    await c?.stop();
    certDir?.cleanup();
  });

  it('the head speaks wss/https', () => {
    assert.match(c.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
  });

  it('the CLI accepts the head with the right CA, from --ca, DISTRIBUTE_CA or the user config', async () => {
    const flag = await c.cli(['nodes', '--json', '--ca', certs.ca]);
    assert.equal(flag.code, 0, flag.stderr);
    assert.deepEqual(JSON.parse(flag.stdout), []);
    const token = await c.user('alice');
    const env = await runCli(['nodes', '--json'], { env: { ...c.env(token), DISTRIBUTE_CA: certs.ca } });
    assert.equal(env.code, 0, env.stderr);
    // the user config names the CA relative to itself
    const home = join(c.root, 'tls-user-home');
    mkdirSync(join(home, 'distribute'), { recursive: true });
    writeFileSync(join(home, 'distribute', 'config.yaml'), stringify({ head: c.url, token, ca: relative(join(home, 'distribute'), certs.ca) }));
    const fromConfig = await runCli(['nodes', '--json'], { env: { XDG_CONFIG_HOME: home } });
    assert.equal(fromConfig.code, 0, fromConfig.stderr);
  });

  it('the CLI refuses the head with a wrong CA, or with none, and says what to do', async () => {
    for (const args of [['--ca', certs.otherCa], []]) {
      const r = await c.cli(['nodes', '--json', ...args]);
      assert.equal(r.code, 1, `with ${args.join(' ') || 'no CA'}: ${r.stdout}`);
      assert.match(r.stderr, /not signed by a CA this side trusts|chain ends in a CA this side does not trust/);
      assert.match(r.stderr, /--ca FILE or DISTRIBUTE_CA/);
      assert.equal(r.stdout, '');
    }
  });

  it('doctor shows the certificate with the right CA, and names the TLS problem with a wrong one', async () => {
    const token = await c.user('alice');
    const good = await runCli(['doctor', '--json', '--ca', certs.ca], { env: c.env(token) });
    assert.equal(good.code, 0, good.stdout);
    const tls = (JSON.parse(good.stdout) as { checks: { name: string; status: string; detail: string }[] }).checks.find((x) => x.name === 'tls')!;
    assert.equal(tls.status, 'ok');
    assert.match(tls.detail, /certificate for localhost, 127\.0\.0\.1, issued by Test Lab CA, valid until \d{4}-/);
    const bad = await runCli(['doctor', '--ca', certs.otherCa], { env: c.env(token) });
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^FAIL  tls +the head at 127\.0\.0\.1:\d+: its certificate .*CA.* — fix: give the lab CA that signed it/m);
    assert.match(bad.stdout, /^skip  token/m);
  });

  it('doctor on the head machine checks its certificate files and state_dir from head.yaml', async () => {
    const env = { XDG_CONFIG_HOME: c.configHome, DISTRIBUTE_TOKEN: await c.user('root-admin', true) };
    // the head's config, with the port it was given (the test head listens on port 0)
    const headYaml = join(c.root, 'head-doctor.yaml');
    writeFileSync(headYaml, stringify({ listen: `127.0.0.1:${new URL(c.url).port}`, state_dir: c.stateDir, tls: { cert: certs.cert, key: certs.key } }));
    const r = await runCli(['doctor', '--json', '--config', headYaml], { env });
    const byName = new Map((JSON.parse(r.stdout) as { checks: { name: string; status: string; detail: string }[] }).checks.map((x) => [x.name, x]));
    assert.equal(r.code, 0, r.stdout);
    assert.equal(byName.get('head')!.status, 'ok');
    assert.match(byName.get('cert')!.detail, /head\.crt names localhost, 127\.0\.0\.1, valid until/);
    assert.match(byName.get('disk')!.detail, /for state_dir /);
    // without a token the head machine's checks still pass; the token's are skipped
    const tokenless = await runCli(['doctor', '--json', '--config', headYaml], { env: { XDG_CONFIG_HOME: c.configHome } });
    assert.equal(tokenless.code, 0, tokenless.stdout);
    assert.equal((JSON.parse(tokenless.stdout) as { checks: { name: string; status: string }[] }).checks.find((x) => x.name === 'token')!.status, 'skip');
    // a key that is not the certificate's
    const other = join(c.root, 'head-wrong-key.yaml');
    writeFileSync(other, stringify({ listen: '127.0.0.1:1', state_dir: c.stateDir, tls: { cert: certs.cert, key: certs.ca.replace('.pem', '.key') } }));
    const bad = await runCli(['doctor', '--config', other], { env });
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^FAIL  cert +.*lab-ca\.key is not the key of .*head\.crt/m);
  });

  it('a compute daemon with the right CA registers and runs a job whose input and result go over https', async () => {
    await c.startNode({ name: 'trusted', capabilities: ['shell'], config: { ca: certs.ca } });
    const dir = join(c.root, 'tls-batch');
    mkdirSync(dir);
    writeFileSync(join(dir, 'greeting.txt'), 'over tls\n');
    writeFileSync(join(dir, 'batch.yaml'), stringify({
      meta: { batch_name: 'tls_batch', namespace: 'tls', capabilities: ['shell'] },
      shell: { jobs: [{ name: 'copy', command: 'cp "$DISTRIBUTE_INPUT/greeting.txt" "$DISTRIBUTE_SAVE/out.txt"', required_files: [{ path: 'greeting.txt' }] }] },
    }));
    const add = await c.cli(['add', join(dir, 'batch.yaml'), '--ca', certs.ca]);
    assert.equal(add.code, 0, add.stderr + add.stdout);
    let state = '';
    await waitFor(async () => {
      const r = await c.cli(['status', '--json', '--ca', certs.ca]);
      const batches = JSON.parse(r.stdout) as { batch_name: string; jobs: { state: string }[] }[];
      state = batches.find((b) => b.batch_name === 'tls_batch')?.jobs[0]?.state ?? '';
      return state === 'done' || state === 'failed';
    }, 'the job to end', 30_000, 200);
    assert.equal(state, 'done');
    // the result came back over https: it is in the head's archive
    const archived = spawnSync('tar', ['-xzOf', join(c.stateDir, 'archive', 'tls', 'tls_batch', 'copy.tar.gz'), 'out.txt'], { encoding: 'utf8' });
    assert.equal(archived.stdout, 'over tls\n', archived.stderr);
  });

  it('a compute daemon with a wrong CA is refused by its own TLS check and never registers', async () => {
    const d = await c.startNode({ name: 'untrusting', config: { ca: certs.otherCa }, awaitRegistered: false });
    const failed = await d.event('connect_failed');
    assert.match(String(failed.tls), /not signed by a CA this side trusts|chain ends in a CA/);
    const nodes = await c.json<{ name: string }[]>(['nodes', '--ca', certs.ca]);
    assert.ok(!nodes.some((n) => n.name === 'untrusting'));
    assert.equal(d.count('registered'), 0);
  });
});
