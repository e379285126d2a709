// Strict extraction of a pull's tar stream into one folder. Every member must stay inside it;
// the first one that would not (an absolute path, a `..` leaving the folder, a link whose
// target leaves it, a device or FIFO, a path through a symbolic link) stops the pull with an
// error naming it. Nothing is ever written through a symbolic link: the folders on the way
// to a member are checked with lstat, and a member lands by a rename, which replaces a link
// rather than following it.
//
// Each file is written to a temp file beside its destination (`.dpart-<hash>`, a name fixed
// by the destination so a later pull overwrites a leftover), given its mode and modification
// time from the tar header, and renamed into place: a pull killed half-way leaves no partial
// file under a real name, so the next pull, comparing size and mtime, fetches exactly what is
// missing. The temp file is created exclusively (O_EXCL), so whatever stands at its name, a
// symbolic link included, is removed rather than written through.
//
// Streams from source to disk with backpressure: memory stays flat whatever the size. Bodies
// are written with synchronous calls, the socket's chunks (16–64 KiB) gathered into writes of
// up to 1 MiB: the CLI has nothing else to do meanwhile, and one trip through the thread pool
// per chunk left a pull of 1 GiB waiting on sixty thousand of them.
//
// Integrity (docs/integrity.md): each file is hashed as it is written and, when the head's index
// has its SHA-256 (`expect`), placed only if they match; one that does not is left out and
// named, and the pull goes on. A `.distribute/damaged/<job>` member is the head saying that
// job's archive broke off: the job's files placed in this pull without a checksum to prove
// them are taken back out, and the job is named.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, futimesSync, openSync, renameSync, rmSync, writevSync } from 'node:fs';
import { link, lstat, lutimes, mkdir, rename, rm, symlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { UserError } from '../../shared/errors.js';

export interface Extracted {
  /** members placed: files and links */
  members: number;
  /** regular files placed, and their bytes */
  files: number;
  bytes: number;
  /** `member: reason` of members not written for a reason that is not a danger (a hard link whose target is absent) */
  skipped: string[];
  /** files whose bytes did not match the index, or that a damaged archive leaves unproven: not in place */
  failed: { path: string; reason: string }[];
  /** jobs whose archive the head found damaged, with its words */
  damaged: { job: string; error: string }[];
  /** files placed whose SHA-256 matched the index; the others placed had none recorded */
  verified: number;
  /** every member placed, `<job>/<path>` */
  placed: Set<string>;
}

/** The SHA-256 the index holds for a member `<job>/<path>`; null or undefined when none is recorded. */
export type Expected = (path: string) => string | null | undefined;

/** Where the head tells of a job whose archive is damaged (head/pull.ts). */
const DAMAGED_PREFIX = '.distribute/damaged/';
const DAMAGED_MAX = 64 * 1024;

export interface ExtractHooks {
  /** body bytes written so far grew by `n` */
  onBytes?(n: number): void;
  /** a member is in place */
  onMember?(path: string, size: number): void;
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const ALLOWED = new Set([...FILE_TYPES, 'Directory', 'SymbolicLink', 'Link']);

function windowsAbsolute(path: string): boolean {
  return /^[A-Za-z]:/.test(path) || path.startsWith('\\');
}

/** Lexically inside: not empty, not absolute, no `..` that climbs above the start. */
function contained(path: string): boolean {
  if (path === '' || path.includes('\0') || posix.isAbsolute(path) || windowsAbsolute(path)) return false;
  const norm = posix.normalize(path);
  return !(norm === '..' || norm.startsWith('../'));
}

/**
 * Why a member may not be extracted, or null when it may. A symbolic link's `..` may only lead
 * its target (`../x`): after a name (`a/..`) it could climb out through another link (`a -> .`).
 */
export function refusalReason(path: string, type: string, linkpath: string | undefined): string | null {
  if (posix.isAbsolute(path) || windowsAbsolute(path)) return 'absolute path';
  if (!contained(path)) return 'path leaves the folder';
  if (path.split('/').includes('..')) return 'path contains ".."';
  if (!ALLOWED.has(type)) return `${type} entries are not extracted`;
  if (type === 'SymbolicLink') {
    const target = linkpath ?? '';
    if (posix.isAbsolute(target) || windowsAbsolute(target) || !contained(posix.join(posix.dirname(path), target))) return `symbolic link to ${target} leaves the folder`;
    const parts = target.split('/');
    const firstName = parts.findIndex((p) => p !== '..' && p !== '.' && p !== '');
    if (firstName >= 0 && parts.slice(firstName).includes('..')) return `symbolic link to ${target} climbs with ".." after a name`;
  }
  if (type === 'Link' && (!contained(linkpath ?? '') || (linkpath ?? '').split('/').includes('..'))) return `hard link to ${linkpath} leaves the folder`;
  return null;
}

export class UnsafeMember extends UserError {
  constructor(readonly member: string, readonly reason: string, dest: string) {
    super(`refused member ${JSON.stringify(member)} of the pull: ${reason}; the pull stopped and nothing was written outside ${dest}`, 1);
    this.name = 'UnsafeMember';
  }
}

/** The temp name a member is written under before its rename. */
export function partName(base: string): string {
  return `.dpart-${createHash('sha256').update(base).digest('hex').slice(0, 16)}`;
}

/** Folders inside `dest` known to be real folders (created or checked with lstat). */
class Folders {
  private readonly known = new Set<string>(['']);
  constructor(private readonly dest: string, private readonly member: () => string) {}

  /** Makes `rel` (a contained relative folder) exist as real folders, refusing any symlink on the way. */
  async ensure(rel: string): Promise<void> {
    if (rel === '.' || rel === '') return;
    if (this.known.has(rel)) return;
    await this.ensure(posix.dirname(rel));
    const abs = join(this.dest, rel);
    let st = await lstat(abs).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (!st) {
      await mkdir(abs).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      st = await lstat(abs);
    }
    if (st.isSymbolicLink()) throw new UnsafeMember(this.member(), `its folder ${rel} is a symbolic link, which is never written through`, this.dest);
    if (!st.isDirectory()) throw new UnsafeMember(this.member(), `its folder ${rel} is not a folder here`, this.dest);
    this.known.add(rel);
  }
}

/** Extracts `source` (a tar stream, gzipped or not) into `dest`; rejects at the first unsafe member. */
export async function extractStrict(source: Readable, dest: string, hooks: ExtractHooks = {}, expect: Expected = () => null): Promise<Extracted> {
  await mkdir(dest, { recursive: true });
  const out: Extracted = { members: 0, files: 0, bytes: 0, skipped: [], failed: [], damaged: [], verified: 0, placed: new Set() };
  /** per job, the files placed in this pull with no checksum to prove them */
  const unproven = new Map<string, string[]>();
  const jobOf = (rel: string) => rel.slice(0, rel.indexOf('/'));
  let current = '';
  const folders = new Folders(dest, () => current);
  let pendingTmp: string | null = null;

  const place = async (entry: tar.ReadEntry): Promise<void> => {
    current = entry.path;
    if (entry.path.startsWith(DAMAGED_PREFIX) && FILE_TYPES.has(entry.type) && (entry.size ?? 0) <= DAMAGED_MAX) {
      const job = entry.path.slice(DAMAGED_PREFIX.length);
      const error = await damageReport(entry);
      out.damaged.push({ job, error });
      for (const rel of unproven.get(job) ?? []) {
        await rm(join(dest, rel), { force: true });
        out.failed.push({ path: rel, reason: `its job's archive on the head is damaged and no checksum was recorded to prove this file: removed (${error})` });
        out.placed.delete(rel);
        out.files--;
        out.members--;
      }
      unproven.delete(job);
      return;
    }
    const reason = refusalReason(entry.path, entry.type, entry.linkpath);
    if (reason) throw new UnsafeMember(entry.path, reason, dest);
    const rel = posix.normalize(entry.path).replace(/\/+$/, '');
    if (entry.type === 'Directory') {
      entry.resume();
      await folders.ensure(rel);
      return;
    }
    const dir = posix.dirname(rel);
    await folders.ensure(dir);
    const final = join(dest, rel);
    const tmp = join(dest, dir, partName(posix.basename(rel)));
    pendingTmp = tmp;
    const mtime = entry.mtime ?? null;
    if (FILE_TYPES.has(entry.type)) {
      const size = entry.size ?? 0;
      const fd = openFresh(tmp, ((entry.mode ?? 0o644) & 0o777) | 0o600);
      const want = expect(rel);
      const hash = createHash('sha256');
      try {
        const written = await writeBody(entry, fd, hooks, hash);
        if (written !== size) throw new UserError(`the pull stream ended inside ${entry.path} (${written} of ${size} bytes); run the pull again to resume`, 1);
        if (mtime) futimesSync(fd, mtime, mtime);
      } finally {
        closeSync(fd);
      }
      const got = hash.digest('hex');
      if (want && got !== want) {
        rmSync(tmp, { force: true });
        pendingTmp = null;
        out.failed.push({ path: rel, reason: `its SHA-256 ${got.slice(0, 12)}… is not the ${want.slice(0, 12)}… the head recorded: not placed` });
        return;
      }
      if (want) out.verified++;
      else unproven.set(jobOf(rel), [...(unproven.get(jobOf(rel)) ?? []), rel]);
      out.files++;
      out.bytes += size;
      placeNow(tmp, final, entry.path);
      pendingTmp = null;
      out.placed.add(rel);
      out.members++;
      hooks.onMember?.(rel, size);
      return;
    }
    rmSync(tmp, { force: true });
    if (entry.type === 'SymbolicLink') {
      entry.resume();
      await symlink(entry.linkpath!, tmp);
      if (mtime) await lutimes(tmp, mtime, mtime).catch(() => {});
    } else {
      // a hard link: to a real file of this folder, reached without a symbolic link
      entry.resume();
      const target = posix.normalize(entry.linkpath!);
      const st = await lstat(join(dest, target)).catch(() => null);
      if (!st || !st.isFile()) {
        pendingTmp = null;
        out.skipped.push(`${entry.path}: hard link to ${target}, which is not here`);
        return;
      }
      await folders.ensure(posix.dirname(target));
      await link(join(dest, target), tmp);
    }
    await renameInto(tmp, final, entry.path);
    pendingTmp = null;
    out.placed.add(rel);
    out.members++;
    hooks.onMember?.(rel, entry.size ?? 0);
  };

  // Entries are placed one at a time, in order. A refused member stops everything; a broken
  // stream still lets the members whose bodies fully arrived land, and abandons the others.
  const parser = new tar.Parser({ strict: true });
  let chain: Promise<void> = Promise.resolve();
  let failed: unknown = null;
  let refused = false;
  let broken = false;
  const open = new Set<tar.ReadEntry>();
  const incomplete = (e: tar.ReadEntry) => broken && e.remain > 0;
  const abandon = (e: tar.ReadEntry) => {
    open.delete(e);
    if (e.destroyed) return;
    e.on('error', () => {});
    e.destroy(new Error('the pull stream was cut'));
  };
  parser.on('entry', (entry: tar.ReadEntry) => {
    if (refused || incomplete(entry)) return abandon(entry);
    open.add(entry);
    chain = chain.then(async () => {
      if (refused || incomplete(entry)) return abandon(entry);
      try {
        await place(entry);
      } catch (err) {
        failed ??= err;
        if (!broken) {
          // stop reading at once: no later member is looked at
          refused = true;
          parser.abort(err instanceof Error ? err : new Error(String(err)));
          source.destroy();
        }
        abandon(entry);
      } finally {
        open.delete(entry);
      }
    });
  });
  try {
    await pipeline(source, parser as unknown as NodeJS.WritableStream);
  } catch (err) {
    if (!refused) failed ??= streamFailure(err);
    broken = true;
    for (const e of [...open]) if (incomplete(e)) abandon(e);
  }
  await chain.catch((err: unknown) => (failed ??= err));
  if (failed) {
    if (pendingTmp) await rm(pendingTmp, { force: true }).catch(() => {});
    throw failed;
  }
  return out;
}

/** The head's words on a damaged archive (`{job, cut, error}`), or the raw text. */
async function damageReport(entry: tar.ReadEntry): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of entry) parts.push(c as Buffer);
  const text = Buffer.concat(parts).toString('utf8');
  try {
    const error = (JSON.parse(text) as { error?: unknown }).error;
    return typeof error === 'string' ? error : text;
  } catch {
    return text;
  }
}

