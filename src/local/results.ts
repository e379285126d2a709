// Moves an attempt's results out of its workspace to `<save>/<batch>/<job>/`, the layout
// `distribute pull` gives: the job's `distribute_save/` content plus `_distribute/` (logs and
// result.json). A rename when the work dir is on the same file system, else a copy.
// A job's earlier results in the same place are replaced, not merged.
import { cp, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AttemptPaths } from '../../shared/spec/command.js';

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Moves `from` to `to` (which must not exist), across file systems if need be. */
export async function moveTree(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await cp(from, to, { recursive: true, verbatimSymlinks: true });
    await rm(from, { recursive: true, force: true });
  }
}

/** `<saveDir>/<batch>/<job>/` after moving the attempt's results there. */
export async function saveAttemptResults(paths: AttemptPaths, saveDir: string, batch: string, job: string): Promise<string> {
  const dest = join(saveDir, batch, job);
  await rm(dest, { recursive: true, force: true });
  await mkdir(dirname(dest), { recursive: true });
  if (await exists(paths.save)) await moveTree(paths.save, dest);
  else await mkdir(dest);
  const meta = join(dest, '_distribute');
  // the runner's own record wins over a `_distribute` the job wrote into distribute_save/
  await rm(meta, { recursive: true, force: true });
  if (await exists(paths.meta)) await moveTree(paths.meta, meta);
  return dest;
}

/** Where a failed build's logs are kept: `<saveDir>/<batch>/_build/` (no job can take that name). */
export function buildLogsDir(saveDir: string, batch: string): string {
  return join(saveDir, batch, '_build');
}

/** Copies the build's `_distribute/` (stdout.log, stderr.log, result.json) to buildLogsDir. */
export async function saveBuildLogs(buildMeta: string, saveDir: string, batch: string): Promise<string> {
  const dest = buildLogsDir(saveDir, batch);
  await rm(dest, { recursive: true, force: true });
  await mkdir(dirname(dest), { recursive: true });
  await cp(buildMeta, dest, { recursive: true });
  return dest;
}
