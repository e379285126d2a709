// Data: a job whose result is 1 GiB — one file, or 10,000 files of ~105 KiB — on a head and
// one compute daemon. Measured: from the job's end (the node's `finished` log line) to the
// result archived (the head's `result_archived` line), and `distribute pull` of it into a
// fresh folder, each in MB/s of the result's bytes; beside them `cp -r` of the same data on the
// same disk (the faster of two), and once followed by `sync` (the head fsyncs what it archives;
// a plain cp leaves it in the page cache). The data is random, so it does not compress (the
// node packs it as a plain tar), and it is made by the job before the clock starts.
// Peak resident memory (VmHWM) of the head, the compute daemon and the pulling CLI.
//
// Pull and cp are measured alike: pull, cp, pull, cp, each into a fresh folder after a `sync`
// (none runs while the gigabyte the one before left dirty is written back), nothing deleted in
// between, the faster of each pair kept. On an ext4 without a journal (this machine's),
// creating a file scans past every inode of its group freed in the last minute (six while the
// inode table is not yet written back): the first 10,000 files created after the node deleted
// its 10,000-file workspace pay a cost that grows with the square of the count, whatever comes
// next does not. Before, the one pull ran right after that deletion and the cps after it (the
// second right after the first's copy was deleted, the faster kept): the pull alone paid. The
// first pull, right after the job, is also shown on its own.
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { stringify } from 'yaml';
import { CLI } from '../helpers/cli.js';
import { BenchCluster, memoryOf, type LogLine } from './cluster.js';

export const GIB = 1024 ** 3;
const SMALL_FILES = 10_000;

export type DataShape = 'one file' | '10,000 files';

export interface DataResult {
  shape: DataShape;
  bytes: number;
  /** job end → archived on the head */
  archiveSeconds: number;
  /** `distribute pull` of the batch, start to exit, into a fresh folder: the faster of two */
  pullSeconds: number;
  /** the first of them, right after the node deleted the job's workspace */
  pullAfterJobSeconds: number;
  cpSeconds: number;
  cpSyncSeconds: number;
  peakRss: { head: number; node: number; cli: number };
}

function time(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<{ seconds: number; peakRss: number }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...opts.env }, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    let err = '';
    let peak = 0;
    // VmHWM only grows: the last reading before the exit is the peak, near enough
    const poll = setInterval(() => {
      memoryOf(child.pid!).then((m) => (peak = Math.max(peak, m.peak)), () => undefined);
    }, 20);
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(poll);
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${err.slice(-500)}`));
      resolve({ seconds: Number(process.hrtime.bigint() - start) / 1e9, peakRss: peak });
    });
  });
}

/** The job: random data into its save folder, as one file or split into 10,000. */
function jobCommand(shape: DataShape): string {
  const one = `head -c ${GIB} /dev/urandom > "$DISTRIBUTE_SAVE/data.bin"`;
  if (shape === 'one file') return one;
  const size = Math.ceil(GIB / SMALL_FILES);
  return `${one} && cd "$DISTRIBUTE_SAVE" && split -b ${size} -d -a 5 data.bin part_ && rm data.bin`;
}

const ms = (l: LogLine) => new Date(String(l.time)).getTime();

export async function dataRun(shape: DataShape, dir: string): Promise<DataResult> {
  const c = await BenchCluster.start({ nodes: [{ name: 'data', cpus: 1 }], prefix: 'data-', ...(process.env.BENCH_PROF ? { cpuProf: process.env.BENCH_PROF } : {}) });
  const name = shape === 'one file' ? 'data_one' : 'data_many';
  try {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, stringify({ meta: { batch_name: name, namespace: 'bench' }, shell: { jobs: [{ name: 'big', command: jobCommand(shape) }] } }));
    const add = await c.cli(['add', file]);
    if (add.code !== 0) throw new Error(`add failed: ${add.stderr}`);
    const node = c.nodes.get('data')!;
    const finished = await node.event('finished', () => true, 300_000);
    const archived = await c.head.event('result_archived', () => true, 300_000);
    if (archived.state !== 'done') throw new Error(`the data job ended ${String(archived.state)}: ${JSON.stringify(archived)}`);
    const archiveSeconds = (ms(archived) - ms(finished)) / 1000;

    const prof = (to: string) => (process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`, `--cpu-prof-name=${basename(to)}.cpuprofile`] : []);
    const pullInto = (to: string) => time(process.execPath, [...prof(to), CLI, 'pull', file, '--save-dir', to], { env: c.env() });
    // each timed step starts with nothing left to write back from the one before (untimed)
    const settle = () => time('sync', []);
    const pulled = join(dir, `${name}-pulled`);
    await settle();
    const afterJob = await pullInto(pulled);

    // the same bytes copied on the same disk: from the pulled copy (the job's folder is gone);
    // each twice, the faster kept: on a shared machine one run can be caught by another's load
    const source = join(pulled, name, 'big');
    await settle();
    const cp = await time('cp', ['-r', source, join(dir, `${name}-cp1`)]);
    await settle();
    const pull = await pullInto(join(dir, `${name}-pulled2`));
    await settle();
    const cpAgain = await time('cp', ['-r', source, join(dir, `${name}-cp2`)]);
    await settle();
    const cpSync = await time('sh', ['-c', `cp -r "${source}" "${join(dir, `${name}-cp3`)}" && sync`]);
    for (const done of ['pulled', 'pulled2', 'cp1', 'cp2', 'cp3']) rmSync(join(dir, `${name}-${done}`), { recursive: true, force: true });
    const [head, nodeMem] = await Promise.all([c.head.memory(), node.memory()]);
    return {
      shape,
      bytes: GIB,
      archiveSeconds,
      pullSeconds: Math.min(afterJob.seconds, pull.seconds),
      pullAfterJobSeconds: afterJob.seconds,
      cpSeconds: Math.min(cp.seconds, cpAgain.seconds),
      cpSyncSeconds: cpSync.seconds,
      peakRss: { head: head.peak, node: nodeMem.peak, cli: Math.max(afterJob.peakRss, pull.peakRss) },
    };
  } finally {
    await c.stop();
  }
}

export function mbps(bytes: number, seconds: number): number {
  return bytes / 1e6 / seconds;
}
