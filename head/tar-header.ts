// The ustar headers a pull relays, read and written without node-tar's Header in the common
// case. node-tar's decode and encode allocate about 6 KB per header (strings per field, Dates,
// path parsing); on a pull of 10,000 files that was most of the head's garbage. These handle
// only what they can do exactly as node-tar does — a POSIX ustar header with plain octal
// numbers and no extended header pending; an ASCII name under 100 bytes to write — and answer
// null or false otherwise, for the caller to use node-tar. test/head/tar-header.test.ts holds
// them to node-tar's results.

const BLOCK = 512;
/** the largest number an octal field of 12 bytes holds */
const MAX_OCTAL_12 = 0o77777777777;
const MAX_OCTAL_8 = 0o7777777;
const USTAR = Buffer.from('ustar\u000000', 'latin1');
const TYPES = new Map<number, string>([
  [0x30, 'File'],
  [0x00, 'File'],
  [0x31, 'Link'],
  [0x32, 'SymbolicLink'],
  [0x35, 'Directory'],
  [0x37, 'ContiguousFile'],
]);
const CODES = new Map<string, number>([
  ['File', 0x30],
  ['OldFile', 0x30],
  ['Link', 0x31],
  ['SymbolicLink', 0x32],
  ['ContiguousFile', 0x37],
]);

export interface PlainHeader {
  path: string;
  type: string;
  size: number;
  mode: number;
  /** seconds */
  mtime: number;
  /** '' when none */
  linkpath: string;
}

/** As node-tar: the field's UTF-8 text up to its first NUL (and what `.` matches after it). */
export function text(block: Buffer, off: number, size: number): string {
  const end = off + size;
  const nul = block.indexOf(0, off);
  if (nul === -1 || nul >= end) return block.toString('utf8', off, end);
  const newline = block.indexOf(0x0a, nul);
  // node-tar's /\0.*/ stops at a newline and keeps what follows it
  if (newline !== -1 && newline < end) return block.toString('utf8', off, end).replace(/\0.*/, '');
  return block.toString('utf8', off, nul);
}

/** An octal field of digits followed only by spaces or NULs; null for anything else. */
export function octal(block: Buffer, off: number, size: number): number | null {
  let n = 0;
  let i = off;
  const end = off + size;
  for (; i < end && block[i]! >= 0x30 && block[i]! <= 0x37; i++) n = n * 8 + (block[i]! - 0x30);
  if (i === off) return null;
  for (; i < end; i++) if (block[i] !== 0x20 && block[i] !== 0x00) return null;
  return n;
}

/** node-tar's checksum: every byte, the checksum field counted as spaces. */
export function checksum(block: Buffer): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += block[i]!;
  for (let i = 156; i < BLOCK; i++) sum += block[i]!;
  return sum;
}

/** A POSIX ustar header of a file, link or folder, as node-tar's Header reads it; null when it is anything else. */
export function decodePlain(block: Buffer): PlainHeader | null {
  let type = TYPES.get(block[156]!);
  if (type === undefined || !isUstar(block)) return null;
  const mode = octal(block, 100, 8);
  let size = octal(block, 124, 12);
  const mtime = octal(block, 136, 12);
  const sum = octal(block, 148, 8);
  if (mode === null || size === null || mtime === null || sum === null || sum !== checksum(block)) return null;
  let path = headerPath(block);
  if (type === 'File' && path.endsWith('/')) type = 'Directory';
  if (type === 'Directory') size = 0;
  return { path, type, size, mode, mtime, linkpath: text(block, 157, 100) };
}

/** The name field, after the prefix field when there is one (as node-tar joins them). */
export function headerPath(block: Buffer): string {
  const path = text(block, 0, 100);
  const prefix = block[475] !== 0 ? text(block, 345, 155) : text(block, 345, 130);
  return prefix ? `${prefix}/${path}` : path;
}

/** Whether the block has the POSIX ustar magic and version. */
export function isUstar(block: Buffer): boolean {
  return block.subarray(257, 265).equals(USTAR);
}

function ascii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** node-tar's octal: zero-padded to the field's width less two, a space, a NUL (a full-width number, just the NUL). */
function putOctal(block: Buffer, off: number, size: number, n: number): void {
  const digits = Math.floor(n).toString(8);
  if (digits.length === size - 1) {
    block.write(digits, off, 'latin1');
  } else {
    const pad = size - 2 - digits.length;
    block.fill(0x30, off, off + pad);
    block.write(digits, off + pad, 'latin1');
    block[off + size - 2] = 0x20;
  }
  block[off + size - 1] = 0x00;
}

/**
 * Writes into `block` the header node-tar's portable packer writes for these fields (no owner,
 * no atime or ctime), byte for byte. False, and nothing meant, when it would need more than a
 * ustar header holds or node-tar would write it otherwise: the caller then uses node-tar's
 * Header and a PAX header.
 */
export function encodePlain(h: { path: string; type: string; size: number; mode: number; mtime: number; linkpath?: string | undefined }, block: Buffer): boolean {
  const code = CODES.get(h.type);
  const linkpath = h.linkpath ?? '';
  if (code === undefined || h.path.length >= 100 || linkpath.length >= 100 || !ascii(h.path) || !ascii(linkpath)) return false;
  if (!(h.size >= 0 && h.size <= MAX_OCTAL_12 && h.mtime >= 0 && h.mtime <= MAX_OCTAL_12 && h.mode >= 0 && h.mode <= MAX_OCTAL_8)) return false;
  block.fill(0, 0, BLOCK);
  block.write(h.path, 0, 'latin1');
  putOctal(block, 100, 8, h.mode);
  putOctal(block, 124, 12, h.size);
  putOctal(block, 136, 12, h.mtime);
  block[156] = code;
  block.write(linkpath, 157, 'latin1');
  USTAR.copy(block, 257);
  putOctal(block, 329, 8, 0);
  putOctal(block, 337, 8, 0);
  putOctal(block, 148, 8, checksum(block));
  return true;
}
