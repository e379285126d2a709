// `distribute install` run for real by the built CLI, laid out under a temporary --prefix so
// nothing touches this machine's /etc.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT, runCli, tempDir } from '../../helpers/cli.js';
import { ComputeConfig, HeadConfig } from '../../../shared/config.js';

const asRoot = process.geteuid?.() === 0;

/** A prefix with the account files useradd --prefix edits. */
function prefixWithAccounts(dir: string): void {
  mkdirSync(join(dir, 'etc'), { recursive: true });
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(dir, 'etc/group'), 'root:x:0:\n');
  writeFileSync(join(dir, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o600 });
  writeFileSync(join(dir, 'etc/gshadow'), 'root:*::\n', { mode: 0o600 });
}

function listTree(dir: string, base = ''): string[] {
  return readdirSync(join(dir, base), { withFileTypes: true }).flatMap((e) => {
    const rel = base ? `${base}/${e.name}` : e.name;
    return e.isDirectory() ? [rel + '/', ...listTree(dir, rel)] : [rel];
  });
}

describe('distribute install', () => {
  it('lays out a compute node: user, config from the example, state folder, unit, launcher; then the systemctl line', { skip: !asRoot && 'useradd needs root' }, async () => {
    const { dir, cleanup } = tempDir('distribute-install-');
    try {
      prefixWithAccounts(dir);
      const r = await runCli(['install', 'compute', '--prefix', dir]);
      assert.equal(r.code, 0, r.stderr);
      const passwd = readFileSync(join(dir, 'etc/passwd'), 'utf8');
      const user = passwd.split('\n').find((l) => l.startsWith('distribute:'));
      assert.ok(user, 'user distribute added to the prefix passwd');
      const [, , uid, gid, , home, shell] = user.split(':');
      assert.equal(home, '/var/lib/distribute');
      assert.match(shell!, /nologin|false/);
      assert.ok(Number(uid) < 1000, `a system uid, got ${uid}`);
      assert.match(readFileSync(join(dir, 'etc/group'), 'utf8'), new RegExp(`^distribute:x:${gid}:`, 'm'));

      const unit = join(dir, 'etc/systemd/system/distribute-compute.service');
      assert.equal(readFileSync(unit, 'utf8'), readFileSync(join(REPO_ROOT, 'systemd/distribute-compute.service'), 'utf8'));
      const state = statSync(join(dir, 'var/lib/distribute/compute'));
      assert.deepEqual([state.uid, state.gid, state.mode & 0o777], [Number(uid), Number(gid), 0o750]);
      const cfg = statSync(join(dir, 'etc/distribute/compute.yaml'));
      assert.deepEqual([cfg.uid, cfg.gid, cfg.mode & 0o777], [0, Number(gid), 0o640]);

      // the config is the example, pointed at the system layout, and valid
      const config = ComputeConfig.parse(parseYaml(readFileSync(join(dir, 'etc/distribute/compute.yaml'), 'utf8')));
      assert.equal(config.work_dir, '/var/lib/distribute/compute');
      assert.equal(config.token_file, '/etc/distribute/node.token');
      assert.equal(config.control_socket, '/run/distribute/control.sock');

      // the launcher runs this CLI
      const launcher = join(dir, 'usr/local/bin/distribute');
      const v = spawnSync(launcher, ['--version'], { encoding: 'utf8' });
      assert.equal(v.status, 0, v.stderr);
      assert.match(v.stdout, /^\d+\.\d+\.\d+/);

      assert.match(r.stdout, /^ {2}systemctl daemon-reload && systemctl enable --now distribute-compute\.service$/m);
      assert.match(r.stdout, /doctor --config \/etc\/distribute\/compute\.yaml/);
    } finally {
      cleanup();
    }
  });

  it('never overwrites a config the admin edited, and a second run changes nothing else', async () => {
    const { dir, cleanup } = tempDir('distribute-install-');
    try {
      assert.equal((await runCli(['install', 'head', '--prefix', dir])).code, 0);
      const file = join(dir, 'etc/distribute/head.yaml');
      HeadConfig.parse(parseYaml(readFileSync(file, 'utf8')));
      assert.equal(HeadConfig.parse(parseYaml(readFileSync(file, 'utf8'))).state_dir, '/var/lib/distribute/head');
      writeFileSync(file, 'listen: 0.0.0.0:8952\nstate_dir: /srv/distribute\n');
      const before = listTree(dir);
      const again = await runCli(['install', 'head', '--prefix', dir]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(readFileSync(file, 'utf8'), 'listen: 0.0.0.0:8952\nstate_dir: /srv/distribute\n');
      assert.match(again.stdout, /keep \/etc\/distribute\/head\.yaml: it exists/);
      assert.match(again.stdout, /keep \/etc\/systemd\/system\/distribute-head\.service: unchanged/);
      assert.deepEqual(listTree(dir), before);
      assert.match(again.stdout, /systemctl enable --now distribute-head\.service/);
      assert.match(again.stdout, /token create --state-dir \/var\/lib\/distribute\/head --node/);
    } finally {
      cleanup();
    }
  });

  it('--dry-run prints the steps and creates nothing', async () => {
    const { dir, cleanup } = tempDir('distribute-install-');
    try {
      prefixWithAccounts(dir);
      const before = listTree(dir);
      const r = await runCli(['install', 'compute', '--prefix', dir, '--dry-run']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(listTree(dir), before);
      assert.doesNotMatch(readFileSync(join(dir, 'etc/passwd'), 'utf8'), /distribute/);
      for (const s of ['would create user and group distribute', 'would write /etc/distribute/compute.yaml', 'would install /etc/systemd/system/distribute-compute.service', 'would write /usr/local/bin/distribute']) {
        assert.ok(r.stdout.includes(s), `missing "${s}" in:\n${r.stdout}`);
      }
    } finally {
      cleanup();
    }
  });

  it('--config-only writes the config alone', async () => {
    const { dir, cleanup } = tempDir('distribute-install-');
    try {
      const r = await runCli(['install', 'compute', '--prefix', dir, '--config-only']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(listTree(dir), ['etc/', 'etc/distribute/', 'etc/distribute/compute.yaml']);
    } finally {
      cleanup();
    }
  });

  it('refuses a role it does not know with exit 2', async () => {
    const r = await runCli(['install', 'dashboard', '--prefix', '/nonexistent', '--dry-run']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /head, compute/);
    assert.equal(existsSync('/nonexistent'), false);
  });
});
