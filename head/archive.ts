// The result archive: `<state_dir>/archive/<namespace>/<batch>/<job>.tar.gz`, one per job
// (its latest archived attempt), and an index of its members in the database so pull rules
// are answered without opening tarballs.
//
// Accepting a result: the upload streams to a temp file in `archive/.tmp` (same file system)
// and through node-tar's parser at once; a member with an absolute path, a `..` component, a
// link leaving the tree, or a device refuses the whole archive. Then the file is fsynced,
// renamed into place, its folder fsynced, and one transaction indexes the members and ends
// the job; the node hears 200 once that commit is on disk (see `acceptResult`). A small result
// that came whole in a message is appended to its batch's segment file instead, when the head
// uses them (head/segments.ts); readers find either through head/archive-location.ts.
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, renameSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { once } from 'node:events';
import { createGunzip, gunzipSync, type Gunzip } from 'node:zlib';
import { MAX_SMALL_RESULT_INFLATED } from '../shared/limits.js';
import { dirname, isAbsolute, join, posix } from 'node:path';
import type { Writable } from 'node:stream';
import * as tar from 'tar';
import { z } from 'zod';
import { isContainedRelative } from '../shared/paths.js';
import { CHECKSUMS_MAX, CHECKSUMS_MEMBER, ChecksumsManifest } from '../shared/result-checksums.js';
import { archivePath, asLocation, readSegmentMember, type ArchiveLocation } from './archive-location.js';
import { archiveDir } from './context.js';
import { discard, FolderSyncs, writeTemp } from './files.js';
import { plainEntries } from './plain-tar.js';
import { segmentsOf, type SegmentSlot, type SegmentWriter } from './segments.js';
import type { AttemptRow, JobRow, Store } from './store.js';
import { currentAttempt, currentOf, refuseResult, settleResult, type ResultVerdict, type SettleOutcome } from './transitions.js';

export const RESULT_JSON = '_distribute/result.json';
const RESULT_JSON_MAX = 1024 * 1024;

// where a job's own archive file is lives with the other locations (no import cycle); here too for its readers
export { archivePath };

export interface Member {
  path: string;
  size: number;
  mtime: number | null;
  /** SHA-256 of a file's bytes as the head read them; null for links */
  sha256: string | null;
}

const ResultJson = z.object({
  exit_code: z.number().int().nullable(),
  signal: z.string().nullable().optional(),
  timed_out: z.boolean().optional(),
  cancelled: z.boolean().optional(),
  /** killed by the kernel at its memory limit (docs/containment.md) */
  out_of_memory: z.boolean().optional().catch(undefined),
  /** why the attempt could not start its process */
  error: z.string().nullable().optional(),
  /** what it used (docs/containment.md); a malformed one is ignored, not the result */
  usage: z
    .object({
      cpu_seconds: z.number().nonnegative().max(1e12).nullable(),
      peak_memory_bytes: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).nullable(),
      wall_seconds: z.number().nonnegative().max(1e12),
    })
    .optional()
    .catch(undefined),
});
export type ResultJson = z.infer<typeof ResultJson>;

export interface Inspection {
  members: Member[];
  result: ResultJson | null;
  /** why the archive is refused; empty when it is acceptable */
  problems: string[];
  /** members whose bytes differ from the node's checksums (damaged on the way: the node sends it again) */
  mismatches: string[];
  /** whether the node sent checksums (a result packed before they existed has none) */
  checked: boolean;
}

const MEMBER_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);
const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

/** A member path as it is indexed: POSIX, without a leading `./` or trailing `/`. */
export function memberPath(raw: string): string {
  return raw.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
}

