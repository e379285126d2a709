// The outcome of a job in a transpiled folder, from its `_distribute/result.json`.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

/** The fields of result.json this reads (compute/runner.ts writes more). */
const ResultFile = z.object({
  exit_code: z.number().int().nullable(),
  signal: z.string().nullable(),
  timed_out: z.boolean(),
  start: z.string(),
  end: z.string(),
  node: z.string(),
  attempt: z.number().int(),
});

export interface JobOutcome {
  name: string;
  /** done: exit 0; failed: another exit or a signal; missing: it did not run (yet) */
  state: 'done' | 'failed' | 'missing';
  exit_code: number | null;
  signal: string | null;
  timed_out: boolean;
}

export async function readOutcome(root: string, name: string): Promise<JobOutcome> {
  let text: string;
  try {
    text = await readFile(join(root, name, '_distribute', 'result.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { name, state: 'missing', exit_code: null, signal: null, timed_out: false };
    throw err;
  }
  let parsed: z.infer<typeof ResultFile>;
  try {
    parsed = ResultFile.parse(JSON.parse(text));
  } catch (err) {
    throw new Error(`job ${name}: ${join(root, name, '_distribute', 'result.json')} is not a result: ${(err as Error).message}`);
  }
  return { name, state: parsed.exit_code === 0 && !parsed.timed_out ? 'done' : 'failed', exit_code: parsed.exit_code, signal: parsed.signal, timed_out: parsed.timed_out };
}

export function summarize(outcomes: JobOutcome[]): { done: number; failed: number; missing: number } {
  const s = { done: 0, failed: 0, missing: 0 };
  for (const o of outcomes) s[o.state]++;
  return s;
}
