// Input files, content-addressed by SHA-256: `<state_dir>/inputs/<hash[0..2]>/<hash>`, one
// copy whatever number of jobs or batches name it. Uploads are hashed while they stream and
// refused when the bytes do not match the name.
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { inputsDir } from './context.js';
import { commitFile, discard, receiveToTemp } from './files.js';
import type { Store } from './store.js';

export function inputRelPath(hash: string): string {
  return join('inputs', hash.slice(0, 2), hash);
}

export function tempInputsDir(stateDir: string): string {
  return join(inputsDir(stateDir), '.tmp');
}

/** The hashes among these that the head does not hold. */
export function missingInputs(store: Store, hashes: string[]): string[] {
  const have = store.stmt<{ n: number }>('SELECT 1 AS n FROM inputs WHERE hash = ?');
  return [...new Set(hashes)].filter((h) => !have.get(h));
}

export type StoreInputResult = { ok: true; size: number; existed: boolean } | { ok: false; actual: string; size: number };

/** Streams an upload into the input store, verifying its hash before it becomes visible. */
export async function storeInput(store: Store, stateDir: string, hash: string, body: Readable): Promise<StoreInputResult> {
  const got = await receiveToTemp(body, tempInputsDir(stateDir));
  if (got.sha256 !== hash) {
    await discard(got.tmp);
    return { ok: false, actual: got.sha256, size: got.size };
  }
  const existing = store.input(hash);
  if (existing) {
    await discard(got.tmp);
    return { ok: true, size: existing.size, existed: true };
  }
  const rel = inputRelPath(hash);
  await commitFile(got.tmp, join(stateDir, rel));
  store.durably(() =>
    store.stmt('INSERT OR IGNORE INTO inputs (hash, size, path, created) VALUES (?, ?, ?, ?)').run(hash, got.size, rel, store.now()),
  );
  return { ok: true, size: got.size, existed: false };
}
