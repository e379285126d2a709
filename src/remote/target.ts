// Which batch a command means: BATCH alone when its name is unique among what the user
// sees, else with --namespace (the head answers 409 naming the namespaces when ambiguous).
import { API } from '../../shared/protocol/http-api.js';
import { unsafeNameReason } from '../../shared/paths.js';
import { UserError } from '../../shared/errors.js';
import type { HeadClient } from '../client.js';

export interface BatchTarget {
  namespace: string;
  batch: string;
}

export function checkName(what: string, name: string): string {
  const reason = unsafeNameReason(name);
  if (reason) throw new UserError(`${what} ${reason}`, 2);
  return name;
}

export async function resolveBatch(head: HeadClient, batch: string, namespace?: string): Promise<BatchTarget> {
  checkName('batch', batch);
  if (namespace !== undefined) return { namespace: checkName('namespace', namespace), batch };
  return head.call(API.resolve, { query: { batch } });
}

/** The `:ns/:batch` params of the API's batch routes. */
export function batchParams(t: BatchTarget): { ns: string; batch: string } {
  return { ns: t.namespace, batch: t.batch };
}