/** Why a member may not be in a result archive; null when it may. */
export function memberProblem(e: { path: string; type: string; linkpath?: string }): string | null {
  const p = memberPath(e.path);
  if (isAbsolute(e.path) || e.path.startsWith('/')) return `member ${JSON.stringify(e.path)} has an absolute path`;
  if (p.split('/').includes('..')) return `member ${JSON.stringify(e.path)} contains ".."`;
  if (p.includes('\0')) return `member ${JSON.stringify(e.path)} contains a NUL byte`;
  if (!MEMBER_TYPES.has(e.type)) return `member ${JSON.stringify(e.path)} is a ${e.type}; only files, folders and links inside the tree are allowed`;
  if (e.type === 'SymbolicLink' || e.type === 'Link') {
    const link = e.linkpath ?? '';
    const target = e.type === 'SymbolicLink' ? posix.join(posix.dirname(p), link) : link;
    if (link.startsWith('/') || !isContainedRelative(target)) return `member ${JSON.stringify(e.path)} links to ${JSON.stringify(link)}, outside the archive`;
  }
  return null;
}

/**
 * Checks an archive as its bytes go by: `write` each chunk (gzip or plain tar, told by its first
 * bytes), then `end()` resolves with the members, result.json and the problems. Gunzipped by
 * Node's zlib in bounded chunks (see `tarStream`), entry bodies skipped as they pass: memory
 * stays flat whatever the size. `write` resolves when the chunk is taken (backpressure).
 */
export class ArchiveInspector {
  private readonly members = new Map<string, Member>();
  private readonly problems: string[] = [];
  private resultText: Promise<string> | null = null;
  private checksumsText: Promise<string> | null = null;
  private checksumsTooLarge = false;
  private readonly parser: tar.Parser;
  private gunzip: Gunzip | null = null;
  private sniffed = false;
  private readonly finished: Promise<void>;
  private settle!: () => void;
  private failed = false;
  /** read by plainEntries, without the parser */
  private readWhole = false;

  constructor() {
    this.parser = new tar.Parser({
      strict: true,
      onReadEntry: (entry) => this.take({ path: entry.path, type: entry.type, linkpath: entry.linkpath, size: entry.size ?? 0, mtime: entry.mtime ? entry.mtime.getTime() : null }, entry),
    });
    this.finished = new Promise<void>((resolve) => (this.settle = resolve));
    this.parser.on('error', (err: Error) => this.fail(err));
    this.parser.on('end', () => this.settle());
  }

