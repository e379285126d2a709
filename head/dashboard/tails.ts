// The tail of a failed job's stderr, read from its result archive (a file or a segment
// member, head/archive-location.ts; member `_distribute/stderr.log`).
// The archive is streamed and only the last bytes of that member are kept, so memory stays
// flat whatever the archive's size; reading stops as soon as the member has been read.
// Tails shown on the overview are cached by attempt id (an attempt's archive never changes)
// and read one at a time in the background; when one is ready the dashboard is told
// (`onReady`) and pushes again.
import type { ReadEntry } from 'tar';
import { readArchive } from '../archive.js';
import { asLocation, describeLocation, type ArchiveLocation } from '../archive-location.js';
import type { Logger } from '../../shared/log.js';
import type { TailSource } from './view.js';

export const STDERR_MEMBER = '_distribute/stderr.log';
/** What the overview shows of a failure's stderr. */
export const OVERVIEW_TAIL = { bytes: 4096, lines: 20 };
const CACHE_SIZE = 1000;

/**
 * The last `maxBytes` of one member of a .tar.gz, as text, or null when the archive or the
 * member does not exist.
 */
export async function readMemberTail(file: string | ArchiveLocation, member: string, maxBytes: number): Promise<string | null> {
  const stop = new AbortController();
  let tail: string | null = null;
  try {
    // readArchive gunzips with bounded chunks: a result of zeros cannot balloon the head
    await readArchive(
      file,
      (entry: ReadEntry) => {
        if (tail !== null || entry.path.replace(/^\.\//, '') !== member) return void entry.resume(); // skip its data
        const buffer = new TailBuffer(maxBytes);
        entry.on('data', (chunk: Buffer) => buffer.push(chunk));
        entry.on('end', () => {
          tail = buffer.text();
          stop.abort(); // the member is read: no need to go through the rest of the archive
        });
      },
      stop.signal,
    );
  } catch (err) {
    if (tail !== null) return tail;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    // no archive, or a file that is not one: there is no tail to show
    if (code === 'ENOENT' || code.startsWith('TAR_')) return null;
    throw new Error(`cannot read ${describeLocation(asLocation(file))}: ${(err as Error).message}`);
  }
  return tail;
}

/** The last lines of a text, at most `lines` of them. */
export function lastLines(text: string, lines: number): string {
  const trimmed = text.replace(/\n+$/, '');
  const parts = trimmed.split('\n');
  return parts.slice(-lines).join('\n');
}

/** Keeps the last `max` bytes of a stream, in at most two buffers' worth of memory. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  private cut = false;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0]!.length >= this.max) {
      this.size -= this.chunks.shift()!.length;
      this.cut = true;
    }
  }

  text(): string {
    let buf = Buffer.concat(this.chunks);
    if (buf.length > this.max) {
      buf = buf.subarray(buf.length - this.max);
      this.cut = true;
    }
    let text = buf.toString('utf8');
    // a cut start is a partial line (and maybe a partial character): drop it
    if (this.cut) text = text.slice(text.indexOf('\n') + 1);
    return text;
  }
}

/** Overview tails, cached by attempt id and read in the background, one archive at a time. */
export class TailCache implements TailSource {
  private readonly cache = new Map<number, string | null>();
  private readonly wanted = new Map<number, string | ArchiveLocation>();
  private reading = false;
  private closed = false;

  constructor(
    /** where a job's archive is */
    private readonly locate: (namespace: string, batch: string, job: string) => string | ArchiveLocation,
    private readonly onReady: () => void,
    private readonly log: Logger,
  ) {}

  tail(attempt: number, namespace: string, batch: string, job: string): string | null | undefined {
    if (this.cache.has(attempt)) {
      const value = this.cache.get(attempt)!;
      this.cache.delete(attempt); // most recently used last
      this.cache.set(attempt, value);
      return value;
    }
    if (!this.wanted.has(attempt)) {
      this.wanted.set(attempt, this.locate(namespace, batch, job));
      void this.readNext();
    }
    return undefined;
  }

  close(): void {
    this.closed = true;
    this.wanted.clear();
  }

  private async readNext(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      while (!this.closed && this.wanted.size > 0) {
        const [attempt, file] = this.wanted.entries().next().value as [number, string | ArchiveLocation];
        let value: string | null = null;
        try {
          const text = await readMemberTail(file, STDERR_MEMBER, OVERVIEW_TAIL.bytes);
          value = text === null ? null : lastLines(text, OVERVIEW_TAIL.lines);
        } catch (err) {
          this.log.warn({ attempt, file: describeLocation(asLocation(file)), err: (err as Error).message }, 'cannot read the stderr of a failed attempt');
        }
        this.wanted.delete(attempt);
        this.cache.set(attempt, value);
        if (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
        if (!this.closed) this.onReady();
      }
    } finally {
      this.reading = false;
    }
  }
}
