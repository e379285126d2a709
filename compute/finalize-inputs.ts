// The results of a batch's jobs, for its finalize step: the head streams them as one tar of
// `<job>/<path>` members (GET /v1/finalize/:attempt), extracted into `input/results/`. Only
// files and folders are written, every member inside the folder (tar refuses absolute paths
// and `..`); a member of another type is skipped. Streamed to disk: memory stays flat.
import { mkdir } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import * as tar from 'tar';
import { authorization, fetchFailure, headFetch, type HeadEndpoint } from '../shared/head-http.js';
import { API, pathFor } from '../shared/protocol/http-api.js';

/** The folder of `input/` the results land in (shared/spec's FINALIZE_RESULTS). */
export const RESULTS_FOLDER = 'results';

export async function fetchBatchResults(head: HeadEndpoint, attempt: number, dest: string): Promise<{ files: number; skipped: number }> {
  let res: Response;
  try {
    res = await headFetch(head.ca)(head.http + pathFor(API.finalizeResults, { attempt: String(attempt) }), { headers: authorization(head) });
  } catch (err) {
    throw new Error(`cannot fetch the batch's results: ${fetchFailure(err)}`);
  }
  if (!res.ok || !res.body) {
    const text = await res.text().catch(() => '');
    throw new Error(`cannot fetch the batch's results: the head answered ${res.status}${text ? `: ${text.slice(0, 300)}` : ''}`);
  }
  await mkdir(dest, { recursive: true });
  let files = 0;
  let skipped = 0;
  const extract = tar.x({
    cwd: dest,
    strict: true,
    preservePaths: false,
    filter: (_path, entry) => {
      const type = (entry as { type?: string }).type;
      const ok = type === 'File' || type === 'OldFile' || type === 'Directory';
      if (!ok) skipped++;
      else if (type !== 'Directory') files++;
      return ok;
    },
  });
  await pipeline(Readable.fromWeb(res.body as ReadableStream), extract);
  return { files, skipped };
}