  /** One entry, its body a stream (node-tar's) or its bytes (an archive held whole). */
  private take(e: { path: string; type: string; linkpath?: string | undefined; size: number; mtime: number | null }, body: tar.ReadEntry | Buffer): void {
    const skip = () => {
      if (!Buffer.isBuffer(body)) body.resume();
    };
    const text = (): Promise<string> => (Buffer.isBuffer(body) ? Promise.resolve(body.toString('utf8')) : collect(body));
    const problem = memberProblem(e);
    if (problem) {
      this.problems.push(problem);
      return skip();
    }
    const path = memberPath(e.path);
    const isFile = FILE_TYPES.has(e.type);
    if (path === CHECKSUMS_MEMBER && isFile) {
      // the node's checksums: read, not indexed (never pulled)
      if (e.size <= CHECKSUMS_MAX) this.checksumsText = text();
      else {
        this.checksumsTooLarge = true;
        skip();
      }
      return;
    }
    if (e.type !== 'Directory' && path !== '') {
      const member: Member = { path, size: e.size, mtime: e.mtime, sha256: null };
      this.members.set(path, member);
      if (isFile) {
        const hash = createHash('sha256');
        if (Buffer.isBuffer(body)) member.sha256 = hash.update(body).digest('hex');
        else {
          body.on('data', (d: Buffer) => hash.update(d));
          body.on('end', () => (member.sha256 = hash.digest('hex')));
        }
      }
    }
    if (path === RESULT_JSON && e.type === 'File' && e.size <= RESULT_JSON_MAX) this.resultText = text();
    else skip();
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failed || chunk.length === 0) return;
    if (!this.sniffed) {
      this.sniffed = true;
      if (chunk[0] === 0x1f && chunk[1] === 0x8b) {
        // 1 MiB out per inflate call: a thousand trips through the thread pool per GiB, not sixteen thousand
        const gunzip = createGunzip({ chunkSize: 1024 * 1024 });
        gunzip.on('error', (err) => this.fail(err));
        gunzip.pipe(this.parser as unknown as NodeJS.WritableStream);
        this.gunzip = gunzip;
      }
    }
    try {
      if (this.gunzip) {
        if (!this.gunzip.write(chunk)) await Promise.race([once(this.gunzip, 'drain'), this.finished]);
      } else {
        this.parser.write(chunk);
      }
    } catch (err) {
      this.fail(err);
    }
  }

  /** Several chunks in order: each as it is for a plain tar, gathered into one for gunzip (fewer inflate calls). */
  async writeMany(chunks: Buffer[]): Promise<void> {
    if (chunks.length === 1 || (this.sniffed && !this.gunzip)) {
      for (const c of chunks) await this.write(c);
      return;
    }
    await this.write(Buffer.concat(chunks));
  }

  /**
   * The whole archive at once (a small result that came in one message): gunzipped and parsed
   * synchronously, without the thread pool trips of the streaming path. Then call `end()`.
   * Inflating stops at MAX_SMALL_RESULT_INFLATED (a node packs only a few small files this way):
   * a gzip bomb costs the loop a few milliseconds, not seconds and gigabytes.
   */
  writeAll(archive: Buffer): void {
    this.sniffed = true;
    try {
      const plain = archive[0] === 0x1f && archive[1] === 0x8b ? gunzipSync(archive, { maxOutputLength: MAX_SMALL_RESULT_INFLATED }) : archive;
      const entries = plainEntries(plain);
      if (!entries) return void this.parser.write(plain);
      for (const e of entries) this.take(e, e.body);
      this.readWhole = true;
      this.settle();
    } catch (err) {
      this.fail(err);
    }
  }

  async end(): Promise<Inspection> {
    if (!this.failed) {
      try {
        if (this.gunzip) this.gunzip.end();
        else if (!this.readWhole) this.parser.end();
      } catch (err) {
        this.fail(err);
      }
    }
    await this.finished;
    let result: ResultJson | null = null;
    // after a parse error result.json may never be read to its end; the archive is refused anyway
    if (this.resultText && !this.failed) {
      try {
        const parsed = ResultJson.safeParse(JSON.parse(await this.resultText));
        if (parsed.success) result = parsed.data;
      } catch {
        result = null;
      }
    }
    const members = [...this.members.values()];
    const { mismatches, checked } = this.failed ? { mismatches: [], checked: false } : await this.compare(members);
    return { members, result, problems: this.problems, mismatches, checked };
  }

  /** Each file's hash against the node's checksums, when it sent them. */
  private async compare(members: Member[]): Promise<{ mismatches: string[]; checked: boolean }> {
    if (this.checksumsTooLarge || !this.checksumsText) return { mismatches: [], checked: false };
    let sums: Record<string, string>;
    try {
      const parsed = ChecksumsManifest.safeParse(JSON.parse(await this.checksumsText));
      if (!parsed.success) return { mismatches: [`${CHECKSUMS_MEMBER} is not a map of paths to SHA-256 hashes`], checked: true };
      sums = parsed.data.sha256;
    } catch {
      return { mismatches: [`${CHECKSUMS_MEMBER} is not valid JSON`], checked: true };
    }
    const mismatches: string[] = [];
    const listed = new Set<string>();
    for (const m of members) {
      if (m.sha256 === null) continue;
      const want = Object.hasOwn(sums, m.path) ? sums[m.path] : undefined;
      listed.add(m.path);
      if (want === undefined) mismatches.push(`${m.path}: no checksum from the node`);
      else if (want !== m.sha256) mismatches.push(`${m.path}: SHA-256 ${m.sha256.slice(0, 12)}… where the node sent ${want.slice(0, 12)}…`);
    }
    for (const path of Object.keys(sums)) if (!listed.has(memberPath(path))) mismatches.push(`${path}: in the node's checksums but not in the archive`);
    return { mismatches, checked: true };
  }

  private fail(err: unknown): void {
    if (!this.failed) this.problems.push(`not a readable .tar.gz: ${(err as Error).message}`);
    this.failed = true;
    this.gunzip?.unpipe();
    this.settle();
  }
}

