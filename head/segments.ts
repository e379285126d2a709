// Segment files: the small results of a batch (those that came whole, in a `result` message)
// appended to `<state_dir>/archive/<ns>/<batch>/.segments/<n>.seg` instead of a file each.
//
// Every result appended to one segment in one turn of the event loop goes out in ONE write and
// ONE fdatasync (group commit, as `commitInTurn` does for the index); a new segment's folder is
// fsynced once, when the segment is made. Each result's place (segment, offset, length, SHA-256
// of its bytes) is then indexed in `archive_segments` by the caller's per-turn transaction, and
// the node hears 200 only after that commit is on disk. Bytes appended and never indexed (a
// kill in between, a result gone stale meanwhile) are dead space, never read: the index is the
// only way to a member. A segment is rotated at SEGMENT_CAP; numbers are never reused in a
// folder (the next is one more than the highest on disk), so a restarted head appends to a
// fresh segment and an offset once indexed never changes under its reader.
//
// `rm` of some of a batch's jobs rewrites each segment they lived in once, with its live
// members only (`compactSegment`); one with none left is deleted. Dead bytes of superseded
// attempts (a retry's result replacing one in a segment) are left until such a rewrite or the
// batch's `rm`: they are a failed attempt's small result each.
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { safeJoin } from '../shared/paths.js';
import { archiveDir } from './context.js';
import { syncDir } from './files.js';
import type { Store } from './store.js';

/** A segment is closed to appends once it would grow past this. */
export const SEGMENT_CAP = 64 * 1024 * 1024;
/** Segments kept open for appends at once (one per batch receiving results); the least recently used beyond are closed. */
const OPEN_MAX = 64;
export const SEGMENTS_FOLDER = '.segments';

/** Where one result was appended: what `archive_segments` records. */
export interface SegmentSlot {
  /** the segment's path under archive/: `<ns>/<batch>/.segments/<n>.seg` */
  segment: string;
  offset: number;
  length: number;
  sha256: string;
}

interface Segment {
  rel: string;
  fh: FileHandle;
  size: number;
  /** writes under way */
  writes: number;
  /** appended and not yet released by the caller (indexed, or given up) */
  pending: number;
  /** no more appends: closed once its writes end */
  sealed: boolean;
  idle: (() => void)[];
}

interface Queued {
  ns: string;
  batch: string;
  parts: Buffer[];
  bytes: number;
  waiters: { length: number; sha256: string; resolve: (s: SegmentSlot) => void; reject: (err: unknown) => void }[];
}

export class SegmentWriter {
  private readonly root: string;
  /** the segment taking appends, per batch folder (`<ns>/<batch>`), in least recently used order */
  private readonly current = new Map<string, Promise<Segment>>();
  /** every segment open or with results not yet released */
  private readonly live = new Map<string, Segment>();
  /** next segment number per batch folder */
  private readonly numbers = new Map<string, Promise<{ next: number }>>();
  private queued = new Map<string, Queued>();

  constructor(stateDir: string) {
    this.root = archiveDir(stateDir);
  }