/** A broken stream, in the words a user needs: what happened, and that pulling again resumes. */
function streamFailure(err: unknown): unknown {
  if (err instanceof UserError) return err;
  const e = err as NodeJS.ErrnoException;
  const what = e.code === 'ECONNRESET' || e.message === 'aborted' ? 'the connection to the head was cut' : `the pull stream is broken (${e.message})`;
  return new UserError(`${what}; the files already in place stay, run the pull again to fetch the rest`, 1);
}

/** Body bytes gathered before one write: a pull of 1 GiB is a thousand writes, not the socket's sixty thousand reads. */
const WRITE_BATCH = 1024 * 1024;

/**
 * Creates `file` for writing, never through what is already there: a leftover temp file of a
 * killed pull (or anything else at that name, a symbolic link included) is removed first.
 */
function openFresh(file: string, mode: number): number {
  try {
    return openSync(file, 'wx', mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    rmSync(file, { force: true });
    return openSync(file, 'wx', mode);
  }
}

/**
 * Writes an entry's body into `fd` as its chunks arrive, gathered into batches of up to
 * WRITE_BATCH written with synchronous calls: the CLI has nothing else to do meanwhile, and a
 * trip through the thread pool per chunk made a pull mostly waiting. Backpressure is kept: a
 * chunk is written before the next is taken. Resolves with the body's length.
 */
function writeBody(entry: tar.ReadEntry, fd: number, hooks: ExtractHooks, hash: Hash): Promise<number> {
  let batch: Buffer[] = [];
  let batched = 0;
  let written = 0;
  const flush = () => {
    if (batched === 0) return;
    for (const b of batch) hash.update(b);
    writeAll(fd, batch, batched);
    written += batched;
    hooks.onBytes?.(batched);
    batch = [];
    batched = 0;
  };
  return new Promise<number>((resolve, reject) => {
    const fail = (err: unknown) => {
      entry.removeAllListeners('data');
      entry.removeAllListeners('end');
      entry.resume();
      reject(err);
    };
    entry.on('data', (c: Buffer) => {
      batch.push(c);
      batched += c.length;
      if (batched < WRITE_BATCH) return;
      try {
        flush();
      } catch (err) {
        fail(err);
      }
    });
    entry.on('end', () => {
      try {
        flush();
        resolve(written);
      } catch (err) {
        fail(err);
      }
    });
    entry.on('error', fail);
  });
}

/** Writes `bytes` bytes held in `buffers`, however many calls it takes. */
function writeAll(fd: number, buffers: Buffer[], bytes: number): void {
  let done = writevSync(fd, buffers);
  while (done < bytes) {
    // a short write (rare on a regular file): the rest, from where it stopped
    const rest: Buffer[] = [];
    let skip = done;
    for (const b of buffers) {
      if (skip >= b.length) {
        skip -= b.length;
        continue;
      }
      rest.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
    buffers = rest;
    bytes -= done;
    done = writevSync(fd, buffers);
  }
}

/** `renameInto`, synchronously. */
function placeNow(tmp: string, final: string, member: string): void {
  try {
    renameSync(tmp, final);
  } catch (err) {
    rmSync(tmp, { force: true });
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EISDIR' || e.code === 'ENOTEMPTY' || e.code === 'EEXIST') throw new UserError(`cannot place ${member}: ${final} is a folder here`, 1);
    throw err;
  }
}

async function renameInto(tmp: string, final: string, member: string): Promise<void> {
  try {
    await rename(tmp, final);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EISDIR' || e.code === 'ENOTEMPTY' || e.code === 'EEXIST') throw new UserError(`cannot place ${member}: ${final} is a folder here`, 1);
    throw err;
  }
}
