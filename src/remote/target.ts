// Which batch a command means: BATCH alone when its name is unique among what the user
// sees, else with --namespace (the head answers 409 naming the namespaces when ambiguous).
import { z } from 'zod';
import { SafeName } from '../../shared/protocol/common.js';
import { unsafeNameReason } from '../../shared/paths.js';
import { UserError } from '../../shared/errors.js';
import type { HeadClient } from '../client.js';

export interface BatchTarget {
  namespace: string;
  batch: string;
}

const Resolved = z.object({ namespace: SafeName, batch: SafeName });

export function checkName(what: string, name: string): string {
  const reason = unsafeNameReason(name);
  if (reason) throw new UserError(`${what} ${reason}`, 2);
  return name;
}

export async function resolveBatch(head: HeadClient, batch: string, namespace?: string): Promise<BatchTarget> {
  checkName('batch', batch);
  if (namespace !== undefined) return { namespace: checkName('namespace', namespace), batch };
  return head.json('GET', `/v1/resolve?batch=${encodeURIComponent(batch)}`, Resolved);
}

export function batchPath(t: BatchTarget): string {
  return `${encodeURIComponent(t.namespace)}/${encodeURIComponent(t.batch)}`;
}
