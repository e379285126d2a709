// `distribute up` puts the CLI on PATH: a link in ~/.local/bin and the profile line that
// makes a login shell look there, once, and never over another program's file.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { linkCli } from '../../../src/ops/link-cli.js';
import { tempDir } from '../../helpers/cli.js';

function fixture(): { home: string; cli: string; cleanup: () => void } {
  const t = tempDir('distribute-link-');
  const home = join(t.dir, 'home');
  mkdirSync(home);
  const cli = join(t.dir, 'clone', 'dist', 'src', 'cli.js');
  mkdirSync(join(t.dir, 'clone', 'dist', 'src'), { recursive: true });
  writeFileSync(cli, '#!/bin/sh\necho this-cli "$@"\n', { mode: 0o755 });
  return { home, cli, cleanup: t.cleanup };
}

describe('linkCli', () => {
  it('links ~/.local/bin/distribute and makes a new login shell find it', () => {
    const f = fixture();
    try {
      const r = linkCli({ cli: f.cli, home: f.home, path: '/usr/bin:/bin' });
      assert.equal(readlinkSync(join(f.home, '.local', 'bin', 'distribute')), f.cli);
      assert.match(r.note!, /linked ~\/\.local\/bin\/distribute/);
      assert.match(r.note!, /added ~\/\.local\/bin to PATH in ~\/\.profile/);
      // a login shell with nothing but this HOME runs the linked CLI
      const sh = spawnSync('sh', ['-lc', 'distribute --version'], { env: { HOME: f.home, PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
      assert.equal(sh.stdout, 'this-cli --version\n', sh.stderr);
      // a second start says nothing new and adds no second line
      const again = linkCli({ cli: f.cli, home: f.home, path: '/usr/bin:/bin' });
      assert.doesNotMatch(again.note ?? '', /linked|added/);
      assert.equal(readFileSync(join(f.home, '.profile'), 'utf8').match(/\.local\/bin/g)!.length, 2);
    } finally {
      f.cleanup();
    }
  });

  it('does nothing when PATH already finds this CLI', () => {
    const f = fixture();
    try {
      const bin = join(f.home, 'bin');
      mkdirSync(bin);
      symlinkSync(f.cli, join(bin, 'distribute'));
      assert.equal(linkCli({ cli: f.cli, home: f.home, path: `/usr/bin:${bin}` }).note, null);
      assert.equal(existsSync(join(f.home, '.local')), false);
      assert.equal(existsSync(join(f.home, '.profile')), false);
    } finally {
      f.cleanup();
    }
  });

  it('leaves another ~/.local/bin/distribute alone, and says so', () => {
    const f = fixture();
    try {
      mkdirSync(join(f.home, '.local', 'bin'), { recursive: true });
      writeFileSync(join(f.home, '.local', 'bin', 'distribute'), 'theirs');
      const r = linkCli({ cli: f.cli, home: f.home, path: '/usr/bin' });
      assert.match(r.note!, /exists and is another distribute; left alone/);
      assert.equal(readFileSync(join(f.home, '.local', 'bin', 'distribute'), 'utf8'), 'theirs');
    } finally {
      f.cleanup();
    }
  });

  it('adds the line to ~/.bash_profile too when bash would read that instead of ~/.profile', () => {
    const f = fixture();
    try {
      writeFileSync(join(f.home, '.bash_profile'), '# mine\n');
      writeFileSync(join(f.home, '.profile'), 'if [ -d "$HOME/.local/bin" ] ; then PATH="$HOME/.local/bin:$PATH"; fi\n');
      const r = linkCli({ cli: f.cli, home: f.home, path: '/usr/bin' });
      assert.match(r.note!, /in ~\/\.bash_profile/);
      assert.doesNotMatch(r.note!, /~\/\.profile/);
      const sh = spawnSync('bash', ['-lc', 'distribute x'], { env: { HOME: f.home, PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
      assert.equal(sh.stdout, 'this-cli x\n', sh.stderr);
    } finally {
      f.cleanup();
    }
  });
});
