// Packing an attempt's result for the head: one tar with the job's `distribute_save/` content
// at the top level and `_distribute/` (logs, result.json) beside it, gzip'd when that pays.
//
// Two ways, chosen by what the attempt left:
// - small (a few files, under SMALL_BYTES in all — most jobs): packed synchronously into
//   memory (tar-writer.ts `tarSync`), gzip'd at level 1. A fraction of a millisecond, where
//   the streaming packer's per-file promises and the thread pool cost several, and node-tar's
//   own synchronous packer was most of the compute daemon's CPU per trivial job.
// - anything else: written as a tar into the upload as it goes (tar-writer.ts: two reused
//   buffers, memory flat whatever the size or the number of files): gzip level 1
//   when a sample of its largest file compresses well (text, CSV: ~3x smaller at ~70 MB/s),
//   else a plain tar. Incompressible data (simulation output, images, anything already
//   compressed) gains nothing from deflate, and even gzip's stored blocks cost a copy and a
//   CRC on each side plus an inflate on every pull: 1 GiB of random data reached the head's
//   archive at ~120-190 MB/s that way, ~210-240 MB/s plain. Every reader (the head's
//   inspection, logs and pull, the CLI's extraction) tells the two apart by the first bytes.
import { lstatSync, readdirSync, readlinkSync, readSync, openSync, closeSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { Writable } from 'node:stream';
import { createGzip, deflateRawSync, gzipSync } from 'node:zlib';
import { tarSync, writeTar } from './tar-writer.js';

const SAVE = 'distribute_save';
const META = '_distribute';
/** results up to this size, in at most SMALL_FILES files, are packed in memory */
export const SMALL_BYTES = 1024 * 1024;
const SMALL_FILES = 64;
/** a sample compressing below this ratio is worth deflate's time */
const COMPRESSIBLE = 0.7;
const SAMPLE_BYTES = 256 * 1024;

/** The path a member takes in the archive: save content at the top level. */
function archived(path: string): string {
  return path.startsWith(`${SAVE}/`) ? path.slice(SAVE.length + 1) : path;
}

/**
 * Whether a file of the attempt goes into its archive: regular files, folders, and links that
 * stay inside the archive. The head refuses a whole archive with a link leaving it or a device,
 * so such members (a job's symlink to /etc, a FIFO) are left out here.
 */
function packable(root: string, path: string, stat: Stats): boolean {
  if (stat.isFile() || stat.isDirectory()) return true;
  if (!stat.isSymbolicLink()) return false;
  let target: string;
  try {
    target = readlinkSync(join(root, path));
  } catch {
    return false;
  }
  if (posix.isAbsolute(target)) return false;
  const resolved = posix.normalize(posix.join(posix.dirname(archived(path)), target));
  return resolved !== '..' && !resolved.startsWith('../');
}

/** What the attempt folder holds, as far as choosing how to pack it goes. */
interface Survey {
  /** top-level entries to pack, relative to the attempt folder */
  entries: string[];
  small: boolean;
  /** the largest regular file seen, for the compressibility sample */
  largest: string | null;
  /** small: every path to pack, each folder before what it holds, with what lstat said of it */
  seen: Map<string, Stats>;
}

function survey(root: string): Survey {
  let saved: string[];
  try {
    saved = readdirSync(join(root, SAVE));
  } catch {
    saved = [];
  }
  // the job's own `_distribute` in its save folder would collide with ours
  const entries = [...saved.filter((n) => n !== META).map((n) => `${SAVE}/${n}`), META];
  let files = 0;
  let bytes = 0;
  let small = true;
  let largest: string | null = null;
  let largestSize = -1;
  const seen = new Map<string, Stats>();
  const visit = (rel: string, depth: number) => {
    let st: Stats;
    try {
      st = lstatSync(join(root, rel));
    } catch {
      return;
    }
    seen.set(rel, st);
    if (st.isFile()) {
      files++;
      bytes += st.size;
      if (st.size > largestSize) {
        largestSize = st.size;
        largest = rel;
      }
    } else if (st.isDirectory()) {
      // a folder in the save folder: walked by the streaming packer, not here
      if (depth > 0) {
        small = false;
        return;
      }
      let names: string[] = [];
      try {
        names = readdirSync(join(root, rel));
      } catch {
        // unreadable: the packer will say
      }
      for (const n of names) {
        if (!small) return;
        visit(`${rel}/${n}`, depth + 1);
      }
    }
    if (files > SMALL_FILES || bytes > SMALL_BYTES) small = false;
  };
  for (const e of entries) {
    if (!small) break;
    visit(e, e === META ? 0 : 1);
  }
  return { entries, small, largest, seen };
}

/** Whether deflate pays on this file: a sample from its start compresses well. */
function compressible(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return false;
  }
  try {
    const buf = Buffer.alloc(SAMPLE_BYTES);
    const n = readSync(fd, buf, 0, buf.length, 0);
    if (n === 0) return false;
    return deflateRawSync(buf.subarray(0, n), { level: 1 }).length < n * COMPRESSIBLE;
  } finally {
    closeSync(fd);
  }
}

export type PackedResult =
  | { kind: 'buffer'; data: Buffer }
  /** written into `sink` on each call (an upload may be tried again); `gzip`: level 1, else plain tar */
  | { kind: 'stream'; gzip: boolean; writeTo: (sink: Writable) => Promise<void> };

/** Packs the attempt folder `root` (see the header for how). */
export function packResult(root: string): PackedResult {
  const s = survey(root);
  const keep = (path: string, stat: Stats) => packable(root, path, stat);
  // small: what the survey listed and lstat'd is packed as it is, not listed and lstat'd twice more
  if (s.small) return { kind: 'buffer', data: gzipSync(tarSync({ root, paths: s.seen.keys(), stats: s.seen, keep, rename: archived }), { level: 1 }) };
  const gzip = s.largest !== null && compressible(join(root, s.largest));
  return {
    kind: 'stream',
    gzip,
    writeTo: async (sink) => {
      const src = { root, paths: walk(root, s.entries), keep, rename: archived };
      if (!gzip) return writeTar(src, sink);
      const z = createGzip({ level: 1 });
      z.pipe(sink, { end: false });
      const drained = new Promise<void>((resolve, reject) => {
        z.once('end', resolve);
        z.once('error', reject);
      });
      await writeTar(src, z);
      z.end();
      await drained;
    },
  };
}

/** Every path under `entries` (relative to root), each folder before what it holds. */
function* walk(root: string, entries: string[]): Generator<string> {
  for (const e of entries) {
    yield e;
    let st: Stats;
    try {
      st = lstatSync(join(root, e));
    } catch {
      continue;
    }
    if (!st.isDirectory()) continue;
    let names: string[] = [];
    try {
      names = readdirSync(join(root, e));
    } catch {
      // unreadable: its entry alone
    }
    yield* walk(root, names.map((n) => `${e}/${n}`));
  }
}

/** The whole archive in memory (tests). */
export async function packToBuffer(root: string): Promise<Buffer> {
  const packed = packResult(root);
  if (packed.kind === 'buffer') return packed.data;
  const chunks: Buffer[] = [];
  // the writer reuses its buffers: keep copies
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  await packed.writeTo(sink);
  return Buffer.concat(chunks);
}
