// `distribute pull`: ask the head for a plan (the members the rules select, from its index),
// compare it with the save folder, fetch only what is missing as one tar stream, and extract it
// strictly into `<save_dir>/<batch_name>/<job>/...` (docs/architecture.md, CLI contract). Killed half-way, a pull leaves
// whole files only; the next one fetches the rest.
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { readBatchText } from '../../shared/spec/load.js';
import { UserError, errorMessage } from '../../shared/errors.js';
import type { PlannedMember, PullRules } from '../../shared/protocol/api.js';
import { API } from '../../shared/protocol/http-api.js';
import type { HeadClient } from '../client.js';
import { extractStrict, type ExtractHooks } from './extract.js';
import { splitByPresence } from './present.js';
import { checkName, type BatchTarget } from './target.js';

/**
 * The namespace and batch name a batch file names. Only `meta` is read, so the results of a
 * batch whose file no longer validates (files moved since) can still be pulled.
 */
export async function readBatchIdentity(file: string): Promise<BatchTarget> {
  const text = await readBatchText(file);
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UserError(`${file}: not YAML: ${errorMessage(err)}`, 2);
  }
  const meta = (doc as { meta?: { namespace?: unknown; batch_name?: unknown } } | null)?.meta;
  if (typeof meta?.namespace !== 'string') throw new UserError(`${file}: meta.namespace: required to know which results to pull`, 2);
  if (typeof meta.batch_name !== 'string') throw new UserError(`${file}: meta.batch_name: required to know which results to pull`, 2);
  return { namespace: checkName(`${file}: meta.namespace`, meta.namespace), batch: checkName(`${file}: meta.batch_name`, meta.batch_name) };
}

export interface PullOptions {
  saveDir: string;
  rules: PullRules;
  /** list what would come, fetch nothing */
  dry?: boolean;
  /** fetch every selected member, even those already here */
  force?: boolean;
  /** told the totals once known; its hooks see the bytes and files as they land */
  progress?: (total: { files: number; bytes: number }) => ExtractHooks & { end?(): void };
}

export interface Tally {
  files: number;
  bytes: number;
}

export interface PullOutcome {
  namespace: string;
  batch: string;
  dest: string;
  dry: boolean;
  /** the members the rules select (finished jobs only) */
  selected: Tally;
  /** already in the save folder with the same size and mtime: not fetched */
  present: Tally;
  /** fetched now (with --dry: what would be) */
  fetched: Tally;
  /** selected by the plan but gone from the head before the fetch */
  gone: number;
  /** jobs still queued or running: their results are still to come */
  unfinished: number;
  finishedJobs: number;
  /** `member: reason` of members not written (a hard link whose target is absent) */
  skipped: string[];
  /** files not in place because their bytes are wrong or unproven, by job (docs/integrity.md): the pull exits 1 */
  failed: { job: string; file: string; reason: string }[];
  /** jobs whose archive the head found damaged */
  damaged: { job: string; error: string }[];
  /** files fetched whose SHA-256 matched the head's index; the rest had none recorded */
  verified: number;
  /** with --dry: each member to fetch */
  members: (PlannedMember & { present: boolean })[];
}

/** The planned files of damaged jobs that never arrived: failed, with the head's words. */
function notReceived(planned: PlannedMember[], damaged: { job: string; error: string }[], seen: Set<string>): PullOutcome['failed'] {
  const why = new Map(damaged.map((d) => [d.job, d.error]));
  return planned
    .filter((m) => why.has(m.job) && !seen.has(`${m.job}/${m.path}`))
    .map((m) => ({ job: m.job, file: m.path, reason: `not received: its job's archive on the head is damaged (${why.get(m.job)})` }));
}

function tally(ms: PlannedMember[]): Tally {
  return { files: ms.length, bytes: ms.reduce((n, m) => n + m.size, 0) };
}

export async function pullBatch(head: HeadClient, target: BatchTarget, opts: PullOptions): Promise<PullOutcome> {
  const plan = await head.call(API.pullPlan, { body: { namespace: target.namespace, batch: target.batch, ...opts.rules } });
  const dest = join(resolve(opts.saveDir), target.batch);
  const { missing, present } = await splitByPresence(plan.members, dest, opts.force === true);
  const out: PullOutcome = {
    namespace: plan.namespace,
    batch: plan.batch,
    dest,
    dry: opts.dry === true,
    selected: tally(plan.members),
    present: tally(present),
    fetched: tally(missing),
    gone: 0,
    unfinished: plan.jobs.unfinished,
    finishedJobs: plan.jobs.finished,
    skipped: [],
    failed: [],
    damaged: [],
    verified: 0,
    members: [],
  };
  if (opts.dry) {
    const here = new Set(present);
    out.members = plan.members.map((m) => ({ ...m, present: here.has(m) }));
    return out;
  }
  if (missing.length === 0) return out;

  const res = await head.open(API.pull, { body: { namespace: target.namespace, batch: target.batch, members: missing.map((m) => `${m.job}/${m.path}`) } });
  const bar = opts.progress?.(out.fetched);
  const sums = new Map(missing.map((m) => [`${m.job}/${m.path}`, m.sha256]));
  try {
    const got = await extractStrict(res, dest, bar ?? {}, (path) => sums.get(path));
    out.fetched = { files: got.members, bytes: got.bytes };
    out.skipped = got.skipped;
    out.verified = got.verified;
    out.damaged = got.damaged;
    out.failed = got.failed.map((f) => ({ job: f.path.slice(0, f.path.indexOf('/')), file: f.path.slice(f.path.indexOf('/') + 1), reason: f.reason }));
    out.failed.push(...notReceived(missing, got.damaged, new Set([...got.failed.map((f) => f.path), ...got.placed])));
    const announced = Number(res.headers['x-distribute-members']);
    if (Number.isFinite(announced) && got.damaged.length === 0 && got.members + got.skipped.length + got.failed.length < announced) {
      throw new UserError(`the pull stream ended after ${got.members} of ${announced} files; the files in place stay, run the pull again to fetch the rest`, 1);
    }
  } finally {
    bar?.end?.();
  }
  out.gone = Number(res.headers['x-distribute-missing'] ?? 0) || 0;
  return out;
}
