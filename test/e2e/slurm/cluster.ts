// A real single-node Slurm for the end-to-end tests, brought up by up.sh beside this file
// with its state in a temporary folder and its own ports, and stopped by down.sh.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface SlurmCluster {
  /** the slurm.conf every Slurm command must be pointed at (SLURM_CONF) */
  conf: string;
  dir: string;
  stop(): Promise<void>;
}

/** Why Slurm cannot be brought up on this machine; null when it can. */
export function slurmUnavailable(): string | null {
  const onPath = (name: string) =>
    [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin'].some((d) => {
      try {
        accessSync(join(d, name), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  const missing = ['sbatch', 'squeue', 'slurmctld', 'slurmd', 'munged'].filter((n) => !onPath(n));
  if (missing.length) return `${missing.join(', ')} not installed (apt-get install -y slurm-wlm munge)`;
  if (process.getuid?.() !== 0) return 'not root: the test Slurm runs its daemons as root';
  return null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Runs a command to completion, collecting its output. */
export function runCommand(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function run(script: string, args: string[], env: NodeJS.ProcessEnv) {
  return runCommand('bash', [join(HERE, script), ...args], env);
}

/** Brings Slurm up with its state in `dir`; `extraConf` lines are appended to its slurm.conf. */
export async function startSlurm(dir: string, extraConf: string[] = []): Promise<SlurmCluster> {
  const [ctld, slurmd] = [await freePort(), await freePort()];
  const up = await run('up.sh', [dir], { SLURMCTLD_PORT: String(ctld), SLURMD_PORT: String(slurmd), SLURM_CONF_EXTRA: extraConf.join('\n') });
  if (up.code !== 0) {
    await run('down.sh', [dir], {});
    throw new Error(`up.sh failed with ${up.code}:\n${up.stdout}${up.stderr}`);
  }
  const conf = /SLURM_CONF=(\S+)/.exec(up.stdout)?.[1];
  if (!conf) throw new Error(`up.sh said nothing of its slurm.conf: ${up.stdout}`);
  return {
    conf,
    dir,
    stop: async () => {
      await run('down.sh', [dir], {});
    },
  };
}
