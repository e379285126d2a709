// One job attempt, or one batch's initialize step, on this machine (docs/architecture.md, A job on a compute node): a fresh
// workspace, the DISTRIBUTE_* environment, the process in its own group, logs to files as
// it runs, the time limit, cancel/pause/resume of the whole group, and `result.json`.
// Used by `distribute run` (src/local) and by the compute daemon alike.
//
// A failure before the process starts (a missing input, no container runtime, no such
// program) does not throw: the attempt fails with `error` set, the message also written to
// its stderr.log, so every attempt ends with a result to report.
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { attemptPaths, buildArgv, jobArgv, jobEnv, type AttemptPaths } from '../shared/spec/command.js';
import type { BatchSpec, JobSpec } from '../shared/spec/types.js';
import { errorMessage } from '../shared/errors.js';
import { silentLogger, type Logger } from '../shared/log.js';
import { formatMeasuredSize, formatSlurmSize } from '../shared/spec/units.js';
import { OUT_OF_MEMORY } from '../shared/memory-fit.js';
import { containedGroup, endCgroup } from './cgroup/contained.js';
import { cgroupName } from './cgroup/files.js';
import { joinArgv, type CgroupUsage, type Containment, type JobCgroup } from './cgroup/types.js';
import { findContainerRuntime } from './container.js';
import type { Need } from './local-slots.js';
import { spawnGroup, type GroupExit, type Spawner } from './process-group.js';
import { sandboxArgv, type SandboxPolicy } from './sandbox.js';
import { Supervision, DEFAULT_KILL_GRACE_MS } from './supervision.js';
import { buildMetaDir, prepareAttemptDir, prepareBuildDir, type InputFile } from './workspace.js';
import { linkBuildOutputs } from './build-links.js';
import { watchGroupUsage } from './group-usage.js';
import type { JobIdentity, JobUids } from './job-uids.js';
import { ownAttemptDir, ownBuildDir, reclaimBuildDir, reclaimMeta } from './job-workspace.js';
import type { Clock } from './time-limit.js';

export { DEFAULT_KILL_GRACE_MS } from './supervision.js';
export type { InputFile } from './workspace.js';
export type { SandboxPolicy } from './sandbox.js';

/** The part of a batch the runner needs. */
export type BatchForRunner = Pick<BatchSpec, 'meta' | 'kind' | 'initialize'>;

/** What `_distribute/result.json` of an attempt holds. */
export interface AttemptResult {
  namespace: string;
  batch: string;
  job: string;
  node: string;
  attempt: number;
  /** exit status of the job's process; null when it died of a signal or never started */
  exit_code: number | null;
  /** the signal that ended it (`SIGKILL`), or null */
  signal: string | null;
  /** ended by its time limit */
  timed_out: boolean;
  /** ended by cancel() */
  cancelled: boolean;
  /** why the attempt failed before or while starting its process; null otherwise */
  error: string | null;
  /** exit code 0, not timed out, not cancelled */
  success: boolean;
  /** ISO time the process started (or the attempt, if it never started) */
  start: string;
  /** ISO time it ended */
  end: string;
  /** killed by the kernel at its memory limit */
  out_of_memory: boolean;
  /** what it used, from its cgroup; cpu and memory null without one */
  usage: Usage;
}

/** What an attempt used: CPU time (user + system) and peak memory of all its processes, and wall time. */
export interface Usage extends CgroupUsage {
  wall_seconds: number;
}

/** The error of an attempt killed at its memory limit: `out of memory: peak 256.0M, limit 256M`. */
export function outOfMemoryMessage(peak: number | null, limit: number | null): string {
  return `${OUT_OF_MEMORY}: peak ${peak === null ? '?' : formatMeasuredSize(peak)}, limit ${limit === null ? '?' : formatSlurmSize(limit)}`;
}

