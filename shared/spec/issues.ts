// zod's issues, said the way a person editing the YAML needs them: what is wrong with the
// value at hand, what was expected, and for a misspelt key, the key they probably meant.
import type { z } from 'zod';
import { KNOWN_KEYS_MARK } from './schema.js';
import type { FieldPath, Target } from './positions.js';

/** A problem before it is located in the file. */
export interface Problem {
  path: FieldPath;
  message: string;
  target: Target;
}

/** Levenshtein distance, for "did you mean". */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The closest candidate to `word`, if it is close enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) { best = c; bestD = d; }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** "a string", "a list", "the number 2.5": what the user actually wrote. */
export function describeValue(v: unknown): string {
  if (v === null) return 'nothing (null)';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'boolean') return `${v}`;
  if (typeof v === 'object') return 'a map';
  return typeof v;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a map of keys',
  record: 'a map of keys',
  null: 'null',
};

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg as string];
  }
  return v;
}

function bound(issue: { minimum?: unknown; maximum?: unknown; inclusive?: boolean }, min: boolean): string {
  const n = Number(min ? issue.minimum : issue.maximum);
  if (issue.inclusive === false) return min ? `more than ${n}` : `less than ${n}`;
  return min ? `at least ${n}` : `at most ${n}`;
}

type Issue = z.core.$ZodIssue;

/** Turns zod's issues for the whole document into problems; `data` is what was parsed. */
export function problemsFromZod(issues: readonly Issue[], data: unknown, prefix: FieldPath = []): Problem[] {
  const out: Problem[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...(issue.path as (string | number)[])];
    const input = valueAt(data, issue.path);
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known: string[] = issue.message.startsWith(KNOWN_KEYS_MARK) ? JSON.parse(issue.message.slice(KNOWN_KEYS_MARK.length)) : [];
        for (const key of issue.keys) {
          const guess = closest(key, known);
          const hint = guess ? `; did you mean "${guess}"?` : known.length ? `; expected one of: ${known.join(', ')}` : '';
          out.push({ path: [...path, key], target: 'key', message: `unknown key "${key}"${hint}` });
        }
        break;
      }
      case 'invalid_type': {
        if (input === undefined) {
          out.push({ path, target: 'parent', message: `is required` });
        } else {
          const expected = EXPECTED[issue.expected] ?? issue.expected;
          const hint = issue.expected === 'string' && typeof input === 'number' ? ` (quote it: "${input}")` : '';
          out.push({ path, target: 'value', message: `expected ${expected}, got ${describeValue(input)}${hint}` });
        }
        break;
      }
      case 'too_small': {
        if (issue.origin === 'array' || issue.origin === 'string') {
          out.push({ path, target: 'value', message: issue.message.startsWith('Too small') ? 'must not be empty' : issue.message });
        } else {
          out.push({ path, target: 'value', message: `must be ${bound(issue, true)}, got ${describeValue(input)}` });
        }
        break;
      }
      case 'too_big':
        // a long string or list is described by its length, never echoed
        if (issue.origin === 'string' || issue.origin === 'array') out.push({ path, target: 'value', message: issue.message });
        else out.push({ path, target: 'value', message: `must be ${bound(issue, false)}, got ${describeValue(input)}` });
        break;
      case 'invalid_value': {
        const options = issue.values.map(String);
        const guess = typeof input === 'string' ? closest(input, options) : undefined;
        out.push({
          path,
          target: 'value',
          message: `must be one of ${options.join(', ')}; got ${describeValue(input)}${guess ? `; did you mean "${guess}"?` : ''}`,
        });
        break;
      }
      case 'invalid_union': {
        // every branch failed: if one branch got past the type check, its issues say more
        // (a literal of another type than the value, as `all` for the number 2.5, got nowhere either)
        const otherLiteral = (branch: typeof issue.errors[number]) =>
          branch.every((i) => i.code === 'invalid_value' && i.path.length === 0 && i.values.every((v) => typeof v !== typeof input));
        const deeper = issue.errors.find((branch) => branch.some((i) => i.code !== 'invalid_type' || i.path.length > 0) && !otherLiteral(branch));
        if (deeper) {
          out.push(...problemsFromZod(deeper, input, path));
        } else {
          const expected = issue.errors.flatMap((b) => b.map((i) => (i.code === 'invalid_type' ? EXPECTED[i.expected] ?? i.expected : '')));
          const words = [...new Set(expected.filter(Boolean))];
          out.push({ path, target: input === undefined ? 'parent' : 'value', message: input === undefined ? 'is required' : `expected ${words.join(' or ')}, got ${describeValue(input)}` });
        }
        break;
      }
      case 'invalid_format':
      case 'custom':
      default:
        out.push({ path, target: 'value', message: issue.message });
    }
  }
  return out;
}
