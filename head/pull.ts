// A pull: ONE tar stream of the selected archived members of a batch, each as `<job>/<path>`.
// Members are chosen from the database index (head/pull-plan.ts; no archive is opened for a
// job with nothing selected). Each job's archive is read in 1 MiB chunks and relayed
// (head/tar-relay.ts): selected members get new headers; big bodies go out as slices of the
// chunk read, headers and small bodies gathered into one buffer per chunk. A plain tar is read
// through two reused buffers (and gathered into two more), each refilled only once the
// response has taken what was sent from it, so memory stays flat and a GiB makes little
// garbage; a gzip'd one is inflated by zlib in 1 MiB chunks with the same bound. Folders are
// not sent (the client makes the ones its files need); a hard link's target is renamed like
// its path.
//
// A damaged or truncated archive (docs/integrity.md) fails that job alone: a member cut short
// is finished with zeros, then a member `.distribute/damaged/<job>` (a name no job's member can
// have: job names start with a letter or digit) says so, as JSON `{job, cut, error}`, and the
// next job follows. The finalize step's fetch (`damaged: 'cut'`) still cuts the connection.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { errorMessage } from '../shared/errors.js';
import { Header } from 'tar';
import { asLocation, describeLocation, readSegmentMember, type ArchiveLocation } from './archive-location.js';
import { TAR_END, TarRelay, type RelayOut } from './tar-relay.js';

export interface PullSource {
  job: string;
  /** the job's archive: a file, a located range, or where it is found when its turn comes (head/archive-location.ts) */
  file: string | ArchiveLocation | (() => ArchiveLocation);
  /** member paths to send (as indexed) */
  members: ReadonlySet<string>;
}

