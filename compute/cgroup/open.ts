// Which containment this node's jobs get: cgroup v2 where the daemon has a subtree with the
// memory and pids controllers, else the v1 hierarchies, else process groups. compute.yaml's
// `containment` may insist on one; `cgroup_parent` names the subtree (default
// `distribute/<node>`, or the daemon's own cgroup when systemd delegates it to the service).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../../shared/errors.js';
import { readText } from './files.js';
import { processGroupsOnly, type Containment } from './types.js';
import { CgroupV1, V1_CONTROLLERS } from './v1.js';
import { CgroupV2 } from './v2.js';

export type ContainmentMode = 'auto' | 'cgroup-v2' | 'cgroup-v1' | 'process-group';

export interface OpenContainmentOptions {
  mode: ContainmentMode;
  /** the subtree under each hierarchy; null: the default */
  parent: string | null;
  node: string;
  /** where cgroupfs is mounted; tests point it elsewhere */
  mount?: string;
  /** this process's /proc/self/cgroup */
  selfCgroup?: string;
  /** a systemd service's environment says it is one (INVOCATION_ID) */
  env?: NodeJS.ProcessEnv;
}

/** The v2 hierarchy's mount: /sys/fs/cgroup itself (unified) or /sys/fs/cgroup/unified (hybrid). */
function v2Mount(mount: string): string | null {
  if (existsSync(join(mount, 'cgroup.controllers'))) return mount;
  if (existsSync(join(mount, 'unified', 'cgroup.controllers'))) return join(mount, 'unified');
  return null;
}

/** The subtree of v2: the parent named, else the service's own (delegated) cgroup, else distribute/<node>. */
function v2Root(o: OpenContainmentOptions, mount: string): { root: string; moveSelf: boolean } {
  if (o.parent !== null) return { root: join(mount, o.parent), moveSelf: false };
  const own = (readText(o.selfCgroup ?? '/proc/self/cgroup') ?? '').split('\n').find((l) => l.startsWith('0::'))?.slice(3);
  const env = o.env ?? process.env;
  // only a systemd service's cgroup is ours to rearrange (Delegate=yes); a login session's is not
  if (own && own !== '/' && own.endsWith('.service') && env.INVOCATION_ID) return { root: join(mount, own), moveSelf: true };
  return { root: join(mount, 'distribute', o.node), moveSelf: false };
}

/** Opens the node's containment; never throws: what cannot be had falls back, with the reason. */
export async function openContainment(o: OpenContainmentOptions): Promise<Containment> {
  const mount = o.mount ?? '/sys/fs/cgroup';
  const why: string[] = [];
  if (o.mode === 'process-group') return processGroupsOnly('compute.yaml containment: process-group');
  const unified = v2Mount(mount);
  if ((o.mode === 'auto' || o.mode === 'cgroup-v2') && unified) {
    const { root, moveSelf } = v2Root(o, unified);
    const v2 = new CgroupV2(root, moveSelf);
    try {
      await v2.open();
      if (o.mode === 'cgroup-v2' || (v2.controllers.includes('memory') && v2.controllers.includes('pids'))) return v2;
      why.push(`cgroup v2 at ${root} offers no memory and pids controllers`);
      await v2.close();
    } catch (err) {
      why.push(`cgroup v2 at ${root}: ${errorMessage(err)}`);
    }
  } else if (o.mode === 'cgroup-v2') {
    why.push(`no cgroup v2 hierarchy under ${mount}`);
  }
  if (o.mode === 'auto' || o.mode === 'cgroup-v1') {
    const missing = V1_CONTROLLERS.filter((c) => !existsSync(join(mount, c, 'cgroup.procs')));
    if (missing.length === 0) {
      const v1 = new CgroupV1(mount, o.parent ?? join('distribute', o.node));
      try {
        await v1.open();
        return v1;
      } catch (err) {
        why.push(`cgroup v1: ${errorMessage(err)}`);
      }
    } else {
      why.push(`no cgroup v1 ${missing.join(', ')} hierarchy under ${mount}`);
    }
  }
  return processGroupsOnly(why.join('; ') || 'no cgroup hierarchy');
}
