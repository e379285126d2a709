// A pull: ONE tar stream of the selected archived members of a batch, each as
// `<job>/<path>`. Members are chosen from the database index (no archive is opened for a job
// with nothing selected); the selected ones are piped from each job's archive through
// node-tar into the response, one entry at a time, so memory stays flat whatever the size.
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { memberPath, readArchive } from './archive.js';

export interface PullRules {
  include: RegExp[];
  exclude: RegExp[];
}

/** Selected when some include matches (or there are none) and no exclude does; over `<job>/<path>`. */
export function selected(rules: PullRules, jobPath: string): boolean {
  if (rules.include.length && !rules.include.some((r) => r.test(jobPath))) return false;
  return !rules.exclude.some((r) => r.test(jobPath));
}

export interface PullSource {
  job: string;
  file: string;
  /** member paths to send (as indexed) */
  members: ReadonlySet<string>;
}

export async function writePull(sources: PullSource[], out: Writable): Promise<void> {
  const pack = new tar.Pack({ portable: true, noDirRecurse: true });
  const done = pipeline(pack, out);
  try {
    for (const s of sources) {
      await readArchive(s.file, (entry) => {
        const path = memberPath(entry.path);
        if (!s.members.has(path) || entry.type === 'Directory') {
          entry.resume();
          return;
        }
        entry.path = `${s.job}/${path}`;
        pack.add(entry);
      });
    }
  } finally {
    pack.end();
  }
  await done;
}
