// Files written for the original Rust `distribute` (by hand, by its `template` command or by
// its Python package), read with the meaning they had there, before the schema sees them:
// - `key: ~` (null) for an optional key means the key is absent, as serde read an `Option`
//   (where this program gives null a meaning, as `memory: null` = no reservation, it keeps it).
//   Only keys the schema knows and marks optional are dropped, so an unknown key stays an
//   error and a required key given as `~` is still refused.
// - `singularity:` is the older name of the `apptainer:` section.
// The document is not modified; a copy is returned only when something changed.
import type { z } from 'zod';

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The zod internals walked here (zod 4's `def`), typed loosely on purpose: only the shape is read. */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
  valueType?: z.ZodType;
}
const defOf = (s: z.ZodType): Def => (s as unknown as { def: Def }).def;

/** The schema under optional/nullable/default wrappers; whether the key may be left out, and whether null means something of its own. */
function unwrap(schema: z.ZodType): { inner: z.ZodType; optional: boolean; nullable: boolean } {
  let s = schema;
  let optional = false;
  let nullable = false;
  for (;;) {
    const d = defOf(s);
    if ((d.type === 'optional' || d.type === 'nullable' || d.type === 'default') && d.innerType) {
      if (d.type === 'nullable') nullable = true;
      else optional = true;
      s = d.innerType;
    } else return { inner: s, optional, nullable };
  }
}

/** `value` with every null under an optional key of `schema` removed, at any depth. */
export function dropOptionalNulls(value: unknown, schema: z.ZodType): unknown {
  const { inner } = unwrap(schema);
  const d = defOf(inner);
  if (d.type === 'object' && d.shape && isRecord(value)) {
    let out: Record<string, unknown> | null = null;
    for (const [key, v] of Object.entries(value)) {
      const field = Object.hasOwn(d.shape, key) ? d.shape[key] : undefined;
      if (!field) continue;
      // a key whose null has a meaning of its own (`memory: null`: no reservation) keeps it
      const { optional, nullable } = unwrap(field);
      const next = v === null && optional && !nullable ? undefined : dropOptionalNulls(v, field);
      if (next !== v) {
        out ??= { ...value };
        if (next === undefined) delete out[key];
        else out[key] = next;
      }
    }
    return out ?? value;
  }
  if (d.type === 'array' && d.element && Array.isArray(value)) {
    let out: unknown[] | null = null;
    value.forEach((v, i) => {
      const next = dropOptionalNulls(v, d.element!);
      if (next !== v) (out ??= [...value])[i] = next;
    });
    return out ?? value;
  }
  if (d.type === 'union' && d.options && isRecord(value)) {
    // the object member of a union such as FileRef (a path, or {path, alias})
    const obj = d.options.find((o) => defOf(unwrap(o).inner).type === 'object');
    return obj ? dropOptionalNulls(value, obj) : value;
  }
  return value;
}

/** `singularity:` renamed `apptainer:` (when there is no `apptainer:`), keeping the key order. */
export function renameSingularity(data: Record<string, unknown>): Record<string, unknown> {
  if (!Object.hasOwn(data, 'singularity') || Object.hasOwn(data, 'apptainer')) return data;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k === 'singularity' ? 'apptainer' : k, v]));
}

/** The document as this program reads it: the original's spellings turned into its own. */
export function readOriginalSpellings(data: Record<string, unknown>, schema: z.ZodType): Record<string, unknown> {
  return dropOptionalNulls(renameSingularity(data), schema) as Record<string, unknown>;
}