/** Where a job's processes are put and what limits them (compute/cgroup). */
export interface ContainmentOptions {
  containment: Containment;
  /** most processes and threads of one job (or build) at once; null: no limit */
  maxProcesses: number | null;
  /** a uid of its own for each job and build (the daemon runs as root); absent: the daemon's */
  uids?: JobUids | null;
}

/** The job's own uid, its folder given to it; null when jobs run as the daemon's user. */
async function takeIdentity(c: ContainmentOptions | undefined, own: (id: JobIdentity) => Promise<void>): Promise<JobIdentity | null> {
  if (!c?.uids) return null;
  const id = await c.uids.acquire();
  try {
    await own(id);
  } catch (err) {
    await c.uids.release(id);
    throw err;
  }
  return id;
}

/** Gives the uid back once none of its processes is left. */
async function giveBack(c: ContainmentOptions | undefined, id: JobIdentity | null, log: Logger): Promise<void> {
  if (!id || !c?.uids) return;
  const left = await c.uids.release(id);
  if (left.length > 0) log.error({ uid: id.uid, pids: left }, 'processes of the job\'s uid would not die: the uid stays out of use');
}

/** A job under its own uid has its workspace as home (the daemon's is not readable to it). */
const identityEnv = (id: JobIdentity | null, home: string): Record<string, string> => (id ? { HOME: home } : {});

/** The cgroup of a job about to start; null under process groups. */
async function makeCgroup(c: ContainmentOptions | undefined, name: string[], memory: number | null): Promise<JobCgroup | null> {
  if (!c) return null;
  return c.containment.create(cgroupName(name), { memoryBytes: memory, maxProcesses: c.maxProcesses });
}

export interface RunningAttempt {
  readonly paths: AttemptPaths;
  /** pid of the job's process (and its process group id); null until started, or if it never starts */
  readonly pid: number | null;
  /** resolves with the pid once the process runs (null if it never does) */
  readonly started: Promise<number | null>;
  /** resolves (never rejects) once the process group is gone and result.json is written */
  readonly done: Promise<AttemptResult>;
  readonly paused: boolean;
  /** Ends the job: SIGTERM to its group, SIGKILL after the grace; a second call kills at once. */
  cancel(reason: string): void;
  /** SIGSTOP to the whole group; the time limit stops counting. */
  pause(): void;
  /** SIGCONT to the whole group; the time limit counts again. */
  resume(): void;
}

export interface StartAttemptOptions {
  batch: BatchForRunner;
  job: JobSpec;
  /** 1 for the first attempt */
  attempt: number;
  /** root of every workspace on this machine */
  workDir: string;
  /** this machine's name, recorded in result.json */
  node: string;
  /** cpus given to the job: DISTRIBUTE_CPUS and the python/apptainer argument */
  cpus: number;
  /** GPU indices given to the job (CUDA_VISIBLE_DEVICES); null leaves the inherited value */
  gpus: number[] | null;
  /** the job's and the initialize step's required files, placed in `input/` */
  inputs: InputFile[];
  /** python: the job's file, placed as `run.py`; null otherwise */
  jobFile: string | null;
  logger?: Logger;
  /** between SIGTERM and SIGKILL when the time limit strikes or on cancel; default 10 s */
  killGraceMs?: number;
  /** the environment the DISTRIBUTE_* variables are laid over; default process.env */
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  /** run the job in the bwrap sandbox (compute/sandbox.ts): it writes only its attempt folder */
  sandbox?: SandboxPolicy | null;
  /** the attempt folder exists already, empty, with its input/, distribute_save/ and _distribute/ (recycled) */
  workspaceReady?: boolean;
  /** starts the job's process group; default: this process spawns it (the daemon uses its launcher) */
  spawn?: Spawner;
  /**
   * wait for this much room on the node before the process starts (see GroupSpawnOptions.room);
   * the folder is prepared first, and a cancel meanwhile means it never starts
   */
  need?: Need;
  /** a cgroup per attempt (compute daemon); default: the process group alone */
  containment?: ContainmentOptions;
  /**
   * the caller logs each attempt's start and end itself (the compute daemon, with the attempt's
   * id): the runner's own lines for them go at debug, not one more synchronous info line each
   */
  quiet?: boolean;
  /** the finalize step: its environment beside DISTRIBUTE_*, and what fills its folder once prepared */
  finalize?: { env: Record<string, string>; prepare: (paths: AttemptPaths) => Promise<void> };
}

