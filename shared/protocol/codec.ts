// msgpack frames, size-limited, validated with zod in one place.
import { Packr } from 'msgpackr';
import type { z } from 'zod';

/** Frames larger than this are refused unread (docs/architecture.md, Wire). */
export const MAX_FRAME = 16 * 1024 * 1024;

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export type WireError =
  | { kind: 'too_large'; size: number; limit: number }
  | { kind: 'undecodable'; detail: string }
  | { kind: 'invalid'; detail: string };

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: WireError };

export function encode(message: unknown): Buffer {
  return packr.pack(message);
}

export function decode<T>(schema: z.ZodType<T>, frame: Uint8Array, limit = MAX_FRAME): Decoded<T> {
  if (frame.byteLength > limit) return { ok: false, error: { kind: 'too_large', size: frame.byteLength, limit } };
  let raw: unknown;
  try {
    raw = packr.unpack(frame);
  } catch (err) {
    return { ok: false, error: { kind: 'undecodable', detail: err instanceof Error ? err.message : String(err) } };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || '(frame)'}: ${i.message}`).join('; ');
    return { ok: false, error: { kind: 'invalid', detail } };
  }
  return { ok: true, value: parsed.data };
}

export function describeWireError(e: WireError): string {
  switch (e.kind) {
    case 'too_large':
      return `frame of ${e.size} bytes is over the ${e.limit}-byte limit`;
    case 'undecodable':
      return `frame is not msgpack: ${e.detail}`;
    case 'invalid':
      return `invalid message: ${e.detail}`;
  }
}
