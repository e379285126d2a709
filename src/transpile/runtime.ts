// The shell side of a transpiled batch, shared by Slurm, PBS and Kubernetes.
//
// `task.sh` is sourced by every array task (after the scheduler's directives and the
// user's setup lines, so `module load` and `eval "$(pixi shell-hook)"` shape the jobs'
// environment). It runs the task's jobs one after another, each in `$root/<job>/`, and writes
// what a compute node writes: `distribute_save/` and `_distribute/{stdout.log, stderr.log,
// result.json}`. Each job's own script (`jobScript`) places the job's shared inputs and
// `exec`s the command shared/spec/command.ts gives, with the same DISTRIBUTE_* environment.
//
// The caller sets `root` (the folder of job folders), `store` (shared files), `job_scripts`
// (the path prefix of the job scripts) and `build_dir` before sourcing task.sh.
//
// result.json has the fields compute/runner.ts writes. `exit_code`, or `signal` when the
// status is 128+N for a signal N: the shell sees a killed process this way, so a job that
// itself exits with such a status is reported as killed. A time limit (`resources.time`) is
// enforced per job with coreutils' `timeout` where it exists (`timed_out`, signal SIGTERM;
// a job that exits 124 by itself looks the same), on top of the scheduler's own limit for
// the whole task.
import { buildArgv, jobArgv, jobEnv, mountSource, type AttemptPaths } from '../../shared/spec/command.js';
import { FINALIZE_JOB, type BatchSpec, type JobSpec } from '../../shared/spec/types.js';
import { FINALIZE_RESULTS } from '../../shared/spec/normalize.js';
import type { Placement } from './inputs.js';
import { BUILD_DIR, CONTAINER, JOB_DIR, commentText, shellCommand, shellQuote, shellWord } from './shell.js';

/** The attempt folders of a job in the generated scripts: its folder and the build folder, known at run time. */
export const SCRIPT_PATHS: AttemptPaths = {
  root: JOB_DIR,
  input: `${JOB_DIR}/input`,
  save: `${JOB_DIR}/distribute_save`,
  meta: `${JOB_DIR}/_distribute`,
  build: BUILD_DIR,
};

/** Store name of a source copied in when the task runs; null when the file is already in place. */
export type StoreLookup = (source: string) => string | null;

function placeLines(placements: Placement[], fromStore: StoreLookup, folder: string): string[] {
  const lines: string[] = [];
  for (const p of placements) {
    const key = fromStore(p.source);
    if (key === null) continue;
    lines.push(`cp -f -- "$store"/${shellQuote(key)} ${shellWord(`${folder}/${p.dest}`)}`);
  }
  return lines;
}

function exportLines(env: Record<string, string>): string[] {
  return Object.entries(env).map(([k, v]) => `export ${k}=${shellWord(v)}`);
}

/**
 * The script of one job, sourced in a subshell by task.sh with `job_dir` set: places the
 * job's shared inputs, enters its folder, sets its environment and execs its command.
 */
export function jobScript(batch: BatchSpec, job: JobSpec, placements: Placement[], fromStore: StoreLookup, cpus: number, timeLimit: number | null): string {
  const argv = jobArgv(batch.kind, batch.initialize, job, SCRIPT_PATHS, cpus, CONTAINER);
  const env = jobEnv({ batch, job, paths: SCRIPT_PATHS, cpus, attempt: 1, gpus: null });
  const mounts = batch.initialize.kind === 'apptainer' ? batch.initialize.requiredMounts.map((_, i) => `mkdir -p -- ${shellWord(mountSource(SCRIPT_PATHS, i))}`) : [];
  return [
    `# job ${commentText(job.name)} of batch ${commentText(batch.meta.batch_name)}: sourced by task.sh with job_dir set`,
    'set -e',
    ...placeLines(placements, fromStore, JOB_DIR),
    ...mounts,
    `cd -- "$job_dir"`,
    'set +e',
    ...exportLines(env),
    `distribute_exec ${timeLimit ?? 0} ${shellCommand(argv)}`,
    '',
  ].join('\n');
}

