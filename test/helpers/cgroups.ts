// Each test cluster's compute daemons put their jobs' cgroups under a subtree of the cluster's
// own (tests and other daemons run side by side); stopping the cluster kills what is left in
// it and removes it.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CgroupV1 } from '../../compute/cgroup/v1.js';
import { CgroupV2 } from '../../compute/cgroup/v2.js';
import { removeTree } from '../../compute/cgroup/files.js';

export function uniqueCgroupParent(what: string): string {
  return `distribute-test-${what}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

function children(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name) : [];
}

/** Kills every process in `<parent>/<node>/<job>` cgroups, v1 and v2 alike, and removes `parent`. */
export async function removeCgroupSubtree(parent: string, mount = '/sys/fs/cgroup'): Promise<void> {
  for (const node of children(join(mount, 'freezer', parent))) await new CgroupV1(mount, join(parent, node)).sweep().catch(() => {});
  for (const node of children(join(mount, 'unified', parent))) await new CgroupV2(join(mount, 'unified', parent, node)).sweep().catch(() => {});
  for (const h of ['freezer', 'memory', 'pids', 'cpuacct', 'unified']) await removeTree(join(mount, h, parent)).catch(() => {});
}
