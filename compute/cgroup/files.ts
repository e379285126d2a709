// Reading and writing cgroupfs files. The files are tiny and served by the kernel, so these are
// synchronous, like a syscall; a missing cgroup reads as empty.
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, rmdir } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

export function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** A file holding one number (`max` reads as null). */
export function readNumber(file: string): number | null {
  const t = readText(file)?.trim();
  if (t === undefined || t === '' || t === 'max') return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}

/** A `key value` line of a flat-keyed file (memory.events, cpu.stat, memory.oom_control). */
export function readKey(file: string, key: string): number | null {
  const t = readText(file);
  if (t === null) return null;
  for (const line of t.split('\n')) {
    const [k, v] = line.split(' ');
    if (k === key && v !== undefined) return Number(v);
  }
  return null;
}

export function write(file: string, value: string): void {
  writeFileSync(file, value);
}

/** Tries a write; false when the file or cgroup is gone. */
export function tryWrite(file: string, value: string): boolean {
  try {
    writeFileSync(file, value);
    return true;
  } catch {
    return false;
  }
}

export function readPids(procsFile: string): number[] {
  const t = readText(procsFile);
  if (t === null) return [];
  return t.split('\n').filter((l) => l !== '').map(Number);
}

export function signalPids(pids: number[], sig: NodeJS.Signals): number {
  let n = 0;
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
      n++;
    } catch {
      // gone already
    }
  }
  return n;
}

/** Settles once `empty()` holds, checking every few ms; false if it did not within `ms`. */
export async function waitUntil(empty: () => boolean, ms: number, step: () => void = () => {}): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (empty()) return true;
    if (Date.now() > deadline) return false;
    step();
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The child cgroups of `dir` (folders), deepest first removable. */
export async function childCgroups(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => join(dir, d.name));
  } catch {
    return [];
  }
}

/**
 * rmdir of a cgroup and whatever cgroups are under it; an already removed one is fine. A job's
 * cgroup rarely has children: the rmdir is tried first, the folder listed only when it refuses
 * (EBUSY), so the common case costs one call where a listing per job was the largest part of
 * the compute daemon's own work on short jobs.
 */
export async function removeTree(dir: string): Promise<void> {
  try {
    await rmdir(dir);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code !== 'EBUSY' && code !== 'ENOTEMPTY') throw err;
  }
  for (const child of await childCgroups(dir)) await removeTree(child);
  try {
    await rmdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Makes a job's cgroup folder afresh. One left by an attempt of the same name (a daemon that
 * died) is emptied (`clear`) and made again; that is only looked for when mkdir finds it there.
 */
export async function mkdirFresh(dir: string, clear: () => Promise<void>): Promise<void> {
  try {
    await mkdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    await clear().catch(() => {});
    await mkdir(dir);
  }
}

/** A cgroup's folder name from a job's names: what cgroupfs accepts, unique, at most 200 bytes. */
export function cgroupName(parts: string[]): string {
  const name = parts.join('.').replace(/[^A-Za-z0-9._-]/g, '-');
  if (name.length <= 200) return name;
  return `${name.slice(0, 180)}.${createHash('sha256').update(name).digest('hex').slice(0, 16)}`;
}