/** The reader of a pull went away before its end. */
export class ReaderGone extends Error {
  constructor(cause: unknown) {
    super(`the reader went away: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'ReaderGone';
  }
}

const CHUNK = 1024 * 1024;
/** Bodies of at least this size go out as the slices read; smaller ones are copied with the headers. */
const PASS_AS_IS = 256 * 1024;

/** Reused for every archive of a pull: chunks read (plain tars), and output gathered. */
interface Buffers {
  in: [Buffer, Buffer];
  out: [Buffer, Buffer];
}

/**
 * One chunk's output: headers and small bodies copied into `buf`, one write for a chunk of
 * small files instead of two per file (each a queue entry and an HTTP chunk here, an event on
 * the reader, and garbage that made the head's young generation grow to its maximum during a
 * pull of 10,000 files); big bodies kept as the slices read.
 */
class Gather implements RelayOut {
  private readonly pieces: Buffer[] = [];
  private used = 0;
  private start = 0;
  constructor(private readonly buf: Buffer) {}

  made(bytes: Buffer): void {
    this.copy(bytes);
  }

  passed(bytes: Buffer): void {
    if (bytes.length < PASS_AS_IS) return this.copy(bytes);
    this.cut();
    this.pieces.push(bytes);
  }

  /** What to send, in order. */
  done(): Buffer[] {
    this.cut();
    return this.pieces;
  }

  private copy(bytes: Buffer): void {
    if (this.used + bytes.length > this.buf.length) {
      // more than a chunk's worth made (thousands of PAX headers): a copy of its own
      this.cut();
      this.pieces.push(Buffer.from(bytes));
      return;
    }
    this.used += bytes.copy(this.buf, this.used);
  }

  private cut(): void {
    if (this.used > this.start) this.pieces.push(this.buf.subarray(this.start, this.used));
    this.start = this.used;
  }
}

/**
 * An archive's tar bytes, chunk by chunk. Chunk i of a plain tar lives in buffers[i % 2]: the
 * caller must be done with chunk i before it asks for chunk i + 2.
 */
async function* tarChunks(loc: ArchiveLocation, buffers: [Buffer, Buffer]): AsyncGenerator<Buffer> {
  if (loc.length !== null) {
    yield* segmentChunks(loc);
    return;
  }
  const file = loc.file;
  const fh = await open(file, 'r');
  let size: number;
  try {
    size = (await fh.stat()).size;
    let chunk = buffers[0].subarray(0, (await fh.read(buffers[0], 0, CHUNK, 0)).bytesRead);
    if (!(chunk[0] === 0x1f && chunk[1] === 0x8b)) {
      for (let offset = 0, turn = 0; chunk.length > 0; ) {
        yield chunk;
        offset += chunk.length;
        const buf = buffers[++turn % 2]!;
        chunk = buf.subarray(0, (await fh.read(buf, 0, CHUNK, offset)).bytesRead);
      }
      return;
    }
  } finally {
    await fh.close();
  }
  // gzip: zlib hands out fresh buffers; sized to the archive, so that a pull of many small
  // results does not allocate a MiB for each
  const bounded = (n: number) => Math.max(16 * 1024, Math.min(CHUNK, n));
  const gunzip = createGunzip({ chunkSize: bounded(4 * size) });
  const raw = createReadStream(file, { highWaterMark: bounded(size) });
  raw.on('error', (err) => gunzip.destroy(err));
  raw.pipe(gunzip);
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } finally {
    raw.destroy();
    gunzip.destroy();
  }
}

/** A segment member's tar bytes: read whole and checked against its SHA-256 first (it is small), gunzipped when gzip'd. */
async function* segmentChunks(loc: ArchiveLocation): AsyncGenerator<Buffer> {
  const bytes = await readSegmentMember(loc);
  if (!(bytes[0] === 0x1f && bytes[1] === 0x8b)) {
    yield bytes;
    return;
  }
  const gunzip = createGunzip({ chunkSize: Math.max(16 * 1024, Math.min(CHUNK, 4 * bytes.length)) });
  Readable.from([bytes]).pipe(gunzip);
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } finally {
    gunzip.destroy();
  }
}

/** Marks a promise as handled: it may be left behind when the pull stops for another reason. */
function settled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

/**
 * `p`, or a rejection with the reason as soon as `gone` aborts. (Not Promise.race with a promise
 * that lives as long as the pull: each race would leave a reaction on it holding its result, a
 * chunk, until the pull ends.)
 */
function unlessGone<T>(p: Promise<T>, gone: AbortSignal): Promise<T> {
  if (gone.aborted) return settled(Promise.reject(gone.reason as Error));
  return settled(
    new Promise<T>((resolve, reject) => {
      const stop = () => reject(gone.reason as Error);
      gone.addEventListener('abort', stop, { once: true });
      p.then(
        (v) => {
          gone.removeEventListener('abort', stop);
          resolve(v);
        },
        (err: unknown) => {
          gone.removeEventListener('abort', stop);
          reject(err);
        },
      );
    }),
  );
}

/** Writes `pieces` (corked: one write to the socket); resolves once the last is taken. */
function send(out: Writable, pieces: Buffer[], gone: AbortSignal): Promise<void> {
  if (pieces.length === 0) return Promise.resolve();
  const taken = new Promise<void>((resolve, reject) => {
    out.cork();
    for (let i = 0; i < pieces.length - 1; i++) out.write(pieces[i]);
    out.write(pieces[pieces.length - 1], (err) => (err ? reject(new ReaderGone(err)) : resolve()));
    out.uncork();
  });
  return unlessGone(taken, gone);
}

/** Where the head says a job's archive could not be read whole. */
export const DAMAGED_PREFIX = '.distribute/damaged/';
const ZEROS = Buffer.alloc(CHUNK);

/** The member that tells the reader a job's archive broke off: header and body, padded. */
function damagedMember(job: string, cut: string | null, error: string): Buffer[] {
  const body = Buffer.from(JSON.stringify({ job, cut, error: error.slice(0, 2000) }), 'utf8');
  const header = new Header({ path: `${DAMAGED_PREFIX}${job}`, size: body.length, mode: 0o644, mtime: new Date(), type: 'File' });
  header.encode();
  const padded = Buffer.alloc(Math.ceil(body.length / 512) * 512);
  body.copy(padded);
  return [header.block!, padded];
}

/** What went out of a damaged job's archive is closed, and the reader told; the pull goes on. */
async function markDamaged(relay: TarRelay, job: string, error: string, out: Writable, gone: AbortSignal): Promise<void> {
  const { cut, pad } = relay.abandon();
  for (let left = pad; left > 0; left -= CHUNK) await send(out, [ZEROS.subarray(0, Math.min(CHUNK, left))], gone);
  await send(out, damagedMember(job, cut, error), gone);
}

async function relay(source: PullSource, out: Writable, gone: AbortSignal, buffers: Buffers, damaged: Damaged): Promise<void> {
  const relay = new TarRelay(source.job, source.members);
  const sent: [Promise<void>, Promise<void>] = [Promise.resolve(), Promise.resolve()];
  const loc = asLocation(typeof source.file === 'function' ? source.file() : source.file);
  const chunks = tarChunks(loc, buffers.in);
  try {
    for (let turn = 0; ; turn ^= 1) {
      // this turn's buffers (the chunk read, the output gathered) must have been taken by the response
      await sent[turn];
      const next = await unlessGone(chunks.next(), gone);
      if (next.done) break;
      const gather = new Gather(buffers.out[turn]!);
      let broken: unknown = null;
      try {
        relay.feed(next.value, gather);
      } catch (err) {
        broken = err;
      }
      // what the relay made before it broke goes out: the stream stays a valid tar
      sent[turn] = send(out, gather.done(), gone);
      if (broken !== null) throw broken;
    }
    relay.end();
    await Promise.all(sent);
  } catch (err) {
    if (err instanceof ReaderGone) throw err;
    const error = `the archive of job ${source.job} (${describeLocation(loc)}): ${errorMessage(err)}`;
    if (damaged.mode === 'cut') throw new Error(error);
    // what was sent from this archive must be taken before its buffers serve the next one
    await Promise.allSettled(sent);
    if (gone.aborted) throw gone.reason as Error;
    damaged.jobs.push({ job: source.job, error });
    await markDamaged(relay, source.job, errorMessage(err), out, gone);
  } finally {
    await chunks.return(undefined).catch(() => {});
  }
}

/** What a damaged archive does to a pull: `mark` it and go on (users' pulls), or `cut` the connection. */
interface Damaged {
  mode: 'mark' | 'cut';
  jobs: { job: string; error: string }[];
}

/** Streams the pull; resolves with the jobs whose archives were damaged (marked in the stream). */
export async function writePull(sources: PullSource[], out: Writable, damagedMode: 'mark' | 'cut' = 'mark'): Promise<{ job: string; error: string }[]> {
  const damaged: Damaged = { mode: damagedMode, jobs: [] };
  const gone = new AbortController();
  const onClose = () => {
    if (!out.writableFinished) gone.abort(new ReaderGone(new Error('the connection closed')));
  };
  const onError = (err: unknown) => gone.abort(new ReaderGone(err));
  out.on('close', onClose);
  out.on('error', onError);
  const buffers: Buffers = { in: [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)], out: [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)] };
  try {
    for (const s of sources) await relay(s, out, gone.signal, buffers, damaged);
    await send(out, [TAR_END], gone.signal);
    await unlessGone(new Promise<void>((resolve) => out.end(resolve)), gone.signal);
    return damaged.jobs;
  } catch (err) {
    // an unreadable archive must not end the stream cleanly (the client would take a short
    // pull for a whole one): cut the connection instead
    if (!(err instanceof ReaderGone)) {
      out.on('error', () => {});
      out.destroy(err instanceof Error ? err : new Error(String(err)));
    }
    throw err;
  } finally {
    out.off('close', onClose);
    out.off('error', onError);
  }
}