/** Starts one attempt of a job. Returns at once; the work goes on in the background. */
export function startAttempt(opts: StartAttemptOptions): RunningAttempt {
  const { batch, job, attempt, node } = opts;
  const log = (opts.logger ?? silentLogger()).child({ namespace: batch.meta.namespace, batch: batch.meta.batch_name, job: job.name, attempt });
  const paths = attemptPaths(opts.workDir, batch.meta.namespace, batch.meta.batch_name, job.name, attempt);
  const limitMs = job.resources.time === null ? null : job.resources.time * 1000;
  const sup = new Supervision(limitMs, opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS, opts.clock, () => log.warn({ limit_s: job.resources.time }, 'time limit reached'));
  let pid: number | null = null;
  let resolveStarted!: (pid: number | null) => void;
  const started = new Promise<number | null>((r) => (resolveStarted = r));
  // a cancel while the job waits for room: it leaves the wait and never starts
  const waitEnded = new AbortController();
  const stdoutLog = join(paths.meta, 'stdout.log');
  const stderrLog = join(paths.meta, 'stderr.log');

  const finish = async (exit: GroupExit, start: Date, error: string | null, ended: { usage: CgroupUsage; oomKilled: boolean } | null = null): Promise<AttemptResult> => {
    const cancelled = sup.cancelled;
    const end = new Date();
    const failed = !(exit.code === 0 && !sup.timedOut && !cancelled && error === null);
    const outOfMemory = failed && (ended?.oomKilled ?? false);
    if (outOfMemory && error === null) error = outOfMemoryMessage(ended?.usage.peak_memory_bytes ?? null, job.resources.memory);
    const result: AttemptResult = {
      namespace: batch.meta.namespace,
      batch: batch.meta.batch_name,
      job: job.name,
      node,
      attempt,
      exit_code: exit.code,
      signal: exit.signal,
      timed_out: sup.timedOut,
      cancelled,
      error,
      success: exit.code === 0 && !sup.timedOut && !cancelled && error === null,
      start: start.toISOString(),
      end: end.toISOString(),
      out_of_memory: outOfMemory,
      usage: { cpu_seconds: ended?.usage.cpu_seconds ?? null, peak_memory_bytes: ended?.usage.peak_memory_bytes ?? null, wall_seconds: (end.getTime() - start.getTime()) / 1000 },
    };
    if (error !== null) await appendFile(stderrLog, `distribute: ${error}\n`).catch(() => {});
    try {
      await writeFile(join(paths.meta, 'result.json'), JSON.stringify(result, null, 2) + '\n');
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'cannot write result.json');
    }
    log[opts.quiet ? 'debug' : 'info']({ exit_code: result.exit_code, signal: result.signal, timed_out: result.timed_out, cancelled, error }, result.success ? 'attempt succeeded' : 'attempt failed');
    return result;
  };

  const done = (async (): Promise<AttemptResult> => {
    const start = new Date();
    const notStarted: GroupExit = { code: null, signal: null, error: null };
    let argv: string[];
    try {
      const init = batch.initialize;
      await prepareAttemptDir(paths, {
        inputs: opts.inputs,
        jobFile: batch.kind === 'python' ? opts.jobFile : null,
        mounts: init.kind === 'apptainer' ? init.requiredMounts.length : 0,
      }, opts.workspaceReady ?? false);
      await linkBuildOutputs(paths);
      if (opts.finalize) await opts.finalize.prepare(paths);
      let container = 'apptainer';
      if (batch.kind === 'apptainer') {
        const found = findContainerRuntime((opts.env ?? process.env).PATH);
        if (!found) throw new Error('apptainer job, but neither apptainer nor singularity is on PATH');
        container = found;
      }
      if (batch.kind === 'python' && opts.jobFile === null) throw new Error('python job without a job file');
      argv = jobArgv(batch.kind, init, job, paths, opts.cpus, container);
      if (opts.sandbox) argv = sandboxArgv(opts.sandbox, { workDir: opts.workDir, writable: [paths.root], readOnly: [paths.build], cwd: paths.root }, argv);
    } catch (err) {
      resolveStarted(null);
      return finish(notStarted, start, `${job.name}: ${errorMessage(err)}`);
    }
    if (sup.cancelled) {
      resolveStarted(null);
      return finish(notStarted, start, null);
    }
    let id: JobIdentity | null;
    try {
      id = await takeIdentity(opts.containment, (i) => ownAttemptDir(opts.workDir, paths, i));
    } catch (err) {
      resolveStarted(null);
      return finish(notStarted, start, `${job.name}: cannot give it a uid of its own: ${errorMessage(err)}`);
    }
    const env = { ...(opts.env ?? process.env), ...identityEnv(id, paths.root), ...jobEnv({ batch, job, paths, cpus: opts.cpus, attempt, gpus: opts.gpus }), ...opts.finalize?.env };
    let cg: JobCgroup | null;
    try {
      cg = await makeCgroup(opts.containment, ['job', batch.meta.namespace, batch.meta.batch_name, job.name, String(attempt)], job.resources.memory);
    } catch (err) {
      resolveStarted(null);
      await giveBack(opts.containment, id, log);
      return finish(notStarted, start, `${job.name}: cannot make its cgroup: ${errorMessage(err)}`);
    }
    let group;
    try {
      group = await (opts.spawn ?? spawnGroup)({ argv: joinArgv(cg?.procsFiles ?? [], argv, id), cwd: paths.root, env, stdoutPath: stdoutLog, stderrPath: stderrLog, ...(opts.need ? { room: { need: opts.need, cancelled: waitEnded.signal } } : {}) });
    } catch (err) {
      resolveStarted(null);
      if (cg) await endCgroup(cg, log);
      await giveBack(opts.containment, id, log);
      return finish(notStarted, start, `${job.name}: cannot start ${argv[0]}: ${errorMessage(err)}`);
    }
    if (cg) group = containedGroup(group, cg, log);
    // after any wait for room: when the process started
    const spawnedAt = new Date();
    pid = group.pid;
    if (pid !== null) sup.attach(group);
    resolveStarted(pid);
    if (pid !== null) log[opts.quiet ? 'debug' : 'info']({ pid, argv }, 'attempt started');
    // without a cgroup, what it used is sampled from its process group (group-usage.ts)
    const sampled = !cg && pid !== null ? watchGroupUsage(pid) : null;
    const exit = await group.exited;
    sup.finish();
    // every process of the job is gone before its result is written
    const ended = cg ? await endCgroup(cg, log) : sampled ? { usage: sampled.stop(), oomKilled: false } : null;
    await giveBack(opts.containment, id, log);
    if (id) await reclaimMeta(paths.meta).catch((err: unknown) => log.error({ err: errorMessage(err) }, 'cannot reclaim _distribute/'));
    const error = exit.error ? `${job.name}: cannot start ${argv[0]}: ${errorMessage(exit.error)}` : null;
    return finish(exit, spawnedAt, error, ended);
  })();

  return {
    paths,
    get pid() {
      return pid;
    },
    started,
    done,
    get paused() {
      return sup.paused;
    },
    cancel: (reason) => {
      log.info({ reason }, 'cancel');
      waitEnded.abort();
      sup.cancel(reason);
    },
    pause: () => sup.pause(),
    resume: () => sup.resume(),
  };
}

