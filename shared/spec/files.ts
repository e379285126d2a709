// Files a batch ships: paths relative to the YAML's folder become absolute, aliases default
// to the base name and must be safe as a file name on the node, and (on the machine that has
// them) the files must exist.
import { statSync, statfsSync } from 'node:fs';
import { basename, isAbsolute, resolve } from 'node:path';
import { unsafeNameReason } from '../paths.js';
import type { FileRef } from './types.js';
import type { RawFileRef } from './schema.js';
import type { Problem } from './issues.js';
import { formatPath, type FieldPath } from './positions.js';

export interface FileContext {
  /** folder of the YAML file, absolute */
  dir: string;
  /** false on a machine that does not have the files (the head) */
  checkFiles: boolean;
  problems: Problem[];
  /** absolute path → error message or null; many expanded jobs share the same files */
  statCache: Map<string, string | null>;
}

/** procfs and sysfs (statfs f_type): files whose size is 0 until read, and changes as it is */
const PSEUDO_FILESYSTEMS: ReadonlyMap<number, string> = new Map([[0x9fa0, '/proc'], [0x62656572, '/sys']]);

/** `re_300.json` → `./re_300.json`, as a user recognises a path relative to the YAML. */
function shown(path: string): string {
  return isAbsolute(path) || path.startsWith('./') || path.startsWith('../') ? path : `./${path}`;
}

function fileProblem(ctx: FileContext, abs: string, written: string): string | null {
  const cached = ctx.statCache.get(abs);
  if (cached !== undefined) return cached;
  let problem: string | null = null;
  try {
    const st = statSync(abs);
    if (!st.isFile()) problem = `${shown(written)} is ${st.isDirectory() ? 'a folder' : 'not a regular file'}; only files can be shipped`;
    else {
      // shipped by size and hash, so a file of the kernel's, whose bytes differ at each read, cannot be
      const pseudo = PSEUDO_FILESYSTEMS.get(Number(statfsSync(abs).type));
      if (pseudo) problem = `${shown(written)} is not a regular file (a kernel file under ${pseudo}, whose size is unknown until read); copy it to a file first`;
    }
  } catch {
    problem = `no such file ${shown(written)}`;
  }
  ctx.statCache.set(abs, problem);
  return problem;
}

/**
 * Resolves one file entry written at `path` (a bare string or `{path, alias}`), after
 * placeholders are filled. Problems are pushed to ctx; returns null when the entry is unusable.
 * `note` is added to messages (which expanded job it belongs to); `aliasUsed: false` is for
 * files placed under a fixed name (a python job's run.py), whose alias need not be safe.
 */
export function resolveFile(raw: RawFileRef, path: FieldPath, ctx: FileContext, opts: { note?: string; aliasUsed?: boolean } = {}): FileRef | null {
  const note = opts.note ?? '';
  const written = typeof raw === 'string' ? raw : raw.path;
  const pathAt = typeof raw === 'string' ? path : [...path, 'path'];
  const abs = resolve(ctx.dir, written);
  let ok = true;
  const given = typeof raw === 'string' ? undefined : raw.alias;
  const alias = given ?? basename(abs);
  const unsafe = opts.aliasUsed === false ? null : unsafeNameReason(alias);
  if (unsafe) {
    ok = false;
    ctx.problems.push(
      given === undefined
        ? { path: pathAt, target: 'value', message: `the file's name is not usable on the node (${unsafe}); give it an alias${note}` }
        : { path: [...path, 'alias'], target: 'value', message: `alias not usable as a file name: ${unsafe}${note}` },
    );
  }
  if (ctx.checkFiles) {
    const problem = fileProblem(ctx, abs, written);
    if (problem) {
      ok = false;
      ctx.problems.push({ path: pathAt, target: 'value', message: problem + note });
    }
  }
  return ok ? { path: abs, alias } : null;
}

/** Resolves a list of files and refuses two that would land under the same name. */
export function resolveFiles(
  raws: readonly RawFileRef[] | undefined,
  path: FieldPath,
  ctx: FileContext,
  taken: Map<string, string> = new Map(),
  note = '',
): FileRef[] {
  const out: FileRef[] = [];
  (raws ?? []).forEach((raw, i) => {
    const ref = resolveFile(raw, [...path, i], ctx, { note });
    if (!ref) return;
    const other = taken.get(ref.alias);
    if (other !== undefined) {
      const at = typeof raw === 'string' || raw.alias === undefined ? [...path, i] : [...path, i, 'alias'];
      ctx.problems.push({ path: at, target: 'value', message: `two files would be named "${ref.alias}" in input/ (the other is ${other})${note}` });
      return;
    }
    taken.set(ref.alias, formatPath([...path, i]));
    out.push(ref);
  });
  return out;
}

