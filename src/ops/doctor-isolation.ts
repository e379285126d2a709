// `doctor`'s word on whether jobs are kept apart from each other and from the daemon: as root
// with job_uids, each job runs under a uid of its own, and what it must not reach (the config,
// the token file, the control socket) must not be open to others either.
import { statSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { Check } from './check.js';

/** The files among `secrets` that a process of another uid and no group could read (or connect to). */
function openToOthers(secrets: string[]): string[] {
  const open: string[] = [];
  for (const f of secrets) {
    const st = (() => {
      try {
        return statSync(f);
      } catch {
        return null;
      }
    })();
    if (st && st.mode & (st.isSocket() ? 0o002 : 0o004)) open.push(`${f} (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')})`);
  }
  return open;
}

export function isolationCheck(o: { jobUids: string; secrets: string[] } | null = null): Check {
  const root = process.getuid?.() === 0;
  if (root && o && o.jobUids !== 'none') {
    const open = openToOthers(o.secrets);
    if (open.length > 0) {
      return { name: 'isolation', status: 'warn', detail: `each job runs as a uid of its own (${o.jobUids}), but a job could read ${open.join(', ')}`, fix: 'chmod o-rwx those files (0600 for the token and config)' };
    }
    return { name: 'isolation', status: 'ok', detail: `each job runs as a uid of its own (${o.jobUids}): jobs cannot read each other's workspaces, signal each other, or read the node's token and config`, fix: null };
  }
  const user = userInfo().username;
  return {
    name: 'isolation',
    status: 'warn',
    detail: `jobs run as ${user}, the daemon's user: they are not isolated from each other, and can read the node's token and config`,
    fix: root ? 'set job_uids in compute.yaml (a range of free uids, like 61000-61999) so that each job runs under a uid of its own' : 'run the compute daemon as root (its systemd unit) so that each job runs under a uid of its own',
  };
}
