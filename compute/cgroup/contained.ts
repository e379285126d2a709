// A process group seen through its cgroup: the signals Supervision sends reach every process
// of the cgroup, and stop/continue become freeze/thaw, so a setsid'd or double-forked child is
// paused, resumed and killed with its job.
import type { Logger } from '../../shared/log.js';
import { errorMessage } from '../../shared/errors.js';
import type { ProcessGroup } from '../process-group.js';
import type { CgroupUsage, JobCgroup } from './types.js';

export function containedGroup(group: ProcessGroup, cg: JobCgroup, log: Logger): ProcessGroup {
  return {
    pid: group.pid,
    exited: group.exited,
    get hasExited() {
      return group.hasExited;
    },
    signal(sig) {
      switch (sig) {
        case 'SIGSTOP':
          cg.freeze();
          return true;
        case 'SIGCONT':
          cg.thaw();
          return cg.signalAll('SIGCONT') > 0;
        case 'SIGKILL':
          void cg.kill().catch((err: unknown) => log.error({ cgroup: cg.name, err: errorMessage(err) }, 'cannot empty the cgroup'));
          return true;
        default:
          // the leader too, should it have left the cgroup (it cannot without privileges)
          return (cg.signalAll(sig) > 0) || group.signal(sig);
      }
    },
  };
}

export interface Ended {
  usage: CgroupUsage;
  oomKilled: boolean;
}

/**
 * After the leader's exit: kills what is left, reads what the cgroup measured, removes it.
 * Never throws; a cgroup that will not empty is logged and left.
 */
export async function endCgroup(cg: JobCgroup, log: Logger): Promise<Ended> {
  try {
    await cg.kill();
  } catch (err) {
    log.error({ cgroup: cg.name, err: errorMessage(err) }, 'cannot empty the cgroup');
  }
  const ended = { usage: cg.usage(), oomKilled: cg.oomKilled() };
  await cg.remove().catch((err: unknown) => log.warn({ cgroup: cg.name, err: errorMessage(err) }, 'cannot remove the cgroup'));
  return ended;
}
