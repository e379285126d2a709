// `distribute alloc list|pause|resume` (admins): the head's allocation queues and their pilots.
import type { AllocQueueInfo } from '../../shared/protocol/alloc-api.js';
import { API } from '../../shared/protocol/http-api.js';
import type { HeadClient } from '../client.js';
import { checkName } from './target.js';

export function listQueues(head: HeadClient): Promise<AllocQueueInfo[]> {
  return head.call(API.allocList);
}

export function setQueuePaused(head: HeadClient, name: string, paused: boolean): Promise<AllocQueueInfo> {
  return head.call(paused ? API.allocPause : API.allocResume, { params: { name: checkName('allocation queue', name) } });
}

export function formatQueues(queues: readonly AllocQueueInfo[]): string {
  if (queues.length === 0) return 'no allocation queues (allocations: in head.yaml)';
  const lines: string[] = [];
  for (const q of queues) {
    const live = q.pilots.filter((p) => p.state !== 'ended');
    const state = q.paused === 'admin' ? 'paused by an admin' : q.paused === 'failures' ? `paused after ${q.failures} failed submissions` : q.retry_at ? `backing off until ${q.retry_at}` : 'active';
    lines.push(`${q.name} (${q.backend}): ${state}; ${live.length} of at most ${q.max_pilots} pilots`);
    if (q.last_error) lines.push(`  last error (${q.last_error_at}): ${q.last_error}`);
    for (const p of q.pilots) {
      const detail = p.state === 'ended' ? `ended ${p.ended}${p.end_reason ? `: ${p.end_reason}` : ''}` : `${p.connected ? 'connected' : 'not connected'}${p.ends_at ? `, walltime ends ${p.ends_at}` : ''}`;
      lines.push(`  ${p.node}  job ${p.job_id}  ${p.state}  ${detail}`);
    }
  }
  return lines.join('\n');
}
