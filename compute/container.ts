// Which container runtime runs apptainer jobs: `apptainer`, else `singularity` (the older
// name some clusters still install), found on the job's PATH.
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export type ContainerRuntime = 'apptainer' | 'singularity';

/** True when `name` is an executable file in one of PATH's folders. */
export function isOnPath(name: string, path: string | undefined): boolean {
  for (const dir of (path ?? '').split(delimiter)) {
    if (!dir) continue;
    const full = join(dir, name);
    try {
      accessSync(full, constants.X_OK);
      if (statSync(full).isFile()) return true;
    } catch {
      // not here
    }
  }
  return false;
}

export function findContainerRuntime(path: string | undefined): ContainerRuntime | null {
  if (isOnPath('apptainer', path)) return 'apptainer';
  if (isOnPath('singularity', path)) return 'singularity';
  return null;
}
