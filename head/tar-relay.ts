// One job's archive re-addressed for a pull without unpacking it: the tar is read block by
// block, each selected member gets a new header (`<job>/<path>`, in node-tar's portable form,
// with a PAX header when the name is long) and its body — already padded to whole blocks —
// goes out as it was read, never passed through a stream per entry. Members not selected,
// folders and the archive's own extended headers are skipped.
//
// Headers are decoded as node-tar decodes them (plain ustar ones by tar-header.ts, the rest by
// node-tar's Header) and extended headers applied as its Parser does (PAX `x` and `g`, GNU long
// names; a pending `x` applies to the next file entry only), so a member has here the path and
// size the head indexed when it took the upload.
import { Header, Pax, type HeaderData } from 'tar';
import { memberPath } from './archive.js';
import { decodePlain, encodePlain } from './tar-header.js';

const BLOCK = 512;
/** node-tar's limit: a larger extended header is skipped, not applied */
const MAX_META = 1024 * 1024;
const META_TYPES = new Set(['ExtendedHeader', 'OldExtendedHeader', 'GlobalExtendedHeader', 'NextFileHasLongPath', 'OldGnuLongPath', 'NextFileHasLongLinkpath']);
const SENT_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'SymbolicLink', 'Link']);
const LINK = /^(Symbolic)?Link$/;

/** The end of a tar: two zero blocks. */
export const TAR_END = Buffer.alloc(2 * BLOCK);

/** As node-tar's portable packer: owner may read and write, no group or other write. */
function portableMode(mode: number): number {
  return ((mode & 0o7777) | 0o600) & ~0o22;
}

/** Where a relay's output goes, in order. */
export interface RelayOut {
  /** bytes the relay made (a header): valid only during the call */
  made(bytes: Buffer): void;
  /** bytes of the chunk fed (a body): valid until that chunk is reused */
  passed(bytes: Buffer): void;
}

export class TarRelay {
  /** a header written without node-tar, reused */
  private readonly made = Buffer.alloc(BLOCK);
  /** a header block split between two chunks */
  private readonly partial = Buffer.alloc(BLOCK);
  private partialLength = 0;
  private state: 'header' | 'pass' | 'skip' | 'meta' | 'end' = 'header';
  /** bytes of the current body (padded to whole blocks) still to come */
  private remain = 0;
  private meta: { type: string; size: number; parts: Buffer[] } | null = null;
  private ex: HeaderData | undefined;
  private gex: HeaderData | undefined;
  private sawNullBlock = false;
  private fed = 0;
  /** the member being passed (its path as sent) */
  private current: string | null = null;

  constructor(
    private readonly job: string,
    private readonly members: ReadonlySet<string>,
  ) {}

  /** Takes the archive's next bytes, giving `out` what to send for them. Throws on a broken archive. */
  feed(chunk: Buffer, out: RelayOut): void {
    this.fed += chunk.length;
    let pos = 0;
    while (pos < chunk.length && this.state !== 'end') {
      if (this.state === 'header') {
        let block: Buffer;
        if (this.partialLength > 0 || chunk.length - pos < BLOCK) {
          const n = Math.min(BLOCK - this.partialLength, chunk.length - pos);
          chunk.copy(this.partial, this.partialLength, pos, pos + n);
          this.partialLength += n;
          pos += n;
          if (this.partialLength < BLOCK) break;
          this.partialLength = 0;
          block = this.partial;
        } else {
          block = chunk.subarray(pos, pos + BLOCK);
          pos += BLOCK;
        }
        this.header(block, out);
        continue;
      }
      const n = Math.min(this.remain, chunk.length - pos);
      if (this.state === 'pass') out.passed(chunk.subarray(pos, pos + n));
      // copied: the chunk is reused once sent
      else if (this.state === 'meta') this.meta!.parts.push(Buffer.from(chunk.subarray(pos, pos + n)));
      pos += n;
      this.remain -= n;
      if (this.remain === 0) {
        if (this.state === 'meta') this.applyMeta();
        this.state = 'header';
      }
    }
  }

