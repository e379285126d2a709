// The SHA-256 of every file of a result archive, as the node computed it while packing: the
// archive's last member, `_distribute/sha256.json`, `{"sha256": {"<member path>": "<hex>"}}`.
// The head hashes each member as the upload streams by and refuses an archive whose bytes do
// not match (docs/integrity.md). The manifest is not indexed, so it is never pulled.
import { z } from 'zod';

export const CHECKSUMS_MEMBER = '_distribute/sha256.json';
/** a manifest larger than this is refused (about 100 bytes per file: some 300,000 files); the
 * head then checks nothing against it and indexes the hashes it computed itself */
export const CHECKSUMS_MAX = 32 * 1024 * 1024;

const Hex = z.string().regex(/^[0-9a-f]{64}$/);
export const ChecksumsManifest = z.object({ sha256: z.record(z.string().max(4096), Hex) });

export function encodeChecksums(sums: Map<string, string>): Buffer {
  return Buffer.from(JSON.stringify({ sha256: Object.fromEntries(sums) }), 'utf8');
}
