// `--job-resources`: scheduler options given on the command line, as `key=value,key=value`
// or as a JSON object. A piece without `=` continues the previous value, so lists that
// contain commas read naturally: `mail_type=END,FAIL,time=2h`, `nodelist=n[1-3],n7`.
import { UserError } from '../../shared/errors.js';
import type { Check, RawValue } from './values.js';

export const FLAG = '--job-resources';

/** Parses one or more `--job-resources` arguments; later ones override earlier keys. */
export function parseJobResources(args: string[]): Record<string, RawValue> {
  const out: Record<string, RawValue> = {};
  for (const arg of args) Object.assign(out, parseOne(arg));
  return out;
}

function parseOne(arg: string): Record<string, RawValue> {
  const text = arg.trim();
  if (text === '') return {};
  if (text.startsWith('{')) return parseJson(text);
  const out: Record<string, RawValue> = {};
  let last: string | null = null;
  for (const piece of text.split(',')) {
    const eq = piece.indexOf('=');
    if (eq === -1) {
      if (last === null) throw new UserError(`${FLAG}: "${piece}" is not key=value (write ${FLAG} 'cpus_per_task=4,mem=8G' or a JSON object)`);
      out[last] = `${out[last]},${piece}`;
      continue;
    }
    const key = piece.slice(0, eq).trim();
    if (key === '') throw new UserError(`${FLAG}: "${piece}" has no key before "="`);
    out[key] = piece.slice(eq + 1).trim();
    last = key;
  }
  return out;
}

function parseJson(text: string): Record<string, RawValue> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${FLAG}: not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UserError(`${FLAG}: the JSON must be an object of key: value`);
  const out: Record<string, RawValue> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v !== 'string' && typeof v !== 'number') throw new UserError(`${FLAG}: ${k}: must be a string or a number, not ${JSON.stringify(v)}`);
    out[k] = v;
  }
  return out;
}

/**
 * Checks every key against `allowed` and normalizes its value. An unknown key is refused
 * with the list of allowed keys; every problem is reported at once.
 */
export function checkOptions(values: Record<string, RawValue>, allowed: Record<string, Check>, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  const problems: string[] = [];
  const known = Object.keys(allowed).sort();
  for (const [key, raw] of Object.entries(values)) {
    const check = allowed[key];
    if (!check) {
      problems.push(`${where}: unknown key "${key}"; allowed keys: ${known.join(', ')}`);
      continue;
    }
    const r = check(raw);
    if (r.ok) out[key] = r.value;
    else problems.push(`${where}: ${key}: ${r.error}`);
  }
  if (problems.length) throw new UserError(problems.join('\n'));
  return out;
}
