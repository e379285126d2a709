// The folders a job and a build step run in (docs/architecture.md, A job on a compute node), made fresh for every attempt.
// Files are hard-linked when the source is on the same file system (instant, no space),
// else copied by the kernel (copy_file_range), never read through this process. A job
// must treat `input/` as read-only: a hard link shares its content with the original.
import { copyFile, link, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isSafeName, unsafeNameReason } from '../shared/paths.js';
import { mountSource, PYTHON_BUILD_FILE, PYTHON_JOB_FILE, type AttemptPaths } from '../shared/spec/command.js';
import { errorMessage } from '../shared/errors.js';

/** A file to place in a workspace: `source` is a path on this machine, `alias` its name there. */
export interface InputFile {
  alias: string;
  source: string;
}

/** Hard-links `source` to `dest`, or copies it when linking is not possible. */
export async function placeFile(source: string, dest: string): Promise<'link' | 'copy'> {
  try {
    await link(source, dest);
    return 'link';
  } catch (err) {
    // EXDEV (another file system), EPERM (protected_hardlinks, not our file), ...: copy
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err;
    await copyFile(source, dest);
    return 'copy';
  }
}

/** Removes `dir` if it exists and makes it again, empty. */
export async function freshDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
}

async function placeAll(files: InputFile[], dir: string, reserved: string[], what: string): Promise<void> {
  const seen = new Set(reserved);
  for (const f of files) {
    if (!isSafeName(f.alias)) throw new Error(`${what} alias "${f.alias}": ${unsafeNameReason(f.alias)}`);
    if (seen.has(f.alias)) throw new Error(`${what} alias "${f.alias}" is used twice`);
    seen.add(f.alias);
    try {
      await placeFile(f.source, join(dir, f.alias));
    } catch (err) {
      throw new Error(`${what} "${f.alias}": cannot place ${f.source}: ${errorMessage(err)}`);
    }
  }
}

export interface AttemptFiles {
  /** the job's required files and the initialize step's, under their alias in `input/` */
  inputs: InputFile[];
  /** python: the job's file, placed as `run.py` in the attempt root */
  jobFile: string | null;
  /** apptainer: how many `required_mounts` need a host folder */
  mounts: number;
}

/**
 * Makes the attempt's folders from scratch and places its files. `ready`: the folders exist
 * and are empty already (a recycled folder, compute/workspace-pool.ts); only the files are placed.
 */
export async function prepareAttemptDir(paths: AttemptPaths, files: AttemptFiles, ready = false): Promise<void> {
  if (!ready) {
    await freshDir(paths.root);
    await Promise.all([mkdir(paths.input), mkdir(paths.save), mkdir(paths.meta)]);
  }
  await placeAll(files.inputs, paths.input, [], 'input');
  if (files.jobFile !== null) {
    try {
      await placeFile(files.jobFile, join(paths.root, PYTHON_JOB_FILE));
    } catch (err) {
      throw new Error(`job file: cannot place ${files.jobFile}: ${errorMessage(err)}`);
    }
  }
  for (let i = 0; i < files.mounts; i++) await mkdir(mountSource(paths, i), { recursive: true });
}

export interface BuildFiles {
  /** the initialize step's required files, placed beside the build file under their alias */
  inputs: InputFile[];
  /** python: the build file, placed as `build.py` */
  buildFile: string | null;
  /** apptainer: the image, placed under its alias */
  sif: InputFile | null;
}

/** The build folder's log folder, beside the build's own files. */
export function buildMetaDir(buildDir: string): string {
  return join(buildDir, '_distribute');
}

/** Makes the build folder from scratch and places its files. */
export async function prepareBuildDir(buildDir: string, files: BuildFiles): Promise<void> {
  await freshDir(buildDir);
  await mkdir(buildMetaDir(buildDir));
  const reserved = files.buildFile !== null ? [PYTHON_BUILD_FILE] : [];
  const all = files.sif ? [files.sif, ...files.inputs] : files.inputs;
  await placeAll(all, buildDir, reserved, 'initialize file');
  if (files.buildFile !== null) {
    try {
      await placeFile(files.buildFile, join(buildDir, PYTHON_BUILD_FILE));
    } catch (err) {
      throw new Error(`build file: cannot place ${files.buildFile}: ${errorMessage(err)}`);
    }
  }
}