/** Lists an archive file (streamed: one entry at a time), validates every member, reads result.json. */
export async function inspectArchive(file: string): Promise<Inspection> {
  const inspector = new ArchiveInspector();
  for await (const chunk of createReadStream(file)) await inspector.write(chunk as Buffer);
  return inspector.end();
}

function collect(stream: tar.ReadEntry): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.on('data', (d: Buffer) => parts.push(d));
    stream.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    stream.on('error', reject);
  });
}

export type AcceptOutcome =
  | { status: 200; state: SettleOutcome; members: number; path: string; exitCode: number | null; error: string | null; checked: boolean }
  | { status: 400 | 403 | 409 | 422; error: string };

/**
 * An upload whose bytes differ from the node's checksums is answered 422 and not stored: the
 * node keeps its copy and sends it again (packed afresh). After this many such uploads of one
 * attempt the fault is the node's own, and the result is refused like any unusable archive.
 */
export const MAX_MISMATCHED_UPLOADS = 3;
const mismatchedUploads = new Map<number, number>();

/**
 * Takes a node's upload of an attempt's result. 409 when the attempt is stale (nothing is
 * written), 400 when the archive is unusable (the job fails; the node must not retry).
 *
 * The body is inspected as it streams to its temp file (never read twice), and the fsyncs
 * that make it durable — the file, its folder after the rename, the database's WAL — run in
 * the thread pool and are shared by the results that arrive together (group commit), so
 * neither the event loop nor one result per fsync waits on the disk. The order is kept: the
 * file is on disk before it is renamed, the rename before the database says archived, and
 * the commit before the node hears 200.
 */
export async function acceptResult(store: Store, stateDir: string, node: string, attemptId: number, body: Readable | Buffer): Promise<AcceptOutcome> {
  const attempt = store.attempt(attemptId);
  if (!attempt) return { status: 409, error: `attempt ${attemptId} is unknown to this head; discard this result` };
  if (attempt.node !== node) return { status: 403, error: `attempt ${attemptId} was assigned to node ${attempt.node}, not ${node}` };
  if (!currentOf(store, attempt, node)) return { status: 409, error: `attempt ${attemptId} is stale: its job has moved on; discard this result` };

  const tmpDir = join(archiveDir(stateDir), '.tmp');
  // a small result goes to a segment (after the checks below), with no temp file of its own
  const segments = Buffer.isBuffer(body) ? segmentsOf(stateDir) : null;
  const received = Buffer.isBuffer(body) ? await receiveBuffer(body, segments ? null : tmpDir) : await receiveResult(body, tmpDir);
  const inspection = received.inspection;

  // synchronous from the check to the rename: no other event can change the job in between
  const cur = currentAttempt(store, attemptId, node);
  if (!cur) {
    if (received.tmp) await discard(received.tmp);
    return { status: 409, error: `attempt ${attemptId} became stale while its result was uploaded; discard this result` };
  }
  const batch = store.batch(cur.job.batch_id)!;
  if (inspection.mismatches.length && !inspection.problems.length) {
    const list = `${inspection.mismatches.slice(0, 5).join('; ')}${inspection.mismatches.length > 5 ? ` (and ${inspection.mismatches.length - 5} more)` : ''}`;
    const tries = (mismatchedUploads.get(attemptId) ?? 0) + 1;
    if (tries < MAX_MISMATCHED_UPLOADS) {
      mismatchedUploads.set(attemptId, tries);
      if (received.tmp) await discard(received.tmp);
      return { status: 422, error: `result of attempt ${attemptId} damaged on the way (upload ${tries} of at most ${MAX_MISMATCHED_UPLOADS}): ${list}; send it again` };
    }
    inspection.problems.push(`its bytes did not match the node's checksums in ${tries} uploads: ${list}`);
  }
  mismatchedUploads.delete(attemptId);
  if (inspection.problems.length) {
    const error = `result archive refused: ${inspection.problems.slice(0, 5).join('; ')}${inspection.problems.length > 5 ? ` (and ${inspection.problems.length - 5} more)` : ''}`;
    const job = cur.job;
    await store.commitDurably(() => refuseResult(store, job, attemptId, error));
    if (received.tmp) await discard(received.tmp);
    return { status: 400, error };
  }
  if (segments && Buffer.isBuffer(body)) return intoSegment(store, stateDir, segments, node, attemptId, body, inspection, batch.namespace, batch.name);

  const dest = archivePath(stateDir, batch.namespace, batch.name, cur.job.name);
  const tmp = received.tmp!;
  try {
    mkdirSync(dirname(dest), { recursive: true });
    renameSync(tmp, dest);
  } catch (err) {
    await discard(tmp);
    throw err;
  }
  await folderSyncs.sync(dirname(dest));

  // the results of a turn are indexed in one transaction with one fsync; checked again inside
  // it: a kill or a lost node before it ends the attempt's claim (its archive stays in place,
  // unindexed, until the job's next result replaces it)
  let settled: Settled | null;
  try {
    // an earlier attempt's result in a segment is dead bytes now (reclaimed by rm)
    settled = await store.commitInTurn(() => settleIndexed(store, attemptId, node, inspection, (jobId) => store.stmt('DELETE FROM archive_segments WHERE job_id = ?').run(jobId)));
  } catch (err) {
    // the database could not say so (a full disk): no archive the index does not know stays
    // behind; the node keeps its copy and sends it again
    await discard(dest);
    throw err;
  }
  if (!settled) return { status: 409, error: `attempt ${attemptId} became stale while its result was stored; discard this result` };
  const { state, verdict } = settled;
  return { status: 200, state, members: inspection.members.length, path: dest, exitCode: verdict.exitCode, error: verdict.error, checked: inspection.checked };
}

