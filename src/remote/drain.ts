// `distribute drain NODE` / `undrain NODE` (admins): the head stops (or resumes) placing jobs
// on the node; its running jobs finish either way.
import { API } from '../../shared/protocol/http-api.js';
import type { HeadClient } from '../client.js';
import { checkName } from './target.js';

export async function setDrained(head: HeadClient, node: string, drained: boolean): Promise<string> {
  const name = checkName('node', node);
  const answer = await head.call(drained ? API.drain : API.undrain, { params: { name } });
  if (drained) return `node ${answer.node} is draining: no new jobs go there; its running jobs finish`;
  return answer.draining ? `node ${answer.node} is undrained by the admin, but still draining: it is stopping` : `node ${answer.node} takes jobs again`;
}
