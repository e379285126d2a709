// The optional job sandbox (`sandbox: bwrap` in compute.yaml): a job sees the machine's
// file system read-only and can write only its own attempt folder (and a private /tmp),
// so it cannot touch the files of the person whose workstation it borrows, nor another
// job's workspace.
//
// The job's command line is wrapped in bubblewrap:
//   bwrap --die-with-parent
//         --ro-bind / /                   the whole system, read-only
//         --dev /dev [--dev-bind <gpu>]   a minimal /dev, plus the GPU device nodes
//         --proc /proc --tmpfs /tmp       a private, empty /tmp (in memory)
//         --tmpfs <work_dir>              other workspaces, the input cache and the result spool vanish
//         --tmpfs <dir> | --dev-bind /dev/null <file>  each hidden path (the node token, the control socket)
//         --bind <attempt> <attempt>      the job's workspace, writable (input/, distribute_save/, logs)
//         --ro-bind-try <build> <build>   the batch's build folder, read-only for jobs
//         --chdir <cwd> -- <argv...>
//
// No --new-session and no --unshare-pid, on purpose: the runner signals the job's process
// group (pause = SIGSTOP, cancel = SIGTERM/SIGKILL to -pgid), and bwrap and the job must stay
// in that group for a pause or kill to reach every descendant. --new-session would call
// setsid() inside and take the job out of the group. What --new-session guards against (a
// job pushing keystrokes into a terminal with TIOCSTI) cannot happen here: the runner already
// starts the job in a session of its own with no controlling terminal and stdin closed.
// --die-with-parent: if bwrap itself dies, the job gets SIGKILL.
//
// bwrap reports a job that killed itself with signal N as exit code 128+N (as a shell does);
// a job stopped by the runner (cancel, time limit) is recorded with its signal as usual,
// since bwrap, in the same group, dies of it too. The network is not cut off: jobs use MPI,
// licence servers and the head's file shares.
import { spawnSync } from 'node:child_process';
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isOnPath } from './container.js';

export interface SandboxPolicy {
  /** paths the job must not see (a folder appears empty, a file empty): token file, control socket */
  hide: string[];
  /** the bubblewrap program; default `bwrap` from PATH */
  program?: string;
}

export interface SandboxView {
  /** root of every workspace on this machine: hidden but for the folders below */
  workDir: string;
  /** folders the job may write (its attempt folder; the build folder for the build step) */
  writable: string[];
  /** folders the job may read although they are under workDir (the build folder for jobs) */
  readOnly: string[];
  /** the job's working directory */
  cwd: string;
}

/** The real path of `p` when it exists (binds must name real paths), else `p`. */
function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** GPU device nodes the job may need: NVIDIA's and the DRM render nodes. */
export function gpuDevices(devDir = '/dev'): string[] {
  let names: string[];
  try {
    names = readdirSync(devDir);
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith('nvidia') || n === 'dri' || n === 'kfd').sort().map((n) => join(devDir, n));
}

/** The bwrap command line that runs `argv` in the sandbox. */
export function sandboxArgv(policy: SandboxPolicy, view: SandboxView, argv: string[]): string[] {
  const out = [policy.program ?? 'bwrap', '--die-with-parent', '--ro-bind', '/', '/', '--dev', '/dev'];
  for (const d of gpuDevices()) out.push('--dev-bind-try', d, d);
  out.push('--proc', '/proc', '--tmpfs', '/tmp', '--tmpfs', real(view.workDir));
  for (const h of policy.hide) {
    let isDir: boolean;
    try {
      isDir = statSync(h).isDirectory();
    } catch {
      continue; // nothing there to hide
    }
    if (isDir) out.push('--tmpfs', real(h));
    // binds are nodev unless --dev-bind: /dev/null must stay a device to read as empty
    else out.push('--dev-bind', '/dev/null', real(h));
  }
  for (const w of view.writable) out.push('--bind', real(w), real(w));
  for (const r of view.readOnly) out.push('--ro-bind-try', real(r), real(r));
  out.push('--chdir', real(view.cwd), '--', ...argv);
  return out;
}

/**
 * Whether the sandbox works on this machine: bwrap installed, and allowed to make its
 * namespaces (unprivileged user namespaces enabled, or a setuid bwrap). Null when it works,
 * else what to do about it. The compute daemon checks this at start, so a misconfigured node
 * refuses to start rather than failing every job.
 */
export function sandboxProblem(policy: SandboxPolicy, env: NodeJS.ProcessEnv = process.env): string | null {
  const program = policy.program ?? 'bwrap';
  if (!program.includes('/') && !isOnPath(program, env.PATH)) return `sandbox: bwrap is not installed (apt-get install bubblewrap, dnf install bubblewrap), or set sandbox: none`;
  const r = spawnSync(program, ['--die-with-parent', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--', 'true'], { encoding: 'utf8', env, timeout: 10_000 });
  if (r.error) return `sandbox: cannot run ${program}: ${r.error.message}`;
  if (r.status !== 0) {
    const why = (r.stderr || '').trim().split('\n').pop() ?? '';
    return `sandbox: ${program} cannot make its sandbox here (${why || `exit ${r.status}`}); enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) or set sandbox: none`;
  }
  return null;
}
