// Each batch's initialize step runs once on this node, before its first job here; the jobs
// assigned meanwhile wait for it. A build that succeeded is remembered for the batch (by the
// head's batch id, so a batch added again under the same name builds again) while the daemon
// runs: its folder stays, and the batch's jobs reuse it. A build that failed is forgotten once
// the jobs waiting for it have seen it: the head sends no more of the batch here, unless the
// user retries it (say, after installing what was missing), and then it builds again.
import { readFile } from 'node:fs/promises';
import { startBuild, type BuildOptions, type BuildResult, type RunningBuild } from './runner.js';

export class BuildCache {
  private readonly builds = new Map<number, { run: RunningBuild; done: Promise<BuildResult> }>();
  /** takes each build's handle as it starts (the pause stops builds too); returns the release */
  watch: ((label: string, build: RunningBuild) => () => void) | null = null;

  /** The batch's build, started by the first caller. */
  async get(batchId: number, start: () => BuildOptions): Promise<BuildResult> {
    let b = this.builds.get(batchId);
    if (!b) {
      const opts = start();
      const run = startBuild(opts);
      const release = this.watch?.(`${opts.batch.meta.namespace}/${opts.batch.meta.batch_name}`, run);
      b = { run, done: run.done.finally(() => release?.()) };
      this.builds.set(batchId, b);
    }
    const result = await b.done;
    if (!result.ok && this.builds.get(batchId) === b) this.builds.delete(batchId);
    return result;
  }

  /** Kills the builds still running (the daemon is stopping); their results say cancelled. */
  cancelAll(reason: string): void {
    for (const b of this.builds.values()) b.run.cancel(reason);
  }
}

/** What to tell the head and the user about a failed build: its error and the end of its logs. */
export async function describeFailedBuild(b: BuildResult, maxBytes = 4096): Promise<string> {
  const tail = async (file: string) => {
    const text = await readFile(file, 'utf8').catch(() => '');
    return text.length > maxBytes ? '…' + text.slice(-maxBytes) : text;
  };
  const [out, err] = await Promise.all([tail(b.stdoutLog), tail(b.stderrLog)]);
  const status = b.error ?? (b.signal ? `killed by ${b.signal}` : `exit code ${b.exit_code}`);
  return [`build failed: ${status}`, err && `stderr:\n${err}`, out && `stdout:\n${out}`].filter(Boolean).join('\n');
}
