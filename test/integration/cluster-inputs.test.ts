import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { TestCluster } from '../helpers/cluster.js';

/** Every regular file under `dir`, recursively, outside temporary folders. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.tmp')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(full));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

const JOBS = 200;
const SIZE = 10 * 1024 * 1024;

describe('cluster: one input shared by many jobs', () => {
  let c: TestCluster;
  before(async () => {
    c = await TestCluster.start({
      nodes: [
        { name: 'left', capabilities: ['shell'], cpus: 2 },
        { name: 'right', capabilities: ['shell'], cpus: 2 },
      ],
    });
  });
  after(async () => c?.stop());

  it(`stores a 10 MB input shared by ${JOBS} jobs once on the head and fetches it once per node`, async () => {
    const dir = c.root;
    writeFileSync(join(dir, 'big.bin'), randomBytes(SIZE));
    const yaml = (name: string) =>
      [
        'meta:',
        `  batch_name: ${name}`,
        '  namespace: shared',
        'shell:',
        '  jobs:',
        '    - name: j{i}',
        `      parameters: {i: [${Array.from({ length: JOBS }, (_, i) => i + 1).join(', ')}]}`,
        `      command: test "$(wc -c < input/big.bin)" -eq ${SIZE}`,
        '      required_files: [{path: big.bin}]',
        '',
      ].join('\n');
    writeFileSync(join(dir, 'many.yaml'), yaml('many'));
    const started = Date.now();
    const add = await c.cli(['add', join(dir, 'many.yaml')]);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, new RegExp(`^queued ${JOBS} jobs of shared/many; can run on 2 of 2 known nodes \\(uploaded 1 of 1 files\\)$`, 'm'));
    await c.head.events('result_archived', JOBS, () => true, 90_000);
    const seconds = (Date.now() - started) / 1000;

    const headInputs = filesUnder(join(c.stateDir, 'inputs'));
    assert.equal(headInputs.length, 1, headInputs.join('\n'));
    assert.equal(statSync(headInputs[0]!).size, SIZE);
    let ran = 0;
    for (const node of ['left', 'right']) {
      const cached = readdirSync(join(c.workDirs.get(node)!, '.inputs')).filter((n) => !n.startsWith('.tmp'));
      const jobs = c.node(node).count('assigned');
      ran += jobs;
      if (jobs > 0) {
        assert.equal(cached.length, 1, `${node}: ${cached.join(', ')}`);
        assert.equal(c.node(node).count('input_fetched'), 1, `${node} fetched the input once`);
      }
    }
    assert.equal(ran, JOBS);
    const failed = c.head.count('result_archived', (l) => l.state !== 'done');
    assert.equal(failed, 0);
    // a second batch naming the same file uploads nothing
    writeFileSync(join(dir, 'again.yaml'), yaml('again'));
    const again = await c.cli(['add', join(dir, 'again.yaml'), '--dry']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^would queue 200 jobs of shared\/again; can run on 2 of 2 known nodes$/m);
    process.stdout.write(`# ${JOBS} jobs sharing a 10 MB input: ${seconds.toFixed(1)} s from add to the last archived result\n`);
  });
});