/** The build folder of a batch on this machine: `<work_dir>/<namespace>/<batch>/build/`. */
export function buildDir(workDir: string, meta: BatchSpec['meta']): string {
  // attemptPaths owns the layout; the job and attempt do not change the build folder
  return attemptPaths(workDir, meta.namespace, meta.batch_name, 'build', 1).build;
}

export interface BuildResult {
  /** the build succeeded (or there was nothing to run) */
  ok: boolean;
  /** false when the batch has no initialize command: its files were placed, nothing ran */
  ran: boolean;
  dir: string;
  stdoutLog: string;
  stderrLog: string;
  exit_code: number | null;
  signal: string | null;
  cancelled: boolean;
  error: string | null;
  start: string;
  end: string;
}

export interface RunningBuild {
  readonly dir: string;
  readonly done: Promise<BuildResult>;
  /** as RunningAttempt.cancel */
  cancel(reason: string): void;
  /** pid (and process group id) of the build's process while it runs; null otherwise */
  readonly pid: number | null;
  /** as RunningAttempt.pause and resume: SIGSTOP / SIGCONT to the whole group */
  pause(): void;
  resume(): void;
}

export interface BuildOptions {
  batch: BatchForRunner;
  workDir: string;
  /** the initialize step's required files, placed in the build folder under their alias */
  inputs: InputFile[];
  /** python: the build file, placed as `build.py` */
  buildFile: string | null;
  /** apptainer: the image, placed in the build folder under its alias */
  sif: InputFile | null;
  /** DISTRIBUTE_CPUS of the build; default 1 */
  cpus?: number;
  logger?: Logger;
  killGraceMs?: number;
  env?: NodeJS.ProcessEnv;
  /** as StartAttemptOptions.sandbox; the build step writes only its build folder */
  sandbox?: SandboxPolicy | null;
  /** as StartAttemptOptions.containment; a build has no memory limit */
  containment?: ContainmentOptions;
}