  /**
   * Appends a result's bytes to its batch's segment, durably (written and fdatasync'd with the
   * others of this turn). The caller indexes the slot and then calls `release(slot)`, also
   * when it does not index it.
   */
  append(ns: string, batch: string, bytes: Buffer): Promise<SegmentSlot> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const folder = `${ns}/${batch}`;
    let q = this.queued.get(folder);
    if (!q) {
      q = { ns, batch, parts: [], bytes: 0, waiters: [] };
      this.queued.set(folder, q);
      if (this.queued.size === 1) setImmediate(() => this.flushTurn());
    }
    q.parts.push(bytes);
    q.bytes += bytes.length;
    return new Promise((resolve, reject) => q.waiters.push({ length: bytes.length, sha256, resolve, reject }));
  }

  /** The caller is done with an appended result (its index row committed, or abandoned). */
  release(slot: SegmentSlot): void {
    const seg = this.live.get(slot.segment);
    if (!seg) return;
    seg.pending--;
    this.settle(seg);
  }

  /**
   * Takes a segment out of use: no more appends to it, and resolves once every result appended
   * to it is indexed or given up (after this, its rows are all the live members it has).
   */
  async retire(segment: string): Promise<void> {
    const folder = segment.split('/').slice(0, 2).join('/');
    const cur = this.current.get(folder);
    if (cur) {
      const seg = await cur.catch(() => null);
      if (seg?.rel === segment && this.current.get(folder) === cur) this.current.delete(folder);
    }
    const seg = this.live.get(segment);
    if (!seg) return;
    seg.sealed = true;
    const done = new Promise<void>((resolve) => seg.idle.push(resolve));
    this.settle(seg);
    await done;
  }

  /** A batch folder going away (`rm` of the batch): its segments are closed once idle. */
  async forget(ns: string, batch: string): Promise<void> {
    const folder = `${ns}/${batch}`;
    const segs = [...this.live.values()].filter((s) => s.rel.startsWith(`${folder}/`));
    const cur = this.current.get(folder);
    this.current.delete(folder);
    this.numbers.delete(folder);
    if (cur) {
      const seg = await cur.catch(() => null);
      if (seg && !segs.includes(seg)) segs.push(seg);
    }
    await Promise.all(segs.map((s) => this.retire(s.rel)));
  }

  /** A new segment's path (`<ns>/<batch>/.segments/<n>.seg`), its folder made: for appends and rewrites alike. */
  async newSegmentName(ns: string, batch: string): Promise<string> {
    const folder = `${ns}/${batch}`;
    let n = this.numbers.get(folder);
    if (!n) {
      n = this.highest(ns, batch).then((h) => ({ next: h + 1 }));
      this.numbers.set(folder, n);
      n.catch(() => this.numbers.delete(folder));
    }
    const counter = await n;
    return `${folder}/${SEGMENTS_FOLDER}/${counter.next++}.seg`;
  }

  /** No more appends: every segment closed once its writes end. */
  close(): void {
    const all = [...this.current.values()];
    this.current.clear();
    for (const p of all) {
      void p.then((s) => {
        s.sealed = true;
        this.settle(s);
      }, () => {});
    }
  }

  /** The absolute path of a segment named in the index. */
  pathOf(segment: string): string {
    return segmentPath(this.root, segment);
  }

  private async highest(ns: string, batch: string): Promise<number> {
    const dir = safeJoin(this.root, ns, batch, SEGMENTS_FOLDER);
    let names: string[] = [];
    try {
      names = await readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    let max = 0;
    for (const name of names) {
      const m = /^(\d+)\.seg$/.exec(name);
      if (m) max = Math.max(max, Number(m[1]));
    }
    return max;
  }

  private flushTurn(): void {
    const all = this.queued;
    this.queued = new Map();
    for (const [folder, q] of all) void this.flush(folder, q);
  }

  private async flush(folder: string, q: Queued): Promise<void> {
    let seg: Segment | null = null;
    try {
      seg = await this.segmentFor(folder, q);
      const offset = seg.size;
      seg.size += q.bytes;
      seg.writes++;
      seg.pending += q.waiters.length;
      try {
        const buf = q.parts.length === 1 ? q.parts[0]! : Buffer.concat(q.parts, q.bytes);
        await writeAll(seg.fh, buf, offset);
        await seg.fh.datasync();
      } catch (err) {
        seg.pending -= q.waiters.length;
        // the segment's end is unknown now: none of its bytes after `offset` are trusted
        this.current.delete(folder);
        seg.sealed = true;
        throw err;
      } finally {
        seg.writes--;
        this.settle(seg);
      }
      let at = offset;
      for (const w of q.waiters) {
        w.resolve({ segment: seg.rel, offset: at, length: w.length, sha256: w.sha256 });
        at += w.length;
      }
    } catch (err) {
      for (const w of q.waiters) w.reject(err);
    }
  }

  /** The segment of a folder that takes `q`, made (and its folder fsynced) when there is none or it is full. */
  private async segmentFor(folder: string, q: Queued): Promise<Segment> {
    const cur = this.current.get(folder);
    if (cur) {
      const seg = await cur.catch(() => null);
      if (seg && !seg.sealed && (seg.size === 0 || seg.size + q.bytes <= SEGMENT_CAP)) {
        // most recently used last
        this.current.delete(folder);
        this.current.set(folder, cur);
        return seg;
      }
      if (seg && this.current.get(folder) === cur) {
        this.current.delete(folder);
        seg.sealed = true;
        this.settle(seg);
      }
    }
    const made = this.create(q.ns, q.batch);
    this.current.set(folder, made);
    made.catch(() => {
      if (this.current.get(folder) === made) this.current.delete(folder);
    });
    if (this.current.size > OPEN_MAX) {
      const [oldest, p] = this.current.entries().next().value as [string, Promise<Segment>];
      this.current.delete(oldest);
      void p.then((s) => {
        s.sealed = true;
        this.settle(s);
      }, () => {});
    }
    return made;
  }

  private async create(ns: string, batch: string): Promise<Segment> {
    const rel = await this.newSegmentName(ns, batch);
    const file = this.pathOf(rel);
    const dir = safeJoin(this.root, ns, batch, SEGMENTS_FOLDER);
    await mkdir(dir, { recursive: true });
    const fh = await open(file, 'wx', 0o600);
    try {
      // the new name, and the folders leading to it, on disk before anything in it is acknowledged
      await syncDir(dir);
      await syncDir(safeJoin(this.root, ns, batch));
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
    const seg: Segment = { rel, fh, size: 0, writes: 0, pending: 0, sealed: false, idle: [] };
    this.live.set(rel, seg);
    return seg;
  }

  /** Closes a sealed segment once nothing is written to it, and wakes who waits for it to be idle. */
  private settle(seg: Segment): void {
    if (!seg.sealed || seg.writes > 0) return;
    if (seg.pending > 0) return;
    if (this.live.get(seg.rel) === seg) {
      this.live.delete(seg.rel);
      void seg.fh.close().catch(() => {});
    }
    const idle = seg.idle;
    seg.idle = [];
    for (const w of idle) w();
  }
}

export function segmentPath(archiveRoot: string, segment: string): string {
  return safeJoin(archiveRoot, ...segment.split('/'));
}

async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  for (let done = 0; done < buf.length; ) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

const writers = new Map<string, SegmentWriter>();

/** Small results of this state dir go to segments from now on (the head does this at start when head.yaml says so). */
export function useSegments(stateDir: string): SegmentWriter {
  let w = writers.get(stateDir);
  if (!w) writers.set(stateDir, (w = new SegmentWriter(stateDir)));
  return w;
}

/** The segment writer of a state dir, or null when its small results get files of their own. */
export function segmentsOf(stateDir: string): SegmentWriter | null {
  return writers.get(stateDir) ?? null;
}

/** The head stops using segments for this state dir (its close): each closed once its writes end. */
export function stopSegments(stateDir: string): void {
  writers.get(stateDir)?.close();
  writers.delete(stateDir);
}

interface LiveRow {
  job_id: number;
  offset: number;
  length: number;
}

/**
 * Rewrites a segment with only its live members (those the index still points at): copied to
 * a new segment, fdatasync'd, its folder fsynced, the rows moved in one durable transaction,
 * then the old one deleted. A segment with no live member is just deleted. A kill at any step
 * leaves the index pointing at whole bytes (the old segment until the commit, the new after),
 * and at worst a file nothing points at. Returns the bytes freed.
 */
export async function compactSegment(store: Store, writer: SegmentWriter | null, stateDir: string, segment: string): Promise<number> {
  const root = archiveDir(stateDir);
  const old = segmentPath(root, segment);
  await writer?.retire(segment);
  const before = await stat(old).then((s) => s.size, () => 0);
  const rows = store.stmt<LiveRow>('SELECT job_id, offset, length FROM archive_segments WHERE segment = ? ORDER BY offset').all(segment);
  if (rows.length === 0) {
    await rm(old, { force: true });
    return before;
  }
  const [ns, batch] = segment.split('/') as [string, string];
  const name = writer ? await writer.newSegmentName(ns, batch) : await new SegmentWriter(stateDir).newSegmentName(ns, batch);
  const fresh = segmentPath(root, name);
  const src = await open(old, 'r');
  let size = 0;
  const moved: { job: number; from: number; to: number }[] = [];
  try {
    const out = await open(fresh, 'wx', 0o600);
    try {
      for (const r of rows) {
        const buf = Buffer.allocUnsafe(r.length);
        const { bytesRead } = await src.read(buf, 0, r.length, r.offset);
        // a member cut short stays as short as it is: its checksum fails it on every read
        await writeAll(out, buf.subarray(0, bytesRead), size);
        moved.push({ job: r.job_id, from: r.offset, to: size });
        size += bytesRead;
      }
      await out.datasync();
    } finally {
      await out.close();
    }
    await syncDir(join(fresh, '..'));
  } catch (err) {
    await rm(fresh, { force: true });
    throw err;
  } finally {
    await src.close();
  }
  await store.commitDurably(() => {
    const move = store.stmt('UPDATE archive_segments SET segment = ?, offset = ? WHERE job_id = ? AND segment = ? AND offset = ?');
    for (const m of moved) move.run(name, m.to, m.job, segment, m.from);
  });
  await rm(old, { force: true });
  return before - size;
}
