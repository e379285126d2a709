import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packAttempt } from '../../compute/results.js';
import { tempDir } from '../helpers/cli.js';
import { tarMembers } from './agent-tar.js';

describe('packAttempt', () => {
  const tmp = tempDir();
  after(() => tmp.cleanup());

  it('puts the save folder at the top and _distribute beside it, leaving out what the head would refuse', async () => {
    const root = join(tmp.dir, 'attempt-1');
    mkdirSync(join(root, 'distribute_save', 'sub'), { recursive: true });
    mkdirSync(join(root, 'distribute_save', '_distribute'), { recursive: true });
    mkdirSync(join(root, '_distribute'));
    mkdirSync(join(root, 'input'));
    writeFileSync(join(root, 'input', 'big'), 'not archived');
    writeFileSync(join(root, 'distribute_save', 'sub', 'data.txt'), 'data');
    writeFileSync(join(root, 'distribute_save', '_distribute', 'fake.json'), 'job wrote this');
    writeFileSync(join(root, '_distribute', 'stdout.log'), 'out');
    symlinkSync('sub/data.txt', join(root, 'distribute_save', 'inside'));
    symlinkSync('/etc/passwd', join(root, 'distribute_save', 'absolute'));
    symlinkSync('../../input/big', join(root, 'distribute_save', 'sub', 'escape'));
    execFileSync('mkfifo', [join(root, 'distribute_save', 'pipe')]);
    const archive = join(tmp.dir, '1.tar.gz');
    await packAttempt(root, archive);
    const members = await tarMembers(readFileSync(archive));
    assert.deepEqual([...members.keys()].sort(), ['_distribute/', '_distribute/stdout.log', 'inside', 'sub/', 'sub/data.txt']);
    assert.equal(members.get('sub/data.txt'), 'data');
  });
});
