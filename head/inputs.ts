// Input files, content-addressed by SHA-256: `<state_dir>/inputs/<hash[0..2]>/<hash>`, one
// copy whatever number of jobs or batches name it. Uploads are hashed while they stream and
// refused when the bytes do not match the name.
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { inputsDir } from './context.js';
import { commitFile, discard, receiveToTemp } from './files.js';
import type { InputRow, Store } from './store.js';

export function inputRelPath(hash: string): string {
  return join('inputs', hash.slice(0, 2), hash);
}

export function tempInputsDir(stateDir: string): string {
  return join(inputsDir(stateDir), '.tmp');
}

/**
 * Who may see an input: an admin (null) any; a user only one they hold — uploaded themselves
 * or named in one of their batches. Knowing a hash is no proof of having the bytes: without
 * this, anyone who learnt another user's hash could fetch the file, or name it in a batch of
 * their own and have it run.
 */
export type InputViewer = string | null;

/** The input, when the head has it and `viewer` may see it. */
export function visibleInput(store: Store, hash: string, viewer: InputViewer): InputRow | undefined {
  if (viewer === null) return store.input(hash);
  return store
    .stmt<InputRow>('SELECT i.* FROM inputs i JOIN input_holders h ON h.hash = i.hash AND h.user = ? WHERE i.hash = ?')
    .get(viewer, hash);
}

/** The hashes among these the head does not hold for `viewer`: theirs to upload (again). */
export function missingInputs(store: Store, hashes: string[], viewer: InputViewer): string[] {
  return [...new Set(hashes)].filter((h) => !visibleInput(store, h, viewer));
}

/** `user` has shown they have this input's bytes. */
export function recordHolder(store: Store, hash: string, user: string): void {
  store.tx(() => store.stmt('INSERT OR IGNORE INTO input_holders (hash, user) VALUES (?, ?)').run(hash, user));
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
