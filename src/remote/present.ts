// Which planned members are already in the save folder: a regular file of the same size whose
// modification time is the archived one (to the second: tar headers keep whole seconds), or, for
// a member of size 0, a symbolic link (links are archived with size 0). A file still being
// written by a killed pull is never under its real name (see extract.ts), so it counts as absent.
import { lstat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { UserError } from '../../shared/errors.js';
import type { PlannedMember } from '../../shared/protocol/api.js';
import { refusalReason } from './extract.js';

export interface Presence {
  missing: PlannedMember[];
  present: PlannedMember[];
}

const PARALLEL = 32;

export function sameSecond(a: number, b: number): boolean {
  return Math.floor(a / 1000) === Math.floor(b / 1000);
}

async function isPresent(dest: string, m: PlannedMember): Promise<boolean> {
  const st = await lstat(join(dest, m.job, m.path)).catch(() => null);
  if (!st) return false;
  if (st.isSymbolicLink()) return m.size === 0;
  return st.isFile() && st.size === m.size && (m.mtime === null || sameSecond(st.mtimeMs, m.mtime));
}

/** Splits a plan's members into those to fetch and those already here (all to fetch with `force`). */
export async function splitByPresence(members: PlannedMember[], dest: string, force: boolean): Promise<Presence> {
  for (const m of members) {
    const reason = refusalReason(posix.join(m.job, m.path), 'File', undefined);
    if (reason) throw new UserError(`the head's plan names member ${JSON.stringify(`${m.job}/${m.path}`)}: ${reason}; nothing was pulled`, 1);
  }
  if (force) return { missing: [...members], present: [] };
  const out: Presence = { missing: [], present: [] };
  for (let i = 0; i < members.length; i += PARALLEL) {
    const slice = members.slice(i, i + PARALLEL);
    const here = await Promise.all(slice.map((m) => isPresent(dest, m)));
    slice.forEach((m, k) => (here[k] ? out.present : out.missing).push(m));
  }
  return out;
}
