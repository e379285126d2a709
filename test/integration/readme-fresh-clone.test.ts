// The README's first five minutes, as a new user lives them: a fresh clone (of this
// repository's committed HEAD), a fresh HOME, the first command in the background, then
// every next command in a new login shell that knows nothing but that HOME, the way a
// new terminal would. `npm ci` is replaced by a link to the installed node_modules (a full
// `npm ci` compiles better-sqlite3 and takes minutes); `npm start` runs as written. The
// HOME keeps this machine's ~/.npmrc, where npm finds the headers native modules build with.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, symlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, tempDir } from '../helpers/cli.js';
import { until } from '../helpers/until.js';

interface Shell {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('the README in a fresh clone with a fresh HOME', () => {
  const tmp = tempDir('distribute-readme-');
  const home = join(tmp.dir, 'home');
  const clone = join(tmp.dir, 'distribute');
  let first: ChildProcess;
  let firstErr = '';
  let startedMs = 0;

  /** A new login shell, with only HOME (and TERM) from outside, running `script` in the clone. */
  function loginShell(script: string): Shell {
    const r = spawnSync('env', ['-i', `HOME=${home}`, 'TERM=dumb', 'bash', '-lc', `cd ${clone} && ${script}`], { encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  before(async () => {
    mkdirSync(home);
    if (existsSync(join(homedir(), '.npmrc'))) copyFileSync(join(homedir(), '.npmrc'), join(home, '.npmrc'));
    const git = spawnSync('git', ['clone', '--quiet', REPO_ROOT, clone], { encoding: 'utf8' });
    assert.equal(git.status, 0, git.stderr);
    symlinkSync(realpathSync(join(REPO_ROOT, 'node_modules')), join(clone, 'node_modules'));
    // the first command, `npm start` of `npm ci && npm start`, in its own login shell in the background
    startedMs = Date.now();
    first = spawn('env', ['-i', `HOME=${home}`, 'TERM=dumb', 'bash', '-lc', `cd ${clone} && exec npm start`], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    first.stderr!.setEncoding('utf8').on('data', (d: string) => (firstErr += d));
    await until(() => firstErr.includes('Ctrl-C stops both') || first.exitCode !== null, 'the first command to say the cluster is up', 180_000, 100);
    assert.ok(firstErr.includes('Ctrl-C stops both'), `npm start ended: ${firstErr}`);
    process.stderr.write(`# npm start in a fresh clone: up after ${((Date.now() - startedMs) / 1000).toFixed(1)} s\n`);
  });

  after(async () => {
    if (first && first.exitCode === null) {
      const exited = new Promise((r) => first.once('exit', r));
      process.kill(-first.pid!, 'SIGTERM');
      await exited;
    }
    tmp.cleanup();
  });

  it('says it linked the CLI, and a new login shell finds it', () => {
    assert.match(firstErr, /linked ~\/\.local\/bin\/distribute/);
    const which = loginShell('command -v distribute');
    assert.equal(which.stdout.trim(), join(home, '.local', 'bin', 'distribute'), which.stderr);
  });

  it('add, status, pause --duration 1m, resume and pull all exit 0 as written', async () => {
    const add = loginShell('distribute add configs/shell-batch.yaml');
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /^queued 8 jobs of examples\/shell_example/m);
    const status = loginShell('distribute status');
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /examples\/shell_example/);
    const pause = loginShell('distribute pause --duration 1m');
    assert.equal(pause.code, 0, pause.stderr);
    assert.match(pause.stdout, /paused/i);
    const resume = loginShell('distribute resume');
    assert.equal(resume.code, 0, resume.stderr);
    await until(() => /examples\/shell_example\s+done/.test(loginShell('distribute status').stdout), 'the batch to be done', 60_000, 250);
    const pull = loginShell('distribute pull configs/shell-batch.yaml --save-dir results');
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal(readdirSync(join(clone, 'results', 'shell_example')).length, 8);
    assert.equal(readFileSync(join(clone, 'results', 'shell_example', 'hello', 'hello.txt'), 'utf8'), 'hello from hello\n');
  });
});