type Settled = { state: SettleOutcome; verdict: ResultVerdict; job: JobRow };

/**
 * Inside the turn's transaction: the attempt checked current again, its members indexed,
 * `place` records where its bytes are, and the job settled; null when it went stale meanwhile.
 */
function settleIndexed(store: Store, attemptId: number, node: string, inspection: Inspection, place: (jobId: number) => void): Settled | null {
  const now = currentAttempt(store, attemptId, node);
  if (!now) return null;
  const { job } = now;
  const verdict = judge(inspection.result, now.attempt);
  indexMembers(store, job.id, inspection.members);
  place(job.id);
  return { state: settleResult(store, job, attemptId, verdict), verdict, job };
}

function indexMembers(store: Store, jobId: number, members: Member[]): void {
  store.stmt('DELETE FROM archive_members WHERE job_id = ?').run(jobId);
  const insert = store.stmt('INSERT OR REPLACE INTO archive_members (job_id, path, size, mtime, sha256) VALUES (?, ?, ?, ?, ?)');
  for (const m of members) insert.run(jobId, m.path, m.size, m.mtime, m.sha256);
}

/**
 * A small result, checked, into its batch's segment: appended and fdatasync'd with the others
 * of this turn, then indexed (members and place) in the turn's transaction that settles the
 * job, checked current again inside it. Appended bytes a kill or a stale attempt leaves
 * unindexed are dead space. When an earlier attempt's result was a file of its own, that file
 * is deleted once the commit is on disk.
 */
async function intoSegment(
  store: Store, stateDir: string, segments: SegmentWriter, node: string, attemptId: number, archive: Buffer, inspection: Inspection, namespace: string, batchName: string,
): Promise<AcceptOutcome> {
  const slot: SegmentSlot = await segments.append(namespace, batchName, archive);
  let settled: Settled | null;
  try {
    settled = await store.commitInTurn(() =>
      settleIndexed(store, attemptId, node, inspection, (jobId) =>
        store
          .stmt('INSERT OR REPLACE INTO archive_segments (job_id, segment, offset, length, sha256) VALUES (?, ?, ?, ?, ?)')
          .run(jobId, slot.segment, slot.offset, slot.length, slot.sha256),
      ),
    );
  } finally {
    segments.release(slot);
  }
  if (!settled) return { status: 409, error: `attempt ${attemptId} became stale while its result was stored; discard this result` };
  const { state, verdict } = settled;
  if (settled.job.attempt_count > 1) await rm(archivePath(stateDir, namespace, batchName, settled.job.name), { force: true });
  return { status: 200, state, members: inspection.members.length, path: segments.pathOf(slot.segment), exitCode: verdict.exitCode, error: verdict.error, checked: inspection.checked };
}

