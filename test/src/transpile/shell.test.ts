import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { BUILD_DIR, CONTAINER, JOB_DIR, shellCommand, shellQuote, shellWord } from '../../../src/transpile/shell.js';

/** What bash makes of a command line: each argument on its own, NUL-separated. */
function bashArgs(line: string, env: Record<string, string> = {}): string[] {
  const out = execFileSync('bash', ['-c', `printf '%s\\0' ${line}`], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

describe('shellQuote', () => {
  const nasty = ["it's", 'a b', '$HOME', '`id`', '"q"', 'x\ny', '*', '', '-n', 'back\\slash', "'", "''", '$(rm -rf /)', 'tab\there', 'ünï'];
  for (const s of nasty) {
    it(`keeps ${JSON.stringify(s)} one word, unexpanded`, () => {
      assert.deepEqual(bashArgs(shellQuote(s)), [s]);
    });
  }
  it('leaves plain words bare so scripts stay readable', () => {
    assert.equal(shellQuote('python3'), 'python3');
    assert.equal(shellQuote('input/mesh.dat'), 'input/mesh.dat');
  });
  it('refuses a NUL, which no argument can hold', () => {
    assert.throws(() => shellQuote('a\0b'));
  });
});

describe('shellWord', () => {
  it('turns the folder placeholders into the run-time variables, the rest quoted', () => {
    const word = shellWord(`${JOB_DIR}/input:/input,${JOB_DIR}/my save:/s`);
    const env = { job_dir: '/scratch/u v/job 1' };
    assert.deepEqual(bashArgs(word, {}).length, 1);
    const line = `job_dir=${shellQuote(env.job_dir)}; printf '%s\\0' ${word}`;
    const out = execFileSync('bash', ['-c', line], { encoding: 'utf8' }).split('\0').slice(0, -1);
    assert.deepEqual(out, ['/scratch/u v/job 1/input:/input,/scratch/u v/job 1/my save:/s']);
  });
  it('builds a whole command from argv with build folder and container', () => {
    const line = shellCommand([CONTAINER, 'run', `${BUILD_DIR}/a b.sif`, "it's"]);
    const out = execFileSync('bash', ['-c', `container=apptainer; build_dir='/b d'; printf '%s\\0' ${line}`], { encoding: 'utf8' }).split('\0').slice(0, -1);
    assert.deepEqual(out, ['apptainer', 'run', '/b d/a b.sif', "it's"]);
  });
});
