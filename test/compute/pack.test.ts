import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packResult, packToBuffer, SMALL_BYTES } from '../../compute/pack.js';
import { tempDir } from '../helpers/cli.js';
import { tarMembers } from './agent-tar.js';

const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** The checksums the node packed last, by member path. */
function checksums(members: Map<string, string>): Record<string, string> {
  return (JSON.parse(members.get('_distribute/sha256.json') ?? '{}') as { sha256: Record<string, string> }).sha256;
}

describe('packing a result', () => {
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
    const members = await tarMembers(await packToBuffer(root));
    assert.deepEqual([...members.keys()].sort(), ['_distribute/', '_distribute/sha256.json', '_distribute/stdout.log', 'inside', 'sub/', 'sub/data.txt']);
    assert.equal(members.get('sub/data.txt'), 'data');
    assert.deepEqual(checksums(members), { '_distribute/stdout.log': sha('out'), 'sub/data.txt': sha('data') }, 'a SHA-256 of every file, none of links');
  });

  const attempt = (name: string, files: Record<string, string | Buffer>): string => {
    const root = join(tmp.dir, name);
    mkdirSync(join(root, 'distribute_save'), { recursive: true });
    mkdirSync(join(root, '_distribute'));
    writeFileSync(join(root, '_distribute', 'result.json'), '{"exit_code":0}\n');
    for (const [path, data] of Object.entries(files)) writeFileSync(join(root, 'distribute_save', path), data);
    return root;
  };

  it('packs a small result in memory, gzip-compressed', async () => {
    const root = attempt('small', { 'out.txt': 'hello\n' });
    const packed = packResult(root);
    assert.equal(packed.kind, 'buffer');
    const data = (packed as { data: Buffer }).data;
    assert.deepEqual([...data.subarray(0, 2)], [0x1f, 0x8b], 'a gzip stream');
    const members = await tarMembers(data);
    assert.equal(members.get('out.txt'), 'hello\n');
    assert.equal(members.get('_distribute/result.json'), '{"exit_code":0}\n');
    assert.deepEqual(checksums(members), { 'out.txt': sha('hello\n'), '_distribute/result.json': sha('{"exit_code":0}\n') });
  });

  it("leaves out a job's own file at the checksums' name: the node's are the only ones", async () => {
    const root = attempt('forged', { 'x.txt': 'x' });
    writeFileSync(join(root, '_distribute', 'sha256.json'), '{"sha256":{"x.txt":"0000"}}');
    const members = await tarMembers(await packToBuffer(root));
    assert.equal(checksums(members)['x.txt'], sha('x'));
  });

  it('streams a big result: gzip when a sample of it compresses, a plain tar when it does not', async () => {
    const noise = randomBytes(SMALL_BYTES + 1);
    const text = Buffer.from('step,value\n'.repeat(Math.ceil((SMALL_BYTES + 1) / 11)));
    for (const [name, data, gzip] of [['noise', noise, false], ['text', text, true]] as const) {
      const root = attempt(name, { 'big.bin': data });
      const packed = packResult(root);
      assert.equal(packed.kind, 'stream', name);
      assert.equal((packed as { gzip: boolean }).gzip, gzip, name);
      const archive = await packToBuffer(root);
      if (gzip) {
        assert.deepEqual([...archive.subarray(0, 2)], [0x1f, 0x8b], `${name}: a gzip stream`);
        assert.ok(archive.length < data.length / 4, 'deflated');
      } else {
        assert.equal(archive.subarray(257, 262).toString('latin1'), 'ustar', `${name}: a plain tar`);
      }
      const members = await tarMembers(archive);
      assert.equal(members.get('big.bin'), data.toString('utf8'), `${name}: content intact`);
      assert.equal(checksums(members)['big.bin'], sha(data), `${name}: its checksum computed while streaming`);
    }
  });
});
