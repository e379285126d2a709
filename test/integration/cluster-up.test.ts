import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parse } from 'yaml';
import { Daemon } from '../helpers/cluster.js';
import { CLI, REPO_ROOT, runCli, spawnCli, tempDir } from '../helpers/cli.js';

describe('distribute up, then the README\'s commands', () => {
  const tmp = tempDir('distribute-up-');
  const home = join(tmp.dir, 'home');
  mkdirSync(home);
  const env = { HOME: home, XDG_CONFIG_HOME: join(tmp.dir, 'config'), XDG_DATA_HOME: join(tmp.dir, 'data'), DISTRIBUTE_HEAD: '', DISTRIBUTE_TOKEN: '' };
  let up: Daemon;
  let stderr = '';
  before(async () => {
    up = new Daemon('up', spawnCli(['up', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    up.child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await up.event('registered');
    // the banner follows the registration, on stderr
    const deadline = Date.now() + 10_000;
    while (!stderr.includes('Ctrl-C stops both') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  });
  after(async () => {
    await up?.stop('SIGKILL');
    tmp.cleanup();
  });

  it('makes its state under XDG_DATA_HOME, tokens, and the user config', () => {
    const state = join(tmp.dir, 'data', 'distribute');
    assert.equal(statSync(join(state, 'node.token')).mode & 0o777, 0o600);
    const config = parse(readFileSync(join(tmp.dir, 'config', 'distribute', 'config.yaml'), 'utf8')) as { head: string; token: string };
    assert.match(config.head, /^ws:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(config.token, readFileSync(join(state, 'user.token'), 'utf8').trim());
    assert.match(stderr, /distribute add configs\/shell-batch\.yaml/);
    // the dashboard link logs in with the user token written above
    const link = /The dashboard: (http:\/\/127\.0\.0\.1:\d+\/\?token=(\S+))/.exec(stderr);
    assert.ok(link, stderr);
    assert.equal(link[2], config.token);
    // the link answers a plain 303 with the cookie, as curl sees it
    const curl = spawnSync('curl', ['-si', link[1]!], { encoding: 'utf8' });
    assert.equal(curl.status, 0, curl.stderr);
    assert.match(curl.stdout, /^HTTP\/1\.1 303 See Other\r\n/);
    assert.match(curl.stdout, /\r\nLocation: \/\r\n/i);
    assert.match(curl.stdout, new RegExp(`\r\nSet-Cookie: distribute_token=${config.token}; HttpOnly; SameSite=Lax`, 'i'));
    // the CLI is linked into this HOME's ~/.local/bin, and the banner says so
    assert.equal(realpathSync(join(home, '.local', 'bin', 'distribute')), realpathSync(CLI));
    assert.match(stderr, /linked ~\/\.local\/bin\/distribute/);
    // the head's state dir is named for token create
    assert.match(stderr, new RegExp(`the head's in ${join(state, 'head')}`));
  });

  it('answers pause and resume at its control socket, found without --socket', async () => {
    const pause = await runCli(['pause', '--duration', '1m', '--json'], { env });
    assert.equal(pause.code, 0, pause.stderr);
    assert.equal((JSON.parse(pause.stdout) as { paused: boolean }).paused, true);
    const status = await runCli(['pause', '--status'], { env });
    assert.match(status.stdout, /paused/);
    const resume = await runCli(['resume', '--json'], { env });
    assert.equal(resume.code, 0, resume.stderr);
    assert.deepEqual([(JSON.parse(resume.stdout) as { paused: boolean; changed: boolean }).paused, JSON.parse(resume.stdout).changed], [false, true]);
  });

  it('a second up on the taken port says so in one line naming --port', async () => {
    const port = new URL(String((await up.event('listening')).url)).port;
    const t2 = tempDir('distribute-up2-');
    try {
      const second = await runCli(['up', '--port', port, '--no-link'], { env: { ...env, XDG_DATA_HOME: t2.dir } });
      assert.equal(second.code, 1);
      const lines = second.stderr.trim().split('\n');
      assert.equal(lines.length, 1, second.stderr);
      assert.match(lines[0]!, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is taken.*--port N`));
    } finally {
      t2.cleanup();
    }
  });

  it('runs configs/shell-batch.yaml added from another terminal, and pulls its results', async () => {
    const add = await runCli(['add', 'configs/shell-batch.yaml'], { cwd: REPO_ROOT, env });
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /^queued 8 jobs of examples\/shell_example; can run on 1 of 1 known node/m);
    await up.events('result_archived', 8);
    const status = await runCli(['status'], { cwd: REPO_ROOT, env });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^examples\/shell_example\s+done\s+0\s+0\s+0\s+0\s+8\s+0\s+0\s+8$/m);
    const logs = await runCli(['logs', 'shell_example', 'hello'], { cwd: REPO_ROOT, env });
    assert.equal(logs.code, 0, logs.stderr);
    assert.equal(logs.stdout, 'hello from hello\n');
    const save = join(tmp.dir, 'results');
    const pull = await runCli(['pull', 'configs/shell-batch.yaml', '--save-dir', save], { cwd: REPO_ROOT, env });
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal(readdirSync(join(save, 'shell_example')).length, 8);
    assert.equal(readFileSync(join(save, 'shell_example', 'hello', 'hello.txt'), 'utf8'), 'hello from hello\n');
    assert.equal(readFileSync(join(save, 'shell_example', 'square_3_b', 'square.txt'), 'utf8'), 'b 9\n');
    assert.match(readFileSync(join(save, 'shell_example', 'cat_build', 'prepared.txt'), 'utf8'), /^prepared on /);
  });

  it('stops on SIGTERM and starts again with the same tokens, leaving the user config alone', async () => {
    const configFile = join(tmp.dir, 'config', 'distribute', 'config.yaml');
    const before = readFileSync(configFile, 'utf8');
    const exited = new Promise<number | null>((r) => up.child.once('exit', (code) => r(code)));
    up.child.kill('SIGTERM');
    assert.equal(await exited, 0);
    let again = '';
    up = new Daemon('up', spawnCli(['up', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    up.child.stderr!.on('data', (d: Buffer) => (again += d.toString()));
    await up.event('registered');
    const deadline = Date.now() + 10_000;
    while (!again.includes('Ctrl-C stops both') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // the same token; the head URL follows the new port
    const was = parse(before) as { head: string; token: string };
    const now = parse(readFileSync(configFile, 'utf8')) as { head: string; token: string };
    assert.equal(now.token, was.token);
    assert.equal(now.head, String((await up.event('listening')).url));
    assert.match(again, /config\.yaml points at this head/);
    assert.doesNotMatch(again, /tokens created/);
    // a config of someone else's making is left alone
    writeFileSync(configFile, 'head: ws://elsewhere:8952\ntoken: theirs\n');
    const exited2 = new Promise<number | null>((r) => up.child.once('exit', (code) => r(code)));
    up.child.kill('SIGTERM');
    assert.equal(await exited2, 0);
    let third = '';
    up = new Daemon('up', spawnCli(['up', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    up.child.stderr!.on('data', (d: Buffer) => (third += d.toString()));
    await up.event('registered');
    const deadline3 = Date.now() + 10_000;
    while (!third.includes('Ctrl-C stops both') && Date.now() < deadline3) await new Promise((r) => setTimeout(r, 20));
    assert.match(third, /config\.yaml exists and was left as it is/);
    assert.equal(readFileSync(configFile, 'utf8'), 'head: ws://elsewhere:8952\ntoken: theirs\n');
  });
});