/** The script of the initialize step, sourced in a subshell with cwd = build folder; null when the batch has none. */
export function buildStepScript(batch: BatchSpec, placements: Placement[], fromStore: StoreLookup, cpus: number): string | null {
  const argv = buildArgv(batch.initialize);
  const copies = placeLines(placements, fromStore, BUILD_DIR);
  if (!argv && copies.length === 0) return null;
  const env: Record<string, string> = {
    DISTRIBUTE_BATCH_NAME: batch.meta.batch_name,
    DISTRIBUTE_NAMESPACE: batch.meta.namespace,
    DISTRIBUTE_BUILD: BUILD_DIR,
    DISTRIBUTE_CPUS: String(cpus),
  };
  return [
    `# initialize step of batch ${commentText(batch.meta.batch_name)}: sourced by task.sh`,
    'set -e',
    ...copies,
    `cd -- "$build_dir"`,
    'set +e',
    ...exportLines(env),
    argv ? `exec ${shellCommand(argv)}` : 'exit 0',
    '',
  ].join('\n');
}

/** task.sh: the functions every task script sources (the finalize step's only when the batch has one). */
export function taskRuntime(batch: BatchSpec): string {
  return baseRuntime(batch) + (batch.finalize ? FINALIZE_RUNTIME : '');
}

/**
 * The finalize step, run once every job has ended (the scheduler's \`afterany\`): what a job
 * left is read from its folder, so a job the scheduler cancelled or never started counts as
 * failed. Each job that ran has its saved files and its \`_distribute/\` (the layout of a
 * pull) copied into \`_finalize/input/results/<job>/\`.
 */
const FINALIZE_RUNTIME = `
# distribute_run_finalize JOBS: the finalize step in $root/${FINALIZE_JOB}/ once the jobs listed
# in the file JOBS have ended; DISTRIBUTE_JOBS_DONE counts the jobs that succeeded,
# DISTRIBUTE_JOBS_FAILED the others (failed, cancelled, never run)
distribute_run_finalize() {
  local list=$1 results=$root/${FINALIZE_JOB}/input/${FINALIZE_RESULTS} job ok=0 bad=0
  container=$(distribute_container)
  rm -rf -- "$results"
  mkdir -p -- "$results" || return 1
  while IFS= read -r job; do
    [ -n "$job" ] || continue
    if [ -f "$root/$job/_distribute/result.json" ]; then
      mkdir -p -- "$results/$job"
      if [ -d "$root/$job/distribute_save" ]; then cp -R -- "$root/$job/distribute_save/." "$results/$job/"; fi
      rm -rf -- "$results/$job/_distribute"
      cp -R -- "$root/$job/_distribute" "$results/$job/_distribute"
      if grep -q '"success":true' "$root/$job/_distribute/result.json"; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
    else
      bad=$((bad + 1))
    fi
  done < "$list"
  export DISTRIBUTE_JOBS_DONE=$ok DISTRIBUTE_JOBS_FAILED=$bad
  distribute_run_job ${FINALIZE_JOB}
}
`;

