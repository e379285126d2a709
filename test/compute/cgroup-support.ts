// Real cgroups for tests: each test file opens its containment under a subtree of its own
// (tests and other daemons run side by side) and removes it afterwards.
import { existsSync } from 'node:fs';
import { openContainment, type ContainmentMode } from '../../compute/cgroup/open.js';
import type { Containment } from '../../compute/cgroup/types.js';
import { uniqueCgroupParent } from '../helpers/cgroups.js';


/** Whether this machine lets these tests make cgroups (root, v1 hierarchies, a v2 one). */
export const canUseCgroups = process.getuid?.() === 0 && existsSync('/sys/fs/cgroup/freezer/cgroup.procs') && existsSync('/sys/fs/cgroup/memory/cgroup.procs');
// the root of a v2 hierarchy has no cgroup.freeze (only its children do): cgroup.controllers marks v2
export const hasV2 = process.getuid?.() === 0 && existsSync('/sys/fs/cgroup/unified/cgroup.controllers');

export async function openTestContainment(mode: ContainmentMode, what: string): Promise<Containment> {
  const c = await openContainment({ mode, parent: uniqueCgroupParent(what), node: 'test' });
  if (c.kind !== mode) throw new Error(`wanted ${mode}, got ${c.kind}: ${c.description}`);
  return c;
}
