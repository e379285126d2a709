// Writing files the head must not lose: streamed to a temp file beside the destination,
// fsynced, renamed into place, and the folder fsynced, so a crash leaves either the old
// state or the whole new file — never a torn one.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';

export interface Received {
  /** the temp file holding the bytes (call `commit` or `discard`) */
  tmp: string;
  size: number;
  sha256: string;
}

/** A fresh temp file in `tmpDir` (made when missing), open for writing. */
export async function openTemp(tmpDir: string): Promise<{ tmp: string; file: FileHandle }> {
  const tmp = join(tmpDir, `${Date.now()}-${randomBytes(6).toString('hex')}.part`);
  try {
    return { tmp, file: await open(tmp, 'wx', 0o600) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(tmpDir, { recursive: true });
    return { tmp, file: await open(tmp, 'wx', 0o600) };
  }
}

/**
 * A fresh temp file in `tmpDir`, filled by `fill` and fsynced; its path. If anything fails, the
 * file is gone and the error goes on.
 */
export async function writeTemp(tmpDir: string, fill: (file: FileHandle) => Promise<void>): Promise<string> {
  const { tmp, file } = await openTemp(tmpDir);
  try {
    await fill(file);
    await file.sync();
  } catch (err) {
    await file.close().catch(() => {});
    await discard(tmp);
    throw err;
  }
  await file.close();
  return tmp;
}

/** Streams a body to a fresh temp file in `tmpDir` (hashing it on the way) and fsyncs it. */
export async function receiveToTemp(body: Readable, tmpDir: string, opts: { maxSize?: number } = {}): Promise<Received> {
  const hash = createHash('sha256');
  let size = 0;
  const tmp = await writeTemp(tmpDir, async (file) => {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (opts.maxSize !== undefined && size > opts.maxSize) throw new Error(`body is over the ${opts.maxSize}-byte limit`);
      hash.update(buf);
      // awaiting each write holds the reader: memory stays flat whatever the size
      await file.write(buf);
    }
  });
  return { tmp, size, sha256: hash.digest('hex') };
}

/** Moves a received temp file to its place durably (the rename and its folder fsynced). */
export async function commitFile(tmp: string, dest: string): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  await rename(tmp, dest);
  await syncDir(dirname(dest));
}

export async function discard(tmp: string): Promise<void> {
  await rm(tmp, { force: true });
}

/**
 * Shares an fsync-like operation among its callers (group commit): a call while none runs
 * starts one; calls while one runs all wait for the single next run, which starts when the
 * running one ends — the running one may have started before their writes.
 */
export function coalesced(run: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  let next: Promise<void> | null = null;
  const start = (): Promise<void> => {
    const p = run();
    running = p;
    const done = () => {
      if (running === p) running = null;
    };
    p.then(done, done);
    return p;
  };
  return () => {
    if (next) return next;
    if (!running) return start();
    next = running
      .catch(() => undefined)
      .then(() => {
        next = null;
        return start();
      });
    return next;
  };
}

/** fsyncs of folders, shared per folder among the renames made into it meanwhile. */
export class FolderSyncs {
  private readonly byDir = new Map<string, () => Promise<void>>();

  sync(dir: string): Promise<void> {
    let f = this.byDir.get(dir);
    if (!f) {
      f = coalesced(() => syncDir(dir));
      this.byDir.set(dir, f);
    }
    return f();
  }
}

export async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
