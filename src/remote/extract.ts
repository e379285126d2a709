// Strict extraction of a tar stream into one folder: every member stays inside it. Refused,
// with a reason: absolute paths, `..`, symbolic or hard links whose target leaves the folder,
// devices and FIFOs. node-tar adds its own guard (nothing is written through a symlink).
// Streams from source to disk: memory stays flat whatever the size.
import { mkdir } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import * as tar from 'tar';

export interface Extracted {
  files: number;
  bytes: number;
  /** `member: reason` of every member not written */
  refused: string[];
}

const ALLOWED = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);

function contained(path: string): boolean {
  if (path === '' || path.includes('\0') || posix.isAbsolute(path) || /^[A-Za-z]:/.test(path)) return false;
  const norm = posix.normalize(path);
  return !(norm === '..' || norm.startsWith('../'));
}

/** Why a member may not be extracted, or null when it may. */
export function refusalReason(path: string, type: string, linkpath: string | undefined): string | null {
  if (posix.isAbsolute(path) || /^[A-Za-z]:/.test(path)) return 'absolute path';
  if (!contained(path)) return 'path leaves the folder';
  if (!ALLOWED.has(type)) return `${type} entries are not extracted`;
  if (type === 'SymbolicLink') {
    const target = linkpath ?? '';
    if (posix.isAbsolute(target) || !contained(posix.join(posix.dirname(path), target))) return `symbolic link to ${target} leaves the folder`;
  }
  if (type === 'Link' && !contained(linkpath ?? '')) return `hard link to ${linkpath} leaves the folder`;
  return null;
}

export async function extractStrict(source: Readable, dest: string): Promise<Extracted> {
  await mkdir(dest, { recursive: true });
  const out: Extracted = { files: 0, bytes: 0, refused: [] };
  const unpack = tar.x({
    cwd: dest,
    preserveOwner: false,
    filter: (path, entry) => {
      const e = entry as tar.ReadEntry;
      const reason = refusalReason(path, e.type, e.linkpath);
      if (reason) out.refused.push(`${path}: ${reason}`);
      return reason === null;
    },
    onReadEntry: (entry) => {
      if (entry.type === 'File' || entry.type === 'OldFile' || entry.type === 'ContiguousFile') {
        out.files++;
        out.bytes += entry.size ?? 0;
      }
    },
    onwarn: (code, message) => {
      out.refused.push(`${code}: ${String(message)}`);
    },
  });
  await new Promise<void>((resolve, reject) => {
    source.on('error', reject);
    unpack.on('error', reject);
    unpack.on('close', () => resolve());
    source.pipe(unpack as unknown as NodeJS.WritableStream);
  });
  return out;
}
