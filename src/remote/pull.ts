// `distribute pull BATCH.yaml`: the batch's results, streamed from the head as one tar and
// extracted strictly into `<save_dir>/<batch_name>/<job>/...` (DESIGN §8).
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { readBatchText } from '../../shared/spec/load.js';
import { UserError, errorMessage } from '../../shared/errors.js';
import type { HeadClient } from '../client.js';
import { extractStrict, type Extracted } from './extract.js';
import { checkName, type BatchTarget } from './target.js';

/**
 * The namespace and batch name a batch file names. Only `meta` is read, so the results of a
 * batch whose file no longer validates (files moved since) can still be pulled.
 */
export async function readBatchIdentity(file: string): Promise<BatchTarget> {
  const text = await readBatchText(file);
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UserError(`${file}: not YAML: ${errorMessage(err)}`, 2);
  }
  const meta = (doc as { meta?: { namespace?: unknown; batch_name?: unknown } } | null)?.meta;
  if (typeof meta?.namespace !== 'string') throw new UserError(`${file}: meta.namespace: required to know which results to pull`, 2);
  if (typeof meta.batch_name !== 'string') throw new UserError(`${file}: meta.batch_name: required to know which results to pull`, 2);
  return { namespace: checkName(`${file}: meta.namespace`, meta.namespace), batch: checkName(`${file}: meta.batch_name`, meta.batch_name) };
}

export interface PullOutcome extends Extracted {
  dest: string;
}

export async function pullBatch(head: HeadClient, target: BatchTarget, saveDir: string, filters: { include: string[]; exclude: string[] }): Promise<PullOutcome> {
  for (const re of [...filters.include, ...filters.exclude]) {
    try {
      new RegExp(re);
    } catch (err) {
      throw new UserError(`--include/--exclude: ${errorMessage(err)}`, 2);
    }
  }
  const res = await head.stream('POST', '/v1/pull', { namespace: target.namespace, batch: target.batch, include: filters.include, exclude: filters.exclude });
  const dest = join(resolve(saveDir), target.batch);
  return { dest, ...(await extractStrict(res, dest)) };
}
