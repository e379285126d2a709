// Lints the shipped systemd units with `systemd-analyze verify`, which prints warnings
// (unknown keys, bad values) yet exits 0: any output other than the ExecStart program
// missing on this machine is a failure.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, tempDir } from '../helpers/cli.js';

const UNITS = ['distribute-head.service', 'distribute-compute.service'];
const haveAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
if (!haveAnalyze && process.env.CI === 'true') throw new Error('systemd-analyze is missing in CI: install the systemd package');
if (!haveAnalyze) console.warn('SKIPPING systemd unit lint: systemd-analyze is not installed here');

function verify(dir: string, units: string[]): string[] {
  const r = spawnSync('systemd-analyze', ['verify', ...units.map((u) => join(dir, u))], { encoding: 'utf8', cwd: dir });
  return `${r.stdout}${r.stderr}`
    .split('\n')
    .filter((l) => l.trim() !== '')
    // the program is installed by `distribute install`, not on the machine that lints
    .filter((l) => !/Command \/usr\/local\/bin\/distribute is not executable/.test(l));
}

describe('systemd units', { skip: !haveAnalyze }, () => {
  it('verify cleanly', () => {
    const { dir, cleanup } = tempDir();
    try {
      for (const u of UNITS) copyFileSync(join(REPO_ROOT, 'systemd', u), join(dir, u));
      assert.deepEqual(verify(dir, UNITS), []);
    } finally {
      cleanup();
    }
  });

  it('the lint catches a broken unit (so a clean result means something)', () => {
    const { dir, cleanup } = tempDir();
    try {
      const text = readFileSync(join(REPO_ROOT, 'systemd', UNITS[0]!), 'utf8').replace('[Service]', '[Service]\nRestartt=always');
      writeFileSync(join(dir, UNITS[0]!), text);
      const out = verify(dir, [UNITS[0]!]);
      assert.ok(out.some((l) => /Restartt/.test(l)), `expected a complaint about Restartt, got: ${out.join(' | ')}`);
    } finally {
      cleanup();
    }
  });
});