/** What a result says of its attempt; the attempt's own report when result.json is unreadable. */
function judge(r: ResultJson | null, attempt: AttemptRow): ResultVerdict {
  const exitCode = r ? r.exit_code : attempt.exit_code;
  const signal = r ? (r.signal ?? null) : attempt.signal;
  const ok = r !== null && r.exit_code === 0 && !r.signal && !r.timed_out && !r.cancelled && !r.error;
  const error = ok ? null
    : r === null ? `the result has no readable ${RESULT_JSON}`
    : r.timed_out ? 'timed out'
    : r.cancelled ? 'cancelled'
    : r.error ? r.error
    : r.signal ? `killed by ${r.signal}`
    : `exited with code ${r.exit_code}`;
  const retryable = r !== null && !r.cancelled && !r.error && (r.timed_out === true || !!r.signal || (r.exit_code !== null && r.exit_code !== 0));
  const usage = r?.usage ? { cpuSeconds: r.usage.cpu_seconds, peakMemory: r.usage.peak_memory_bytes, wallSeconds: r.usage.wall_seconds } : null;
  return { ok, retryable, exitCode, signal, error, usage, outOfMemory: !ok && r?.out_of_memory === true, timedOut: !ok && r?.timed_out === true && !r.cancelled };
}

const folderSyncs = new FolderSyncs();

/** Upload chunks are gathered up to this size before they are written and inspected. */
const RECEIVE_BATCH = 1024 * 1024;
/**
 * Once this much more of an upload is written, its file is flushed to disk in the background
 * (one flush at a time): the disk writes the result while the rest arrives, rather than all of
 * it at the final fsync (the kernel starts writing back on its own only past a tenth of memory).
 */
const FLUSH_EVERY = 64 * 1024 * 1024;

/**
 * Streams an upload to a fresh temp file in `tmpDir`, inspecting it on the way, and fsyncs
 * the file. The socket's chunks (~64 KiB) are gathered into batches of up to 1 MiB, each
 * written and inspected before more is read: memory stays flat, and a 1 GiB result costs a
 * thousand trips through the thread pool rather than sixteen thousand.
 */
async function receiveResult(body: Readable, tmpDir: string): Promise<{ tmp: string; size: number; inspection: Inspection }> {
  const inspector = new ArchiveInspector();
  let size = 0;
  const tmp = await writeTemp(tmpDir, async (file) => {
    let batch: Buffer[] = [];
    let batched = 0;
    let unflushed = 0;
    let flushing: Promise<void> | null = null;
    let flushFailed: unknown;
    const flush = async () => {
      if (batched === 0) return;
      // the socket's chunks as they are (writev): a copy into one buffer cost a fifth of the head's time on a big result
      const bufs = batch;
      batch = [];
      unflushed += batched;
      batched = 0;
      await Promise.all([inspector.writeMany(bufs), file.writev(bufs)]);
      if (unflushed >= FLUSH_EVERY && flushing === null) {
        unflushed = 0;
        // a write-back error is reported to one flush only: kept, and thrown before the final fsync
        flushing = file.datasync().then(() => {}, (err: unknown) => void (flushFailed ??= err)).finally(() => (flushing = null));
      }
    };
    // a failed write (a full disk) must not destroy the request: its socket carries the answer
    for await (const chunk of body.iterator({ destroyOnReturn: false })) {
      const buf = chunk as Buffer;
      size += buf.length;
      batch.push(buf);
      batched += buf.length;
      if (batched >= RECEIVE_BATCH) await flush();
    }
    await flush();
    await flushing;
    if (flushFailed !== undefined) throw flushFailed;
  });
  return { tmp, size, inspection: await inspector.end() };
}

