import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.js';

describe('the distribute CLI', () => {
  it('lists its subcommands in --help', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /\brun\b/);
  });
  it('exits 2 on a usage error of a subcommand, saying what is wrong', async () => {
    const r = await runCli(['run']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing required argument/);
  });
  it('exits 2 on an unknown option of a subcommand', async () => {
    const r = await runCli(['run', 'x.yaml', '--no-such-flag']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option/);
  });
});
