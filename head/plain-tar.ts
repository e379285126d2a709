// A small result archive held whole, read without node-tar's parser when it is plain: node-tar's
// Parser builds streams, Dates and strings per entry, and for a result of three small files
// that was most of the cost of inspecting it (and of the head's garbage at a thousand nodes).
// Only what this can read exactly as node-tar does is read here — ustar headers of files and
// folders (decodePlain, tar-header.ts, held to node-tar's results by its tests), every body
// inside the buffer, and nothing but zeros, at least the two end blocks, after the last entry.
// Anything else (a PAX or GNU header, a link, a truncated body, trailing bytes) answers null,
// and the caller gives the archive to node-tar as before.
import { checksum, decodePlain, headerPath, isUstar, octal } from './tar-header.js';

const BLOCK = 512;
const FILE = 0x30;
const DIRECTORY = 0x35;

export interface WholeEntry {
  path: string;
  type: string;
  linkpath: string;
  size: number;
  /** milliseconds */
  mtime: number;
  body: Buffer;
}

export function plainEntries(tar: Buffer): WholeEntry[] | null {
  const out: WholeEntry[] = [];
  let off = 0;
  while (off + BLOCK <= tar.length) {
    const block = tar.subarray(off, off + BLOCK);
    // (node-tar refuses an archive of no entries as not a tar at all)
    if (allZero(block)) return out.length > 0 && tar.length - off >= 2 * BLOCK && allZero(tar.subarray(off)) ? out : null;
    const flag = block[156];
    if (flag !== FILE && flag !== DIRECTORY) return null;
    const h = flag === DIRECTORY ? folder(block) : decodePlain(block);
    if (!h) return null;
    const start = off + BLOCK;
    const end = start + h.size;
    if (end > tar.length) return null;
    out.push({ path: h.path, type: h.type, linkpath: h.linkpath, size: h.size, mtime: h.mtime * 1000, body: tar.subarray(start, end) });
    off = start + Math.ceil(h.size / BLOCK) * BLOCK;
  }
  return null;
}

/**
 * A folder's header. A node leaves a folder's mtime empty, which decodePlain (made to re-encode
 * exactly) declines; a folder is not indexed, so only its name is read, and the header checked
 * as node-tar checks it. One that gives a folder a size (node-tar would skip that many bytes) is
 * left to node-tar.
 */
function folder(block: Buffer): { path: string; type: string; linkpath: string; size: number; mtime: number } | null {
  if (!isUstar(block) || octal(block, 148, 8) !== checksum(block) || !sizeFieldZero(block)) return null;
  return { path: headerPath(block), type: 'Directory', linkpath: '', size: 0, mtime: octal(block, 136, 12) ?? 0 };
}

function allZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** The size field holds only zeros (as digits), spaces and NULs. */
function sizeFieldZero(block: Buffer): boolean {
  for (let i = 124; i < 136; i++) {
    const c = block[i];
    if (c !== 0x30 && c !== 0x20 && c !== 0x00) return false;
  }
  return true;
}
