// What a transpiler produces: a list of files (text it wrote, or copies of the batch's
// files) and folders, written into a temporary folder beside the output and renamed into
// place at the end, so a failure leaves nothing half-done.
import { constants } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { UserError, errorMessage } from '../../shared/errors.js';
import { safeJoin } from '../../shared/paths.js';

export type Entry =
  | { kind: 'text'; path: string; content: string; executable?: boolean }
  | { kind: 'copy'; path: string; source: string }
  | { kind: 'dir'; path: string };

export class Bundle {
  readonly entries: Entry[] = [];
  private readonly paths = new Set<string>();

  private claim(path: string): void {
    if (this.paths.has(path)) throw new Error(`two outputs both write ${path}`);
    this.paths.add(path);
  }

  text(path: string, content: string, executable = false): void {
    this.claim(path);
    this.entries.push({ kind: 'text', path, content, executable });
  }

  copy(path: string, source: string): void {
    this.claim(path);
    this.entries.push({ kind: 'copy', path, source });
  }

  dir(path: string): void {
    this.entries.push({ kind: 'dir', path });
  }

  /** The text files, by path (what golden tests compare). */
  texts(): Map<string, string> {
    const out = new Map<string, string>();
    for (const e of [...this.entries].sort((a, b) => a.path.localeCompare(b.path))) {
      if (e.kind === 'text') out.set(e.path, e.content);
    }
    return out;
  }
}

async function isEmptyDir(dir: string): Promise<boolean | null> {
  try {
    if (!(await stat(dir)).isDirectory()) return false;
    return (await readdir(dir)).length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Writes the bundle to `outDir`. An existing non-empty `outDir` is refused unless `replace`.
 * Returns the absolute output folder.
 */
export async function writeBundle(bundle: Bundle, outDir: string, replace = false): Promise<string> {
  const out = resolve(outDir);
  const empty = await isEmptyDir(out);
  if (empty === false && !replace) throw new UserError(`--output ${outDir}: exists and is not an empty folder; choose another or pass --force to replace it`);
  await mkdir(dirname(out), { recursive: true });
  const tmp = `${out}.partial-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  try {
    await mkdir(tmp);
    for (const e of bundle.entries) {
      const target = safeJoin(tmp, e.path);
      if (e.kind === 'dir') {
        await mkdir(target, { recursive: true });
        continue;
      }
      await mkdir(dirname(target), { recursive: true });
      if (e.kind === 'text') {
        await writeFile(target, e.content, { mode: e.executable ? 0o755 : 0o644 });
      } else {
        try {
          await copyFile(e.source, target, constants.COPYFILE_FICLONE);
        } catch (err) {
          throw new UserError(`cannot copy ${e.source} to ${join(outDir, e.path)}: ${errorMessage(err)}`);
        }
      }
    }
    if (empty !== null) await rm(out, { recursive: true, force: true });
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return out;
}
