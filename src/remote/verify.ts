// `distribute verify`: re-checks a batch's pulled files on disk against the SHA-256 the head
// recorded for each when it stored the result (docs/integrity.md). The hashes come from the
// pull plan (`POST /v1/pull/plan`, the same rules as pull), so nothing else is fetched; each
// file is read once, streamed, memory flat whatever its size.
import { lstat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { PullRules } from '../../shared/protocol/api.js';
import { API } from '../../shared/protocol/http-api.js';
import type { HeadClient } from '../client.js';
import { hashFile } from './add.js';
import type { BatchTarget } from './target.js';

export type VerifyVerdict = 'ok' | 'mismatch' | 'missing' | 'unchecked';

export interface VerifiedFile {
  job: string;
  file: string;
  verdict: VerifyVerdict;
  /** why, in words: for everything but ok */
  reason?: string;
}

export interface VerifyOutcome {
  namespace: string;
  batch: string;
  dest: string;
  /** counts by verdict */
  counts: Record<VerifyVerdict, number>;
  /** every file that is not ok */
  problems: VerifiedFile[];
}

export async function verifyBatch(head: HeadClient, target: BatchTarget, saveDir: string, rules: PullRules): Promise<VerifyOutcome> {
  const plan = await head.call(API.pullPlan, { body: { namespace: target.namespace, batch: target.batch, ...rules } });
  const dest = join(resolve(saveDir), target.batch);
  const out: VerifyOutcome = { namespace: plan.namespace, batch: plan.batch, dest, counts: { ok: 0, mismatch: 0, missing: 0, unchecked: 0 }, problems: [] };
  const note = (f: VerifiedFile) => {
    out.counts[f.verdict]++;
    if (f.verdict !== 'ok') out.problems.push(f);
  };
  for (const m of plan.members) {
    const path = join(dest, m.job, m.path);
    const st = await lstat(path).catch(() => null);
    const named = { job: m.job, file: m.path };
    if (!st) note({ ...named, verdict: 'missing', reason: `not in ${dest}` });
    else if (st.isSymbolicLink()) note({ ...named, verdict: 'unchecked', reason: 'a link: links carry no checksum' });
    else if (!m.sha256) note({ ...named, verdict: 'unchecked', reason: 'no checksum recorded (archived before checksums)' });
    else if (!st.isFile()) note({ ...named, verdict: 'mismatch', reason: 'not a regular file here' });
    else {
      const got = (await hashFile(path)).hash;
      if (got === m.sha256) note({ ...named, verdict: 'ok' });
      else note({ ...named, verdict: 'mismatch', reason: `SHA-256 ${got.slice(0, 12)}… where the head recorded ${m.sha256.slice(0, 12)}…` });
    }
  }
  return out;
}

/** The text report: one line per file that is not ok, then the totals. */
export function verifyReport(o: VerifyOutcome): string {
  const lines = o.problems.map((p) => `${p.verdict.toUpperCase().padEnd(9)} job ${p.job}: ${p.file}: ${p.reason}`);
  const c = o.counts;
  lines.push(`${o.namespace}/${o.batch} in ${o.dest}: ${c.ok} ok, ${c.mismatch} mismatched, ${c.missing} missing, ${c.unchecked} without a checksum`);
  return lines.join('\n') + '\n';
}
