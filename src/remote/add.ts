// `distribute add`: validate the batch here (nothing is sent when it is invalid), hash every
// file it names, upload the ones the head lacks (a file shared by 500 jobs goes once), then
// hand the head the batch as the plain data read from the YAML (the head validates it again,
// without parsing YAML) and the files by their path relative to it. A head older than that
// refuses a request without the YAML text; it is then sent the text instead.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseBatch } from '../../shared/spec/parse.js';
import { BatchSpecError, readBatchText } from '../../shared/spec/load.js';
import type { BatchSpec, FileRef } from '../../shared/spec/types.js';
import type { AddRequest, AddResponse } from '../../shared/protocol/api.js';
import { API } from '../../shared/protocol/http-api.js';
import { UserError, errorMessage } from '../../shared/errors.js';
import type { HeadClient } from '../client.js';

/** Every file the batch names (initialize step and jobs), each path once. */
export function fileRefsOf(batch: BatchSpec): FileRef[] {
  const init = batch.initialize;
  const refs: FileRef[] = [...init.requiredFiles];
  if (init.kind === 'python' && init.buildFile) refs.push(init.buildFile);
  if (init.kind === 'apptainer') refs.push(init.sif);
  for (const job of batch.jobs) {
    if (job.file) refs.push(job.file);
    refs.push(...job.requiredFiles);
  }
  const seen = new Set<string>();
  return refs.filter((r) => !seen.has(r.path) && seen.add(r.path));
}

/** The key the head knows a file by: its path relative to the YAML's folder, POSIX separators. */
export function fileKey(batch: BatchSpec, ref: FileRef): string {
  return relative(batch.source.dir, ref.path).split(sep).join('/');
}

export async function hashFile(path: string): Promise<{ hash: string; size: number }> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path), h);
  return { hash: h.digest('hex'), size: (await stat(path)).size };
}

/** Runs `fn` over `items`, at most `limit` at once, keeping the order of results. */
async function mapLimited<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export interface AddOutcome {
  response: AddResponse;
  /** files the head did not hold and that were uploaded */
  uploaded: number;
  uploadedBytes: number;
  files: number;
}

/** A batch file read, validated and hashed here: what `add` sends. */
export interface PreparedAdd {
  file: string;
  text: string;
  /** the YAML as plain data (a valid batch holds only JSON's values: zod refuses .inf and .nan) */
  document: unknown;
  batch: BatchSpec;
  files: AddRequest['files'];
  /** local path and size of each hash */
  byHash: Map<string, { path: string; size: number }>;
}

/** Reads, validates and hashes a batch file; an invalid one throws (exit 2) before any network. */
export async function prepareAdd(file: string): Promise<PreparedAdd> {
  const text = await readBatchText(file);
  const parsed = parseBatch(text, { file, checkFiles: true });
  if (!parsed.ok) throw new BatchSpecError(parsed.errors);
  const batch = parsed.batch;
  const hashed = await mapLimited(fileRefsOf(batch), 4, async (ref) => {
    try {
      return { ref, ...(await hashFile(ref.path)) };
    } catch (err) {
      throw new UserError(`${file}: cannot read ${ref.path}: ${errorMessage(err)}`, 2);
    }
  });
  const files: AddRequest['files'] = {};
  for (const h of hashed) files[fileKey(batch, h.ref)] = { hash: h.hash, size: h.size };
  return { file, text, document: parsed.document, batch, files, byHash: new Map(hashed.map((h) => [h.hash, { path: h.ref.path, size: h.size }])) };
}

/**
 * How a head from before `document` refuses a request without `yaml` (its request schema
 * required the text; it validated nothing else yet, so nothing was queued).
 */
const YAML_ONLY_HEAD = /^invalid request: (.*; )?yaml: /;

/** Uploads the inputs the head lacks, then queues (or, dry, only checks) the batch. */
export async function sendAdd(head: HeadClient, p: PreparedAdd, opts: { dry: boolean }): Promise<AddOutcome> {
  const hashes = [...p.byHash.keys()];
  const { missing } = hashes.length === 0 ? { missing: [] as string[] } : await head.call(API.inputsMissing, { body: { hashes } });
  let uploadedBytes = 0;
  await mapLimited(missing, 2, async (hash) => {
    const local = p.byHash.get(hash);
    if (!local) throw new UserError(`the head asked for input ${hash}, which ${p.file} does not name`, 1);
    await head.upload(API.inputPut, { hash }, local.path);
    uploadedBytes += local.size;
  });
  const request: AddRequest = { document: p.document, file: p.file, dir: p.batch.source.dir, files: p.files, dry: opts.dry };
  let response: AddResponse;
  try {
    response = await head.call(API.add, { body: request });
  } catch (err) {
    if (!(err instanceof UserError) || !YAML_ONLY_HEAD.test(err.message)) throw err;
    response = await head.call(API.add, { body: { yaml: p.text, file: p.file, files: p.files, dry: opts.dry } satisfies AddRequest });
  }
  return { response, uploaded: missing.length, uploadedBytes, files: p.byHash.size };
}

export function describeAdd(o: AddOutcome): string {
  const r = o.response;
  const jobs = `${r.jobs} job${r.jobs === 1 ? '' : 's'} of ${r.namespace}/${r.batch}`;
  const where = r.pilotQueues?.length
    ? `no node of the lab can run it: pilots of allocation queue${r.pilotQueues.length === 1 ? '' : 's'} ${r.pilotQueues.join(', ')} will be submitted for it`
    : `can run on ${r.feasibleNodes.length} of ${r.knownNodes} known node${r.knownNodes === 1 ? '' : 's'}`;
  return `${r.dry ? 'would queue' : 'queued'} ${jobs}; ${where}`;
}
