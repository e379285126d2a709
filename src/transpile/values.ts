// Checks for the values of scheduler options (`--job-resources`, the `slurm:` block):
// each turns what a user wrote into the text a directive takes, or says what is wrong.
import { formatSlurmSize, formatSlurmTime, parseDuration, parseSize, type Parsed } from '../../shared/spec/units.js';

export type RawValue = string | number;
export type Check = (value: RawValue) => Parsed<string>;

/** A value as it appears in a message: quoted, escapes visible, on one line. */
const q = (v: RawValue): string => JSON.stringify(String(v));
const ok = (value: string): Parsed<string> => ({ ok: true, value });
const fail = (error: string): Parsed<string> => ({ ok: false, error });

/** A word of printable characters without spaces or quotes: it lands in a directive line unquoted. */
export const word: Check = (v) => {
  const s = String(v);
  if (s === '') return fail('must not be empty');
  if (/[\s"'`\\$]/.test(s) || /[\u0000-\u001f\u007f]/.test(s)) {
    return fail(`${q(s)} must not contain spaces, quotes, "$", "\\" or control characters`);
  }
  return ok(s);
};

export const positiveInt: Check = (v) => {
  const s = String(v).trim();
  if (!/^\d+$/.test(s) || Number(s) < 1 || !Number.isSafeInteger(Number(s))) return fail(`${q(v)} must be a whole number of at least 1`);
  return ok(String(Number(s)));
};

export const integer: Check = (v) => {
  const s = String(v).trim();
  if (!/^[+-]?\d+$/.test(s) || !Number.isSafeInteger(Number(s))) return fail(`${q(v)} must be a whole number`);
  return ok(String(Number(s)));
};

/** Slurm's node count: `2` or a range `2-4`. */
export const nodeCount: Check = (v) => {
  const s = String(v).trim();
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m || Number(m[1]) < 1 || (m[2] !== undefined && Number(m[2]) < Number(m[1]))) {
    return fail(`${q(v)} must be a node count like 2 or a range like 2-4`);
  }
  return ok(s);
};

/** A size (`8G`, `512M`, `1.5g`; a bare number is megabytes) in Slurm's notation. */
export const slurmSize: Check = (v) => {
  const p = parseSize(v);
  return p.ok ? ok(formatSlurmSize(p.value)) : p;
};

/** A duration (`2h`, `90m`, `1-12:00:00`, `PT2H`; a bare number is minutes) in Slurm's notation. */
export const slurmTime: Check = (v) => {
  if (typeof v === 'string' && /^(unlimited|infinite)$/i.test(v.trim())) return ok('UNLIMITED');
  const p = parseDuration(v);
  if (!p.ok) return p;
  if (p.value === 0) return fail(`${q(v)} is no time at all; give a limit such as 2h, or UNLIMITED`);
  return ok(formatSlurmTime(p.value));
};

export function oneOf(values: readonly string[]): Check {
  return (v) => {
    const s = String(v).trim().toLowerCase();
    const found = values.find((x) => x.toLowerCase() === s);
    return found ? ok(found) : fail(`${q(v)} must be one of ${values.join(', ')}`);
  };
}

/** A comma-separated list whose items are each one of `values` (case-insensitive). */
export function listOf(values: readonly string[]): Check {
  const item = oneOf(values);
  return (v) => {
    const out: string[] = [];
    for (const part of String(v).split(',')) {
      const r = item(part);
      if (!r.ok) return r;
      out.push(r.value);
    }
    return ok(out.join(','));
  };
}

/** Generic resources: `gpu:2`, `gpu:a100:1`, `gpu:1,shard:2`. */
export const gres: Check = (v) => {
  const s = String(v).trim();
  if (!/^[A-Za-z][\w.-]*(?::[\w.-]+)*(?:,[A-Za-z][\w.-]*(?::[\w.-]+)*)*$/.test(s)) {
    return fail(`${q(v)} must be generic resources like gpu:2 or gpu:a100:1`);
  }
  return ok(s);
};

/** A raw directive or setup line: one line, no NUL. */
export function oneLine(what: string, s: string): Parsed<string> {
  if (/[\r\n\u0000]/.test(s)) return fail(`${what} ${JSON.stringify(s)} must be a single line`);
  return ok(s);
}