  /**
   * The archive broke off (damaged, truncated): what keeps the stream a valid tar. A member whose
   * header went out gets the rest of its body as zeros (`pad` bytes); `cut` names it.
   */
  abandon(): { cut: string | null; pad: number } {
    const cut = this.state === 'pass' && this.remain > 0 ? this.current : null;
    const pad = cut === null ? 0 : this.remain;
    this.state = 'end';
    this.remain = 0;
    return { cut, pad };
  }

  /** The archive's bytes have all been fed; throws if it stopped inside a member. */
  end(): void {
    if (this.fed === 0) throw new Error('the archive is empty');
    if (this.partialLength > 0 || (this.state !== 'header' && this.state !== 'end')) throw new Error('the archive is truncated');
  }

  private header(block: Buffer, out: RelayOut): void {
    // the common case without node-tar's Header (see tar-header.ts), which allocates ~6 KB
    const plain = this.ex === undefined && this.gex === undefined ? decodePlain(block) : null;
    if (plain) {
      this.sawNullBlock = false;
      return this.entry(plain.path, plain.type, plain.size, plain.mode, plain.mtime * 1000, plain.linkpath, out);
    }
    const h = new Header(block, 0, this.ex, this.gex);
    if (h.nullBlock) {
      if (this.sawNullBlock) this.state = 'end';
      this.sawNullBlock = true;
      return;
    }
    this.sawNullBlock = false;
    if (!h.cksumValid) throw new Error('a header fails its checksum');
    const type = h.type;
    const size = h.size ?? 0;
    if (META_TYPES.has(type)) {
      if (!h.path) throw new Error('a header has no path');
      if (!/^(Global)?ExtendedHeader$/.test(type) && h.linkpath) throw new Error(`${h.path}: a target on a member that is not a link`);
      const body = BLOCK * Math.ceil(size / BLOCK);
      if (size > MAX_META) return this.next('skip', body);
      if (size > 0) {
        this.meta = { type, size, parts: [] };
        this.next('meta', body);
      }
      return;
    }
    this.ex = undefined;
    this.entry(h.path ?? '', type, size, h.mode, h.mtime?.getTime(), h.linkpath ?? '', out);
  }

  /** A member (not an extended header; mtime in ms): sent under a new header if selected, else skipped. */
  private entry(name: string, type: string, size: number, rawMode: number | undefined, mtime: number | undefined, target: string, out: RelayOut): void {
    if (!name) throw new Error('a header has no path');
    if (LINK.test(type) && !target) throw new Error(`${name}: a link without a target`);
    if (!LINK.test(type) && target) throw new Error(`${name}: a target on a member that is not a link`);
    const body = BLOCK * Math.ceil(size / BLOCK);
    const member = memberPath(name);
    if (!SENT_TYPES.has(type) || !this.members.has(member)) return this.next('skip', body);

    const path = `${this.job}/${member}`;
    this.current = path;
    const linkpath = type === 'Link' ? `${this.job}/${memberPath(target)}` : target || undefined;
    const mode = rawMode === undefined ? undefined : portableMode(rawMode);
    if (mode !== undefined && mtime !== undefined && encodePlain({ path, type, size, mode, mtime: Math.floor(mtime / 1000), linkpath }, this.made)) {
      out.made(this.made);
    } else {
      const date = mtime === undefined ? undefined : new Date(mtime);
      const header = new Header({ path, linkpath, size, mtime: date, type: type as Header['type'], mode });
      if (header.encode()) out.made(new Pax({ path, linkpath, size, mtime: date }).encode());
      out.made(header.block!);
    }
    this.next('pass', body);
  }

  private next(state: 'pass' | 'skip' | 'meta', body: number): void {
    if (body === 0) return;
    this.state = state;
    this.remain = body;
  }

  private applyMeta(): void {
    const { type, size, parts } = this.meta!;
    this.meta = null;
    const text = Buffer.concat(parts).subarray(0, size).toString('utf8');
    if (type === 'GlobalExtendedHeader') {
      this.gex = Pax.parse(text, this.gex, true);
    } else if (type === 'ExtendedHeader' || type === 'OldExtendedHeader') {
      this.ex = Pax.parse(text, this.ex, false);
    } else {
      const ex: HeaderData = this.ex ?? Object.create(null);
      if (type === 'NextFileHasLongLinkpath') ex.linkpath = text.replace(/\0.*/, '');
      else ex.path = text.replace(/\0.*/, '');
      this.ex = ex;
    }
  }
}
