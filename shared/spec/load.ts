// Reads a batch file from disk: the entry point of `validate`, `add`, `run` and the transpilers.
import { open, stat } from 'node:fs/promises';
import { DEFAULT_MAX_BATCH_BYTES } from '../limits.js';
import { formatBytes } from './units.js';
import { UserError, errorMessage } from '../errors.js';
import { formatSpecErrors, parseBatch, type SpecError } from './parse.js';
import type { BatchSpec } from './types.js';

export interface LoadOptions {
  /** check that the files the batch names exist (default true) */
  checkFiles?: boolean;
}

/** A batch file that did not validate; `message` holds every problem, one line each. */
export class BatchSpecError extends UserError {
  constructor(readonly errors: SpecError[]) {
    // the CLI prefixes the first line with "error: ", so the FILE:LINE:COL lines follow a header
    super(`${errors[0]?.file ?? 'batch'}: ${errors.length} problem${errors.length === 1 ? '' : 's'}\n${formatSpecErrors(errors)}`, 2);
    this.name = 'BatchSpecError';
  }
}

/**
 * The text of a batch file; a UserError (exit code 2) when it cannot be read, or when it is
 * larger than a batch may be (checked before it is read, so a huge file costs nothing).
 */
export async function readBatchText(file: string, limit = DEFAULT_MAX_BATCH_BYTES): Promise<string> {
  try {
    const st = await stat(file);
    if (st.isFile() && st.size > limit) {
      throw new UserError(`${file}: ${formatBytes(st.size)} is over the limit of ${formatBytes(limit)} for a batch file; split it into several batches, or use parameters: to describe many jobs`, 2);
    }
    // a file that is not regular (a pipe, /proc) has no size until read: read at most the limit
    const text = await readAtMost(file, limit + 1);
    if (text.length > limit) throw new UserError(`${file}: over the limit of ${formatBytes(limit)} for a batch file`, 2);
    return text.toString('utf8');
  } catch (err) {
    if (err instanceof UserError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot read: ${errorMessage(err)}`, 2);
  }
}

async function readAtMost(file: string, max: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const parts: Buffer[] = [];
    let total = 0;
    while (total < max) {
      const buf = Buffer.alloc(Math.min(1024 * 1024, max - total));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      parts.push(buf.subarray(0, bytesRead));
      total += bytesRead;
    }
    return Buffer.concat(parts, total);
  } finally {
    await fh.close();
  }
}

/** Loads and validates `file`; throws a UserError (exit code 2) listing every problem. */
export async function loadBatch(file: string, opts: LoadOptions = {}): Promise<BatchSpec> {
  const text = await readBatchText(file);
  const result = parseBatch(text, { file, checkFiles: opts.checkFiles ?? true });
  if (!result.ok) throw new BatchSpecError(result.errors);
  return result.batch;
}

/**
 * The namespace and name of the batch a file describes, for commands that only need to
 * name it (pull, kill): the whole file must still be valid, but its files need not exist.
 */
export async function readBatchIdentity(file: string): Promise<{ namespace: string; batch_name: string }> {
  const batch = await loadBatch(file, { checkFiles: false });
  return { namespace: batch.meta.namespace, batch_name: batch.meta.batch_name };
}
