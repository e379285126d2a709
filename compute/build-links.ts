// The build step's outputs beside the job, as the original distribute had them: it ran a
// python job in the folder its build had run in, so `run.py` opened `./solver` or
// `./mesh.dat` by relative path. Here every attempt has its own folder, so each top-level
// entry of the build folder appears in it as a symbolic link to the build's copy, unless
// the attempt has an entry of that name already (input/, distribute_save/, _distribute/,
// run.py, mounts/ win). The links are not archived: only distribute_save/ and _distribute/ are.
import { lstat, readdir, symlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { AttemptPaths } from '../shared/spec/command.js';

/** More entries than this at the top of a build folder are not linked (a build that made a mess). */
export const MAX_BUILD_LINKS = 10_000;

/** Links the build folder's top-level entries into the attempt folder; returns how many. */
export async function linkBuildOutputs(paths: AttemptPaths): Promise<number> {
  let names: string[];
  try {
    names = await readdir(paths.build);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  let made = 0;
  // the attempt's own folders are always there (the build's `_distribute/` among them): no lookup
  const own = new Set([basename(paths.input), basename(paths.save), basename(paths.meta)]);
  for (const name of names.slice(0, MAX_BUILD_LINKS)) {
    if (own.has(name)) continue;
    const at = join(paths.root, name);
    if (await exists(at)) continue;
    await symlink(join(paths.build, name), at);
    made++;
  }
  return made;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
