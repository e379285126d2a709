// The real-Slurm peer: a single-node Slurm brought up by the project's own test/e2e/slurm/up.sh
// (tuned as there: no scheduling delay between passes), given the same N trivial jobs as one
// job array (`--array=0-(N-1)`, each task `true`), timed from `sbatch` to the moment squeue no
// longer lists any task of the array (polled every 100 ms).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand as run, slurmUnavailable, startSlurm } from '../e2e/slurm/cluster.js';
import type { PeerResult } from './peers.js';

const NAME = 'Slurm (1 node, job array)';

export async function slurmPeer(n: number, dir: string): Promise<PeerResult> {
  const why = slurmUnavailable();
  if (why) return { name: NAME, jobs: n, seconds: null, note: why };
  // Slurm's default MaxArraySize (1001) is below the benchmark's array
  const slurm = await startSlurm(join(dir, 'slurm'), [`MaxArraySize=${Math.max(1001, n + 1)}`]);
  try {
    const env = { SLURM_CONF: slurm.conf };
    const script = join(dir, 'true.sbatch');
    writeFileSync(script, '#!/bin/sh\n#SBATCH --output=/dev/null\n#SBATCH --error=/dev/null\n#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=1\ntrue\n');
    const start = process.hrtime.bigint();
    const sub = await run('sbatch', ['--parsable', `--array=0-${n - 1}`, script], env);
    if (sub.code !== 0) return { name: NAME, jobs: n, seconds: null, note: `sbatch failed: ${sub.stderr.trim()}` };
    const id = sub.stdout.trim().split(';')[0]!;
    const deadline = Date.now() + 600_000;
    for (;;) {
      const q = await run('squeue', ['-h', '-j', id, '-o', '%i'], env);
      if (q.code === 0 && q.stdout.trim() === '') break;
      if (/Invalid job id/i.test(q.stderr)) break; // finished and already purged
      if (Date.now() > deadline) return { name: NAME, jobs: n, seconds: null, note: 'did not finish within 10 minutes' };
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    return { name: NAME, jobs: n, seconds, note: 'sbatch to empty squeue; OverSubscribe=FORCE:10 as tuned' };
  } finally {
    await slurm.stop();
  }
}
