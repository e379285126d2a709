// Shell quoting for generated scripts. Every word a script takes from the batch (names,
// commands, paths, values) goes through `shellQuote`, so nothing in a batch can break out
// of the word it belongs to.
//
// Paths on a cluster are only known when a task runs (`$SLURM_SUBMIT_DIR`, a pod's volume),
// so the argv and environment of a job are computed by shared/spec/command.ts with
// placeholder folders, and `shellWord` turns each placeholder into a quoted variable.

/** Stands for a job's folder (`$job_dir`) in paths given to jobArgv/jobEnv. */
export const JOB_DIR = '\u0000job_dir\u0000';
/** Stands for the build folder (`$build_dir`). */
export const BUILD_DIR = '\u0000build_dir\u0000';
/** Stands for the container runtime found at run time (`$container`: apptainer or singularity). */
export const CONTAINER = '\u0000container\u0000';

const PLACEHOLDER = /\u0000(job_dir|build_dir|container)\u0000/g;
const PLAIN = /^[A-Za-z0-9_\/.,:=@%+-]+$/;

/** One shell word that stands for exactly `s`: bare when it is plain, else in single quotes. */
export function shellQuote(s: string): string {
  if (s.includes('\u0000')) throw new Error(`cannot put a NUL character into a shell word: ${JSON.stringify(s)}`);
  if (PLAIN.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Like shellQuote, but placeholders become `"$job_dir"`, `"$build_dir"`, `"$container"`. */
export function shellWord(s: string): string {
  const parts: string[] = [];
  let last = 0;
  for (const m of s.matchAll(PLACEHOLDER)) {
    if (m.index > last) parts.push(shellQuote(s.slice(last, m.index)));
    parts.push(`"$${m[1]}"`);
    last = m.index + m[0].length;
  }
  if (last < s.length) parts.push(shellQuote(s.slice(last)));
  return parts.length === 0 ? "''" : parts.join('');
}

/** A command line from argv, every word quoted. */
export function shellCommand(argv: string[]): string {
  return argv.map(shellWord).join(' ');
}

/** Text safe inside a `# comment` line: no line breaks. */
export function commentText(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}
