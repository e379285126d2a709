// upload.sh: copies a transpiled folder to the cluster's login node with rsync over ssh.
import { UserError } from '../../shared/errors.js';
import type { BatchSpec } from '../../shared/spec/types.js';
import { commentText, shellQuote } from './shell.js';
import { word } from './values.js';

export interface ClusterTarget {
  username: string;
  address: string;
  destination: string;
}

const FLAGS: Record<keyof ClusterTarget, string> = {
  username: '--cluster-username',
  address: '--cluster-address',
  destination: '--cluster-upload-destination',
};

/** The cluster flags land in upload.sh: each must be one word without quotes or spaces. */
export function checkCluster(cluster: Partial<ClusterTarget>): void {
  for (const [k, flag] of Object.entries(FLAGS) as [keyof ClusterTarget, string][]) {
    const value = cluster[k];
    if (value === undefined) continue;
    const r = word(value);
    if (!r.ok) throw new UserError(`${flag}: ${r.error}`);
  }
}

export function renderUpload(batch: BatchSpec, cluster: Partial<ClusterTarget>, submitCommand = './submit.sh'): string {
  const v = (s: string | undefined) => (s ? shellQuote(s) : '');
  return [
    '#!/bin/bash',
    `# Copies this folder (batch ${commentText(batch.meta.batch_name)}) to the cluster with rsync, then prints how to submit it there.`,
    '# Defaults come from --cluster-username, --cluster-address and --cluster-upload-destination;',
    '# DISTRIBUTE_CLUSTER_USERNAME, DISTRIBUTE_CLUSTER_ADDRESS and DISTRIBUTE_CLUSTER_DESTINATION override them.',
    'set -euo pipefail',
    'cd "$(dirname "$0")"',
    `user=\${DISTRIBUTE_CLUSTER_USERNAME:-${v(cluster.username)}}`,
    `address=\${DISTRIBUTE_CLUSTER_ADDRESS:-${v(cluster.address)}}`,
    `dest=\${DISTRIBUTE_CLUSTER_DESTINATION:-${v(cluster.destination)}}`,
    'if [ -z "$user" ] || [ -z "$address" ] || [ -z "$dest" ]; then',
    '  echo "upload.sh: no cluster given; transpile with --cluster-username, --cluster-address and --cluster-upload-destination, or set DISTRIBUTE_CLUSTER_USERNAME, _ADDRESS and _DESTINATION" >&2',
    '  exit 2',
    'fi',
    'ssh "$user@$address" "mkdir -p -- $(printf %q "$dest")"',
    'rsync -a --info=progress2 ./ "$user@$address:$dest/"',
    `echo "uploaded; to submit: ssh $user@$address 'cd $dest && ${submitCommand}'"`,
    '',
  ].join('\n');
}
