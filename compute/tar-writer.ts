// A tar written straight into a Writable (the upload, or a gzip in front of it), file contents
// read through two reused 1 MiB buffers. node-tar's packer allocates a fresh buffer for every
// read and a job for every file of a folder at once; passing 1 GiB through it left tens of MB
// of garbage between collections and put the compute daemon over 150 MB resident on a result
// of 10,000 files. Headers are node-tar's own (Header, Pax for long names), in its portable
// form (no owner names or ids), as its packer writes them.
//
// Every file's bytes are hashed (SHA-256) as they are read, and the hashes go last, as the
// member `_distribute/sha256.json` (shared/result-checksums.ts): the head checks each member
// against them, so a byte changed on the way is caught without reading any file twice.
import { createHash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { Header, Pax } from 'tar';
import { CHECKSUMS_MEMBER, encodeChecksums } from '../shared/result-checksums.js';

const BLOCK = 512;
const CHUNK = 1024 * 1024;

export interface TarSource {
  /** the folder the paths are relative to */
  root: string;
  /** paths relative to root, each folder before what it holds */
  paths: Iterable<string>;
  /** what lstat said of some of the paths already (not asked again) */
  stats?: ReadonlyMap<string, Stats>;
  /** whether a path goes into the archive */
  keep: (path: string, stat: Stats) => boolean;
  /** the name a path (or a link's target) takes in the archive */
  rename: (path: string) => string;
}

/** Writes `chunk` and resolves once the sink has taken it (the buffer may then be reused). */
function put(sink: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    sink.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}

/** As node-tar's portable packer: owner bits kept, group/other write dropped, folders listable. */
function modeOf(stat: Stats): number {
  let mode = ((stat.mode & 0o7777) | 0o600) & ~0o22;
  if (stat.isDirectory()) {
    if (mode & 0o400) mode |= 0o100;
    if (mode & 0o40) mode |= 0o10;
    if (mode & 0o4) mode |= 0o1;
  }
  return mode;
}

interface EntryFields {
  path: string;
  mode: number;
  size: number;
  mtime?: Date;
  type: 'File' | 'Directory' | 'SymbolicLink';
  linkpath?: string;
}
type FileFields = EntryFields & { type: 'File'; mtime: Date };

/** The hashes of the files written so far, by archived path. */
type Sums = Map<string, string>;

/** The checksums member's header and body (padded), ending the archive's entries. */
function checksumsBlocks(sums: Sums): Buffer[] {
  const body = encodeChecksums(sums);
  const padded = Buffer.alloc(Math.ceil(body.length / BLOCK) * BLOCK);
  body.copy(padded);
  return [...headerBlocks({ path: CHECKSUMS_MEMBER, mode: 0o644, size: body.length, mtime: new Date(), type: 'File' }), padded];
}

/** The header of an entry: a pax record first when its name or link does not fit the header. */
function headerBlocks(fields: EntryFields): Buffer[] {
  const header = new Header(fields);
  if (!header.encode()) return [header.block!];
  return [new Pax({ path: fields.path, linkpath: fields.linkpath, size: fields.size, mtime: fields.mtime }).encode(), header.block!];
}

async function putHeader(sink: Writable, fields: EntryFields): Promise<void> {
  for (const block of headerBlocks(fields)) await put(sink, block);
}

/**
 * The entries of the archive, in order: every path still there and kept, under its archived
 * name, with its header fields; a file also with where to read its body.
 */
function* tarEntries(src: TarSource): Generator<{ fields: EntryFields; file: null } | { fields: FileFields; file: string }> {
  for (const rel of src.paths) {
    let st: Stats;
    try {
      st = src.stats?.get(rel) ?? lstatSync(join(src.root, rel));
    } catch {
      continue; // gone since it was listed
    }
    if (!src.keep(rel, st)) continue;
    const name = src.rename(rel);
    // ours alone, written last (a job's file of that name would stand beside it)
    if (name === CHECKSUMS_MEMBER) continue;
    if (st.isDirectory()) {
      if (name !== '') yield { fields: { path: name.endsWith('/') ? name : `${name}/`, mode: modeOf(st), size: 0, type: 'Directory' }, file: null };
    } else if (st.isSymbolicLink()) {
      yield { fields: { path: name, mode: modeOf(st), size: 0, mtime: st.mtime, type: 'SymbolicLink', linkpath: src.rename(readlinkSync(join(src.root, rel))) }, file: null };
    } else if (st.isFile()) {
      yield { fields: { path: name, mode: modeOf(st), size: st.size, mtime: st.mtime, type: 'File' }, file: join(src.root, rel) };
    }
  }
}

/** Streams the file's first `size` bytes (zeros if it shrank meanwhile), padded to a block. */
async function putContent(sink: Writable, file: string, size: number, buffers: [Buffer, Buffer]): Promise<string> {
  const hash = createHash('sha256');
  const fd = openSync(file, 'r');
  try {
    let done = 0;
    let turn = 0;
    let writing: Promise<void> = Promise.resolve();
    while (done < size) {
      const buf = buffers[turn++ % 2]!;
      const want = Math.min(buf.length, size - done);
      let got = readSync(fd, buf, 0, want, done);
      if (got < want) {
        buf.fill(0, got, want);
        got = want;
      }
      hash.update(buf.subarray(0, got));
      const padded = done + got === size && got % BLOCK !== 0 ? got + (BLOCK - (got % BLOCK)) : got;
      if (padded > got) buf.fill(0, got, padded);
      // the other buffer's write must be taken before this one goes (order), and this buffer's
      // previous write was awaited a turn ago
      await writing;
      writing = put(sink, buf.subarray(0, padded));
      done += got;
    }
    await writing;
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * Header and body of a small file in `buf`, one write. False (nothing written) when its header
 * needs a pax record (a long name): the caller writes it the ordinary way.
 */
function putSmall(sink: Writable, file: string, fields: FileFields, buf: Buffer, sums: Sums, sent: (p: Promise<void>) => void): boolean {
  const header = new Header(fields);
  if (header.encode()) return false;
  header.block!.copy(buf, 0);
  const fd = openSync(file, 'r');
  let got: number;
  try {
    got = readSync(fd, buf, BLOCK, fields.size, 0);
  } finally {
    closeSync(fd);
  }
  const end = BLOCK + Math.ceil(fields.size / BLOCK) * BLOCK;
  // a file that shrank since its size was read is padded with zeros, as in putContent
  buf.fill(0, BLOCK + got, end);
  sums.set(fields.path, createHash('sha256').update(buf.subarray(BLOCK, BLOCK + fields.size)).digest('hex'));
  sent(put(sink, buf.subarray(0, end)));
  return true;
}

/**
 * The same archive built in memory at once, synchronously: for a small result (a few files,
 * under 1 MiB in all), where node-tar's packer cost most of the compute daemon's CPU per job.
 */
export function tarSync(src: TarSource): Buffer {
  const parts: Buffer[] = [];
  const sums: Sums = new Map();
  for (const { fields, file } of tarEntries(src)) {
    parts.push(...headerBlocks(fields));
    if (file === null) continue;
    // zeros past what is read: a file that shrank since its size was taken is padded, as in putContent
    const body = Buffer.alloc(Math.ceil(fields.size / BLOCK) * BLOCK);
    const fd = openSync(file, 'r');
    try {
      readSync(fd, body, 0, fields.size, 0);
    } finally {
      closeSync(fd);
    }
    sums.set(fields.path, createHash('sha256').update(body.subarray(0, fields.size)).digest('hex'));
    parts.push(body);
  }
  parts.push(...checksumsBlocks(sums), Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

/** Writes the archive (entries, the checksums, then the two zero blocks that end a tar) into `sink`. */
export async function writeTar(src: TarSource, sink: Writable): Promise<void> {
  const buffers: [Buffer, Buffer] = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  const sums: Sums = new Map();
  let pending: Promise<void> = Promise.resolve();
  for (const { fields, file } of tarEntries(src)) {
    if (file === null) {
      await putHeader(sink, fields);
    } else if (fields.size <= CHUNK - 4 * BLOCK && putSmall(sink, file, fields, buffers[0], sums, (p) => (pending = p))) {
      // a small file went as one write: its header and body together in a buffer
      await pending;
    } else {
      await putHeader(sink, fields);
      sums.set(fields.path, await putContent(sink, file, fields.size, buffers));
    }
  }
  for (const block of checksumsBlocks(sums)) await put(sink, block);
  await put(sink, Buffer.alloc(BLOCK * 2));
}