/** The same for an archive that came whole, in one message; no temp file when `tmpDir` is null (it goes to a segment). */
async function receiveBuffer(archive: Buffer, tmpDir: string | null): Promise<{ tmp: string | null; size: number; inspection: Inspection }> {
  const inspector = new ArchiveInspector();
  inspector.writeAll(archive);
  const tmp = tmpDir === null ? null : await writeTemp(tmpDir, async (file) => {
    await file.write(archive);
  });
  return { tmp, size: archive.length, inspection: await inspector.end() };
}

/**
 * An archive as a plain tar stream. Gunzipped by Node's zlib, which inflates in bounded chunks
 * with backpressure: node-tar's own gunzip inflates each input chunk whole, so a 16 MiB chunk of
 * a result of zeros (~1000× smaller than its content) became a buffer of gigabytes, and its
 * guard against that ratio refused such results outright.
 */
async function tarStream(where: string | ArchiveLocation): Promise<{ stream: Readable; close: () => void }> {
  const loc = asLocation(where);
  const magic = Buffer.alloc(2);
  let raw: Readable;
  if (loc.length !== null) {
    // a segment member: small, read whole and checked against its SHA-256 before it is used
    const bytes = await readSegmentMember(loc);
    bytes.copy(magic, 0, 0, 2);
    raw = Readable.from([bytes]);
  } else {
    const fh = await open(loc.file, 'r');
    try {
      await fh.read(magic, 0, 2, 0);
    } finally {
      await fh.close();
    }
    raw = createReadStream(loc.file);
  }
  if (magic[0] !== 0x1f || magic[1] !== 0x8b) return { stream: raw, close: () => raw.destroy() };
  const gunzip = createGunzip();
  raw.on('error', (err) => gunzip.destroy(err));
  raw.pipe(gunzip);
  return {
    stream: gunzip,
    close: () => {
      raw.destroy();
      gunzip.destroy();
    },
  };
}

/**
 * Reads an archive entry by entry, with backpressure: the file is read only as fast as the
 * entries' bodies are consumed. `onEntry` must consume (pipe) or `resume()` every entry. When
 * `signal` aborts (the consumer went away and will never drain), the file is closed and the
 * promise rejects, instead of waiting forever on a paused entry.
 */
export async function readArchive(file: string | ArchiveLocation, onEntry: (entry: tar.ReadEntry) => void, signal?: AbortSignal): Promise<void> {
  const input = await tarStream(file);
  return new Promise((resolve, reject) => {
    const parser = new tar.Parser({ strict: true, onReadEntry: onEntry });
    const abort = () => {
      input.close();
      reject(signal?.reason instanceof Error ? signal.reason : new Error('archive read aborted'));
    };
    if (signal?.aborted) return abort();
    signal?.addEventListener('abort', abort, { once: true });
    const settle = (fn: () => void) => {
      signal?.removeEventListener('abort', abort);
      fn();
    };
    input.stream.on('error', (err) => settle(() => reject(err)));
    parser.on('error', (err: Error) => settle(() => reject(err)));
    parser.on('end', () => settle(resolve));
    input.stream.pipe(parser as unknown as NodeJS.WritableStream);
  });
}

/**
 * Streams one member of an archive into `out` (not ended), skipping its first `skip` bytes.
 * Resolves with whether the member was found. Memory stays flat.
 */
export async function copyMember(file: string | ArchiveLocation, member: string, out: Writable, skip = 0): Promise<boolean> {
  let found = false;
  await readArchive(file, (entry) => {
    if (found || memberPath(entry.path) !== member || entry.type !== 'File') {
      entry.resume();
      return;
    }
    found = true;
    let toSkip = skip;
    if (toSkip === 0) {
      entry.pipe(out, { end: false });
      return;
    }
    entry.on('data', (chunk: Buffer) => {
      if (toSkip >= chunk.length) {
        toSkip -= chunk.length;
        return;
      }
      const rest = chunk.subarray(toSkip);
      toSkip = 0;
      if (!out.write(rest)) {
        entry.pause();
        out.once('drain', () => entry.resume());
      }
    });
  });
  return found;
}
