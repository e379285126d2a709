// Where a job's result archive is: a file of its own (`<ns>/<batch>/<job>.tar.gz`, a result
// uploaded over HTTP, or any result archived before segments), or a byte range of one of its
// batch's segment files (head/segments.ts), as `archive_segments` says. Every reader (pull,
// finalize, logs, the dashboard's tails, rm) goes through `locateArchive` and reads the range.
//
// A segment member's bytes are checked against the SHA-256 recorded when it was appended, on
// every read, before any of it is used: a damaged member fails its own job's read (a pull marks
// that job damaged, docs/integrity.md), as a damaged file of its own does.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { safeJoin } from '../shared/paths.js';
import { archiveDir } from './context.js';
import { segmentPath } from './segments.js';
import type { Store } from './store.js';

export interface ArchiveLocation {
  file: string;
  /** first byte of the archive in `file` */
  start: number;
  /** its length; null: to the end of the file (a file of its own) */
  length: number | null;
  /** SHA-256 of the bytes (segment members) */
  sha256: string | null;
}

interface SegmentRow {
  segment: string;
  offset: number;
  length: number;
  sha256: string;
}

/** A job's archive file of its own: `<state_dir>/archive/<namespace>/<batch>/<job>.tar.gz`. */
export function archivePath(stateDir: string, namespace: string, batch: string, job: string): string {
  return safeJoin(archiveDir(stateDir), namespace, batch, `${job}.tar.gz`);
}

/** A job's archive, named by its batch and job; a file of its own unless the index puts it in a segment. */
export function locateArchive(store: Store, stateDir: string, namespace: string, batch: string, job: string): ArchiveLocation {
  const row = store
    .stmt<SegmentRow>(
      `SELECT s.segment, s.offset, s.length, s.sha256 FROM archive_segments s JOIN jobs j ON j.id = s.job_id JOIN batches b ON b.id = j.batch_id
       WHERE b.namespace = ? AND b.name = ? AND j.name = ?`,
    )
    .get(namespace, batch, job);
  if (!row) return { file: archivePath(stateDir, namespace, batch, job), start: 0, length: null, sha256: null };
  return { file: segmentPath(archiveDir(stateDir), row.segment), start: row.offset, length: row.length, sha256: row.sha256 };
}

/** A reader given a path alone reads a file of its own. */
export function asLocation(where: string | ArchiveLocation): ArchiveLocation {
  return typeof where === 'string' ? { file: where, start: 0, length: null, sha256: null } : where;
}

/** The location as text for logs and errors: the file, and the range when it is one. */
export function describeLocation(loc: ArchiveLocation): string {
  return loc.length === null ? loc.file : `${loc.file} bytes ${loc.start}+${loc.length}`;
}

/**
 * The bytes of a segment member, read whole (small results only go to segments: a result
 * message is bounded by max_frame) and checked against their SHA-256. Throws on a short read
 * or a mismatch, naming the range.
 */
export async function readSegmentMember(loc: ArchiveLocation): Promise<Buffer> {
  if (loc.length === null) throw new Error(`${loc.file} is not a segment member`);
  const buf = Buffer.allocUnsafe(loc.length);
  const fh = await open(loc.file, 'r');
  let got = 0;
  try {
    while (got < loc.length) {
      const { bytesRead } = await fh.read(buf, got, loc.length - got, loc.start + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
  } finally {
    await fh.close();
  }
  if (got < loc.length) throw new Error(`damaged segment member ${describeLocation(loc)}: the segment ends after ${got} of its bytes`);
  const sha = createHash('sha256').update(buf).digest('hex');
  if (loc.sha256 !== null && sha !== loc.sha256) {
    throw new Error(`damaged segment member ${describeLocation(loc)}: SHA-256 ${sha.slice(0, 12)}… where ${loc.sha256.slice(0, 12)}… was recorded`);
  }
  return buf;
}
