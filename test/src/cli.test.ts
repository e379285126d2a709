import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, tempDir } from '../helpers/cli.js';

describe('the distribute CLI', () => {
  it('lists its subcommands in --help', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /\brun\b/);
  });
  it('exits 2 on a usage error of a subcommand, saying what is wrong', async () => {
    const r = await runCli(['logs']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing required argument/);
  });
  it('reads distribute-jobs.yaml when add, run, pull or slurm is given no file, as the original did', async () => {
    const t = tempDir();
    try {
      for (const args of [['run'], ['slurm', '--output', 'out'], ['add'], ['pull']]) {
        const r = await runCli(args, { cwd: t.dir, env: { DISTRIBUTE_HEAD: 'ws://127.0.0.1:1', DISTRIBUTE_TOKEN: 'x' } });
        assert.equal(r.code, 2, args.join(' '));
        assert.match(r.stderr, /^error: distribute-jobs\.yaml: no such file$/m, args.join(' '));
      }
    } finally {
      t.cleanup();
    }
  });
  it('exits 2 on an unknown option of a subcommand', async () => {
    const r = await runCli(['run', 'x.yaml', '--no-such-flag']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option/);
  });
});
