// The batch as plain data: what `distribute add` sends the head once it has read the YAML.
// The head checks it with the same rules as a YAML file (normalize.ts: the zod schemas, names
// that become paths, sizes, durations, files, duplicates, the job limit) but skips the YAML
// parse, most of the cost of a large batch. Without the text there are no lines to point at:
// a problem names its field (`batch.yaml: shell.jobs[0].name: ...`).
import { dirname, isAbsolute, resolve } from 'node:path';
import { normalizeBatch } from './normalize.js';
import { formatPath } from './positions.js';
import type { Problem } from './issues.js';
import type { BatchSpec } from './types.js';

export type DocumentResult = { ok: true; batch: BatchSpec } | { ok: false; problems: string[] };

/**
 * Validates a batch document (`file` as the user named it: shown in problems, and the folder
 * file paths are relative to unless `dir`, the YAML's folder where it was read, is given). Files are not looked for: the machine that checks has none.
 */
export function checkBatchDocument(data: unknown, opts: { file: string; dir?: string }): DocumentResult {
  const abs = resolve(opts.file);
  const problems: Problem[] = [];
  // the YAML's folder on the user's machine, when they said: an absolute file path then keys
  // the same here as it did there (src/remote/add.ts, fileKey)
  const dir = opts.dir !== undefined && isAbsolute(opts.dir) ? opts.dir : dirname(abs);
  const batch = normalizeBatch(data, { file: abs, dir, checkFiles: false, problems, statCache: new Map() });
  if (batch && problems.length === 0) return { ok: true, batch };
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const p of problems) {
    const path = formatPath(p.path);
    const line = `${opts.file}: ${path ? `${path}: ` : ''}${p.message}`;
    if (!seen.has(line)) lines.push(line);
    seen.add(line);
  }
  return { ok: false, problems: lines };
}
