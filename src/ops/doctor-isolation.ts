// `doctor`'s word on whether jobs are kept apart from each other and from the daemon.
import { userInfo } from 'node:os';
import type { Check } from './check.js';

export function isolationCheck(): Check {
  const user = userInfo().username;
  return {
    name: 'isolation',
    status: 'warn',
    detail: `jobs run as ${user}, the daemon's user: they are not isolated from each other, and can read the node's token and config`,
    fix: process.getuid?.() === 0 ? 'set sandbox: bwrap in compute.yaml to hide the token and the other workspaces' : 'run the compute daemon as root (its systemd unit) so that each job runs under a uid of its own',
  };
}
