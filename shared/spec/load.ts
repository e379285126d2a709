// Reads a batch file from disk: the entry point of `validate`, `add`, `run` and the transpilers.
import { readFile } from 'node:fs/promises';
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

/** The text of a batch file; a UserError (exit code 2) when it cannot be read. */
export async function readBatchText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot read: ${errorMessage(err)}`, 2);
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
