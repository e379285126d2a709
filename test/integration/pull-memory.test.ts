// A large result archived and pulled with flat memory: the head takes the upload, lists it,
// then streams the member out of its .tar.gz; the CLI writes it to disk; all with backpressure.
// The resident memory (VmRSS in /proc/<pid>/status) of the head is sampled from before the
// batch is added to the end of the pull, the CLI's during the pull; each must grow by less than
// 100 MB. 200 MiB always; 1 GiB when DISTRIBUTE_TEST_BIG=1 (or CI is set). The
// content is zeros (`head -c N /dev/zero`): gzip packs it fast on the node, and the pull, a plain
// tar stream, carries every byte all the same. Speed is measured by the bench, not here.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestCluster } from '../helpers/cluster.js';
import { spawnCli } from '../helpers/cli.js';
import { partName } from '../../src/remote/extract.js';

const MiB = 1024 * 1024;
const BIG = process.env.DISTRIBUTE_TEST_BIG === '1' || !!process.env.CI;
const SIZE = BIG ? 1024 * MiB : 200 * MiB;
const MAX_GROWTH = 100 * 1000 * 1000;

function rss(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

describe(`pulling a ${SIZE / MiB} MiB result`, () => {
  let c: TestCluster;
  let file: string;
  let headBase = 0;
  let headPeak = 0;
  let sampler: NodeJS.Timeout | undefined;
  before(async () => {
    c = await TestCluster.start({ nodes: [{ name: 'n1', capabilities: ['shell'], cpus: 1 }] });
    headBase = headPeak = rss(c.head.pid)!;
    sampler = setInterval(() => (headPeak = Math.max(headPeak, rss(c.head.pid) ?? 0)), 25);
    file = join(c.root, 'huge.yaml');
    writeFileSync(file, ['meta:', '  batch_name: huge', '  namespace: lab', '  capabilities: [shell]', 'shell:', '  jobs:', '    - name: one', `      command: 'head -c ${SIZE} /dev/zero > "$DISTRIBUTE_SAVE/big.bin"'`, ''].join('\n'));
    assert.equal((await c.cli(['add', file])).code, 0);
    await c.head.event('result_archived', () => true, 180_000);
  });
  after(async () => {
    clearInterval(sampler);
    await c?.stop();
  });

  it('keeps the head\'s and the CLI\'s resident memory within 100 MB of where it started', async () => {
    const save = join(c.root, 'save');
    const landing = join(save, 'huge', 'one', partName('big.bin'));
    const headBeforePull = rss(c.head.pid)!;
    const cli = spawnCli(['pull', file, '--save-dir', save], { env: c.env(await c.user('alice')), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    cli.stderr!.on('data', (d: Buffer) => (stderr += d));
    const exited = new Promise<number | null>((r) => cli.once('exit', (code) => r(code)));
    let cliBase: number | null = null;
    let cliPeak = 0;
    let samples = 0;
    let done = false;
    void exited.then(() => (done = true));
    const started = Date.now();
    while (!done) {
      const h = rss(c.head.pid);
      const k = rss(cli.pid!);
      if (h !== null) headPeak = Math.max(headPeak, h);
      // the CLI's start: once its modules are loaded and the first bytes land
      if (cliBase === null && k !== null && existsSync(landing)) cliBase = k;
      if (cliBase !== null && k !== null) {
        cliPeak = Math.max(cliPeak, k);
        samples++;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    const seconds = (Date.now() - started) / 1000;
    assert.equal(await exited, 0, stderr);
    assert.equal(statSync(join(save, 'huge', 'one', 'big.bin')).size, SIZE);
    assert.ok(samples >= 5, `only ${samples} samples of the CLI during the pull`);
    const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
    const figures = `head ${mb(headBase)} → ${mb(headBeforePull)} archived → peak ${mb(headPeak)}; CLI ${mb(cliBase!)} → peak ${mb(cliPeak)}; ${SIZE / MiB} MiB in ${seconds.toFixed(1)} s, ${samples} samples`;
    console.log(`# pull memory: ${figures}`);
    assert.ok(headPeak - headBase < MAX_GROWTH, `the head grew too much: ${figures}`);
    assert.ok(cliPeak - cliBase! < MAX_GROWTH, `the CLI grew too much: ${figures}`);
  });
});