function baseRuntime(batch: BatchSpec): string {
  return `# distribute task runtime of batch ${commentText(batch.meta.batch_name)} (namespace ${commentText(batch.meta.namespace)}).
# Sourced by the task scripts, which set root, store, job_scripts and build_dir first.
# Each job runs in $root/<job>/ and leaves distribute_save/ and _distribute/{stdout.log,
# stderr.log,result.json} there, as a compute node does.

distribute_namespace=${shellQuote(JSON.stringify(batch.meta.namespace))}
distribute_batch=${shellQuote(JSON.stringify(batch.meta.batch_name))}

distribute_now() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }

# apptainer, or singularity where only the older name is installed
distribute_container() {
  if command -v apptainer >/dev/null 2>&1; then echo apptainer
  elif command -v singularity >/dev/null 2>&1; then echo singularity
  else echo apptainer; fi
}

# runs a job's command, under its time limit (seconds; 0 = none) when coreutils' timeout
# exists; a job its limit ended leaves a mark for distribute_result
distribute_exec() {
  local limit=$1 status; shift
  if [ "$limit" = 0 ] || ! command -v timeout >/dev/null 2>&1; then exec "$@"; fi
  timeout --kill-after=10 "$limit" "$@"
  status=$?
  if [ "$status" = 124 ]; then : > "$job_dir/_distribute/timed-out"; fi
  exit "$status"
}

# distribute_result FILE STATUS START END JOB: result.json as a compute node writes it,
# written whole (a temp file, then a rename). JOB is a JSON string, or null for the build.
distribute_result() {
  local exit_code=$2 signal=null timed_out=false success=false name node marker
  marker=$(dirname "$1")/timed-out
  if [ -e "$marker" ]; then
    rm -f -- "$marker"; timed_out=true; exit_code=null; signal='"SIGTERM"'
  elif [ "$2" -gt 128 ] && name=$(kill -l $(($2 - 128)) 2>/dev/null); then
    exit_code=null; signal="\\"SIG$name\\""
  fi
  [ "$exit_code" = 0 ] && success=true
  node=$(hostname 2>/dev/null || echo "\${HOSTNAME:-unknown}")
  node=$(printf %s "$node" | tr -cd 'A-Za-z0-9._-')
  printf '{"namespace":%s,"batch":%s,"job":%s,"node":"%s","attempt":1,"exit_code":%s,"signal":%s,"timed_out":%s,"cancelled":false,"error":null,"success":%s,"start":"%s","end":"%s"}\\n' \\
    "$distribute_namespace" "$distribute_batch" "$5" "$node" "$exit_code" "$signal" "$timed_out" "$success" "$3" "$4" > "$1.tmp" && mv -f -- "$1.tmp" "$1"
}

# distribute_run_job JOB: runs one job in a fresh $root/JOB/ (its placed inputs kept)
distribute_run_job() {
  local job=$1 dir=$root/$1 start code
  rm -rf -- "$dir/distribute_save" "$dir/_distribute"
  mkdir -p -- "$dir/input" "$dir/distribute_save" "$dir/_distribute" || return 1
  start=$(distribute_now)
  ( job_dir=$dir; . "$job_scripts$job.sh" ) </dev/null >"$dir/_distribute/stdout.log" 2>"$dir/_distribute/stderr.log"
  code=$?
  distribute_result "$dir/_distribute/result.json" "$code" "$start" "$(distribute_now)" "\\"$job\\""
  return $((code != 0))
}

# distribute_run_task INDEX TASK: runs the jobs INDEX gives TASK, one after another. A TERM
# (the scheduler's time limit, a cancel) lets the running job end and starts no other.
distribute_run_task() {
  local index=$1 task=$2 t job found=0 failed=0
  container=$(distribute_container)
  distribute_stop=0
  trap 'distribute_stop=1' TERM
  while IFS=$'\\t' read -r t job; do
    [ "$t" = "$task" ] || continue
    found=1
    [ "$distribute_stop" = 1 ] && { failed=1; break; }
    distribute_run_job "$job" || failed=1
  done < "$index"
  if [ "$found" = 0 ]; then echo "distribute: task $task has no job in $index" >&2; return 2; fi
  return $failed
}

# distribute_run_build SCRIPT: the initialize step in $build_dir, logs in $build_dir/_distribute/
distribute_run_build() {
  local meta=$build_dir/_distribute start code
  rm -rf -- "$meta"
  mkdir -p -- "$meta" || return 1
  start=$(distribute_now)
  ( . "$1" ) </dev/null >"$meta/stdout.log" 2>"$meta/stderr.log"
  code=$?
  distribute_result "$meta/result.json" "$code" "$start" "$(distribute_now)" null
  if [ "$code" != 0 ]; then echo "distribute: the initialize step failed with status $code; see $meta/stderr.log" >&2; fi
  return $code
}
`;
}