/**
 * The environment of the initialize step: the batch's names and DISTRIBUTE_BUILD (its own
 * folder, its cwd). It has no job, save or input folder.
 */
function buildEnv(batch: BatchForRunner, dir: string, cpus: number): Record<string, string> {
  return {
    DISTRIBUTE_BATCH_NAME: batch.meta.batch_name,
    DISTRIBUTE_NAMESPACE: batch.meta.namespace,
    DISTRIBUTE_BUILD: dir,
    DISTRIBUTE_CPUS: String(cpus),
  };
}

/**
 * Runs the batch's initialize step in a fresh build folder, logs in `build/_distribute/`.
 * Jobs see the folder as DISTRIBUTE_BUILD. Not time-limited.
 */
export function startBuild(opts: BuildOptions): RunningBuild {
  const { batch } = opts;
  const log = (opts.logger ?? silentLogger()).child({ namespace: batch.meta.namespace, batch: batch.meta.batch_name, step: 'build' });
  const dir = buildDir(opts.workDir, batch.meta);
  const meta = buildMetaDir(dir);
  const stdoutLog = join(meta, 'stdout.log');
  const stderrLog = join(meta, 'stderr.log');
  const sup = new Supervision(null, opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS);
  let pid: number | null = null;

  const finish = async (exit: GroupExit, ran: boolean, start: Date, error: string | null): Promise<BuildResult> => {
    const result: BuildResult = {
      ok: exit.code === 0 && !sup.cancelled && error === null,
      ran,
      dir,
      stdoutLog,
      stderrLog,
      exit_code: exit.code,
      signal: exit.signal,
      cancelled: sup.cancelled,
      error,
      start: start.toISOString(),
      end: new Date().toISOString(),
    };
    if (error !== null) await appendFile(stderrLog, `distribute: ${error}\n`).catch(() => {});
    const { ok: _ok, dir: _d, stdoutLog: _o, stderrLog: _e, ...record } = result;
    await writeFile(join(meta, 'result.json'), JSON.stringify({ ...record, success: result.ok }, null, 2) + '\n').catch((err: unknown) =>
      log.error({ err: errorMessage(err) }, 'cannot write the build result.json'),
    );
    log.info({ ok: result.ok, exit_code: result.exit_code, signal: result.signal, error }, result.ok ? 'build succeeded' : 'build failed');
    return result;
  };

  const done = (async (): Promise<BuildResult> => {
    const start = new Date();
    const success: GroupExit = { code: 0, signal: null, error: null };
    const notStarted: GroupExit = { code: null, signal: null, error: null };
    const command = buildArgv(batch.initialize);
    const argv = command && opts.sandbox ? sandboxArgv(opts.sandbox, { workDir: opts.workDir, writable: [dir], readOnly: [], cwd: dir }, command) : command;
    try {
      if (batch.kind === 'python' && argv !== null && opts.buildFile === null) throw new Error('python build without a build file');
      await prepareBuildDir(dir, { inputs: opts.inputs, buildFile: opts.buildFile, sif: opts.sif });
      // the logs exist even when nothing runs, so every build has them
      await Promise.all([writeFile(stdoutLog, ''), writeFile(stderrLog, '')]);
    } catch (err) {
      return finish(notStarted, false, start, `build of ${batch.meta.batch_name}: ${errorMessage(err)}`);
    }
    if (argv === null) return finish(sup.cancelled ? notStarted : success, false, start, null);
    if (sup.cancelled) return finish(notStarted, false, start, null);
    const cpus = opts.cpus ?? 1;
    let id: JobIdentity | null;
    try {
      id = await takeIdentity(opts.containment, (i) => ownBuildDir(opts.workDir, dir, i));
    } catch (err) {
      return finish(notStarted, false, start, `build: cannot give it a uid of its own: ${errorMessage(err)}`);
    }
    // after the build, its folder is root's and readable to the batch's jobs
    const endIdentity = async () => {
      await giveBack(opts.containment, id, log);
      if (id) await Promise.all([reclaimBuildDir(dir), reclaimMeta(meta)]).catch((err: unknown) => log.error({ err: errorMessage(err) }, 'cannot take the build folder back'));
    };
    const env = { ...(opts.env ?? process.env), ...identityEnv(id, dir), ...buildEnv(batch, dir, cpus) };
    const spawnedAt = new Date();
    let cg: JobCgroup | null;
    try {
      cg = await makeCgroup(opts.containment, ['build', batch.meta.namespace, batch.meta.batch_name], null);
    } catch (err) {
      await endIdentity();
      return finish(notStarted, false, start, `build: cannot make its cgroup: ${errorMessage(err)}`);
    }
    let group;
    try {
      group = spawnGroup({ argv: joinArgv(cg?.procsFiles ?? [], argv, id), cwd: dir, env, stdoutPath: stdoutLog, stderrPath: stderrLog });
    } catch (err) {
      if (cg) await endCgroup(cg, log);
      await endIdentity();
      return finish(notStarted, false, start, `build: cannot start ${argv[0]}: ${errorMessage(err)}`);
    }
    if (cg) group = containedGroup(group, cg, log);
    if (group.pid !== null) sup.attach(group);
    pid = group.pid;
    log.info({ pid: group.pid, argv }, 'build started');
    const exit = await group.exited;
    sup.finish();
    if (cg) await endCgroup(cg, log);
    await endIdentity();
    return finish(exit, true, spawnedAt, exit.error ? `build: cannot start ${argv[0]}: ${errorMessage(exit.error)}` : null);
  })();

  return {
    dir,
    done,
    cancel: (reason) => sup.cancel(reason),
    get pid() {
      return pid;
    },
    pause: () => sup.pause(),
    resume: () => sup.resume(),
  };
}

/** Runs the initialize step to its end. */
export function runBuild(opts: BuildOptions): Promise<BuildResult> {
  return startBuild(opts).done;
}
