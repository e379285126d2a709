// The peers that run here, each given the same N trivial jobs (`true`) two at a time.
// Each returns the wall time from first submission to last completion, or null when the
// peer is not installed (the table says so).
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PeerResult {
  name: string;
  jobs: number;
  seconds: number | null;
  note?: string;
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

function timeShell(script: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn('/bin/sh', ['-c', script], { stdio: ['ignore', 'ignore', 'pipe'], env });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`peer script failed (${code}): ${script}\n${err}`));
      resolve(Number(process.hrtime.bigint() - start) / 1e9);
    });
  });
}

export async function xargs(n: number): Promise<PeerResult> {
  return { name: 'xargs -P 2', jobs: n, seconds: await timeShell(`seq ${n} | xargs -P 2 -n 1 true`) };
}

export async function gnuParallel(n: number): Promise<PeerResult> {
  if (!have('parallel')) return { name: 'GNU parallel -j 2', jobs: n, seconds: null, note: 'not installed' };
  return { name: 'GNU parallel -j 2', jobs: n, seconds: await timeShell(`seq ${n} | parallel --will-cite -j 2 true`) };
}

export async function taskSpooler(n: number, dir: string): Promise<PeerResult> {
  const bin = have('tsp') ? 'tsp' : have('ts') ? 'ts' : null;
  if (!bin) return { name: 'task-spooler (2 slots)', jobs: n, seconds: null, note: 'not installed' };
  // A private server socket so a user's own queue is untouched.
  const env = { ...process.env, TS_SOCKET: join(dir, 'tsp.sock'), TS_MAXFINISHED: String(n + 10), TS_SAVELIST: '' };
  spawnSync(bin, ['-K'], { env });
  spawnSync(bin, ['-S', '2'], { env });
  const seconds = await timeShell(`for i in $(seq ${n}); do ${bin} -n true >/dev/null; done; ${bin} -w >/dev/null 2>&1 || true; while ${bin} | grep -q -E 'running|queued'; do ${bin} -w >/dev/null 2>&1 || true; done`, env);
  spawnSync(bin, ['-K'], { env });
  return { name: 'task-spooler (2 slots)', jobs: n, seconds };
}

export async function dask(n: number, dir: string): Promise<PeerResult> {
  const python = '/usr/bin/python3';
  if (spawnSync(python, ['-c', 'import distributed']).status !== 0) return { name: 'Dask distributed (2 procs)', jobs: n, seconds: null, note: 'python3-distributed not installed' };
  const script = join(dir, 'dask_bench.py');
  writeFileSync(script, `
import subprocess, sys, time
from distributed import Client, LocalCluster
def run_true(i):
    return subprocess.run(['true']).returncode
if __name__ == '__main__':
    n = int(sys.argv[1])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        client.submit(run_true, -1).result()  # warm: workers up before timing
        t = time.perf_counter()
        codes = client.gather(client.map(run_true, range(n)))
        elapsed = time.perf_counter() - t
        assert all(c == 0 for c in codes)
        print(elapsed)
`);
  const r = spawnSync(python, [script, String(n)], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) return { name: 'Dask distributed (2 procs)', jobs: n, seconds: null, note: `failed: ${r.stderr.split('\n').slice(-3).join(' ')}` };
  return { name: 'Dask distributed (2 procs)', jobs: n, seconds: Number(r.stdout.trim().split('\n').pop()), note: 'timed from submit, cluster already up' };
}
