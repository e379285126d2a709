// A pull: ONE tar stream of the selected archived members of a batch, each as `<job>/<path>`.
// Members are chosen from the database index (head/pull-plan.ts; no archive is opened for a
// job with nothing selected); the selected ones are piped from each job's archive through
// node-tar into the response, one entry at a time, with backpressure from the response down to
// the archive file, so memory stays flat whatever the size. Folders are not sent (the client
// makes the ones its files need); a hard link's target is renamed like its own path.
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { memberPath, readArchive } from './archive.js';

export interface PullSource {
  job: string;
  file: string;
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

export async function writePull(sources: PullSource[], out: Writable): Promise<void> {
  const pack = new tar.Pack({ portable: true, noDirRecurse: true });
  // a reader that goes away fails the pipeline; the archive being read is then closed
  const gone = new AbortController();
  let failure: unknown = null;
  const done = pipeline(pack, out).catch((err: unknown) => {
    failure ??= new ReaderGone(err);
    gone.abort(err);
  });
  try {
    for (const s of sources) {
      if (gone.signal.aborted) break;
      await readArchive(s.file, (entry) => {
        const path = memberPath(entry.path);
        if (!s.members.has(path) || entry.type === 'Directory') {
          entry.resume();
          return;
        }
        entry.path = `${s.job}/${path}`;
        if (entry.type === 'Link' && entry.linkpath !== undefined) entry.linkpath = `${s.job}/${memberPath(entry.linkpath)}`;
        pack.add(entry);
      }, gone.signal);
    }
    pack.end();
  } catch (err) {
    // an unreadable archive must not end the stream cleanly (the client would take a short
    // pull for a whole one): cut the connection instead
    failure ??= err;
    out.destroy(err instanceof Error ? err : new Error(String(err)));
  }
  await done;
  if (failure) throw failure;
}
