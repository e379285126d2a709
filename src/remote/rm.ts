// `distribute rm`: delete archived results on the head, after a confirmation asked on a
// terminal (without one, `--yes` is required: a script must say it means it).
import { createInterface } from 'node:readline/promises';
import { UserError } from '../../shared/errors.js';
import type { RmResponse } from '../../shared/protocol/api.js';
import { API } from '../../shared/protocol/http-api.js';
import { formatBytes } from '../../shared/spec/units.js';
import type { HeadClient } from '../client.js';
import { batchParams, type BatchTarget } from './target.js';

export function removeResults(head: HeadClient, target: BatchTarget, opts: { job?: string; force: boolean }): Promise<RmResponse> {
  return head.call(API.rm, { params: batchParams(target), body: { ...(opts.job === undefined ? {} : { job: opts.job }), force: opts.force } });
}

/** Asks `question` on a terminal; refuses (exit 2) when stdin is not one. */
export async function confirmOnTerminal(question: string, input: NodeJS.ReadStream, output: NodeJS.WriteStream): Promise<boolean> {
  if (!input.isTTY) throw new UserError('rm deletes results for good: confirm with --yes when not on a terminal', 2);
  const rl = createInterface({ input, output });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

export function rmReport(target: BatchTarget, job: string | undefined, r: RmResponse): string {
  const where = job === undefined ? `${target.namespace}/${target.batch}` : `${target.namespace}/${target.batch}/${job}`;
  const lines = [`removed the results of ${r.jobs} job${r.jobs === 1 ? '' : 's'} of ${where} (${r.files} file${r.files === 1 ? '' : 's'}): ${formatBytes(r.bytes)} freed on the head`];
  if (r.cancelled > 0) lines.push(`cancelled ${r.cancelled} job${r.cancelled === 1 ? '' : 's'} still queued or running first`);
  if (job === undefined) {
    lines.push(r.batch_removed ? `batch ${target.namespace}/${target.batch} removed; its name can be used again` : `batch ${target.namespace}/${target.batch} stays listed until its cancelled jobs have stopped; run rm again then`);
  }
  return lines.join('\n') + '\n';
}
