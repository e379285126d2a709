// Parameter expansion (docs/architecture.md, Batch file): a job with `parameters:` stands for one job per
// combination of its values (`product`, the default, first parameter varying slowest) or per
// position (`zip`). `{name}` in the job's name, command and file paths/aliases is replaced by
// the value. Shell's `${VAR}` is left alone, `{{` and `}}` write literal braces, and text in
// braces that is not a name (`{print $1}`, `{a,b}`) is not a placeholder.

import { MAX_COMMAND_BYTES } from '../limits.js';

export type ParamValue = string | number | boolean;
export type ParamSet = Record<string, string>;

/** At most this many jobs from one batch file, so a typo cannot ask for billions. */
export const MAX_EXPANDED_JOBS = 100_000;

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type Expansion = { ok: true; sets: ParamSet[] } | { ok: false; error: string; param?: string };

export function parameterSets(params: Record<string, ParamValue[]>, mode: 'product' | 'zip' = 'product'): Expansion {
  const names = Object.keys(params);
  for (const name of names) {
    if (!PARAM_NAME.test(name)) return { ok: false, param: name, error: `parameter name "${name}" must be a letter or _ followed by letters, digits or _` };
  }
  if (names.length === 0) return { ok: false, error: 'parameters must name at least one parameter' };
  const lists = names.map((n) => params[n]!.map(String));
  if (mode === 'zip') {
    const len = lists[0]!.length;
    const odd = names.find((_, i) => lists[i]!.length !== len);
    if (odd !== undefined) {
      const sizes = names.map((n, i) => `${n}: ${lists[i]!.length}`).join(', ');
      return { ok: false, param: odd, error: `parameter_mode zip needs lists of equal length (${sizes})` };
    }
    if (len > MAX_EXPANDED_JOBS) return { ok: false, error: `parameters expand to ${len} jobs; at most ${MAX_EXPANDED_JOBS} are allowed in one batch` };
    return { ok: true, sets: Array.from({ length: len }, (_, k) => Object.fromEntries(names.map((n, i) => [n, lists[i]![k]!]))) };
  }
  const total = lists.reduce((acc, l) => acc * l.length, 1);
  if (total > MAX_EXPANDED_JOBS) return { ok: false, error: `parameters expand to ${total} jobs; at most ${MAX_EXPANDED_JOBS} are allowed in one batch` };
  // set k takes value (k / stride_i) mod len_i of parameter i; the last parameter varies fastest
  const strides = lists.map((_, i) => lists.slice(i + 1).reduce((acc, l) => acc * l.length, 1));
  const sets: ParamSet[] = new Array(total);
  for (let k = 0; k < total; k++) {
    const set: ParamSet = {};
    for (let i = 0; i < names.length; i++) set[names[i]!] = lists[i]![Math.floor(k / strides[i]!) % lists[i]!.length]!;
    sets[k] = set;
  }
  return { ok: true, sets };
}

export type Filled = { ok: true; value: string } | { ok: false; unknown: string[] };

const TOKEN = /\{\{|\}\}|\$\{[^}]*\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Fills `{name}` placeholders of `template` from `values`; names it does not know are reported. */
export function fillPlaceholders(template: string, values: ParamSet): Filled {
  const unknown: string[] = [];
  const value = template.replace(TOKEN, (token, name: string | undefined) => {
    if (token === '{{') return '{';
    if (token === '}}') return '}';
    if (name === undefined) return token; // ${VAR}
    const v = values[name];
    if (v === undefined) {
      if (!unknown.includes(name)) unknown.push(name);
      return token;
    }
    return v;
  });
  return unknown.length ? { ok: false, unknown } : { ok: true, value };
}

/**
 * `fillPlaceholders` for a template filled once per parameter set: the template is split
 * once, and each fill is a concatenation (a 100,000-job sweep fills its name and command
 * 100,000 times). Every placeholder must name a parameter of the sets it is given (the
 * caller has checked them); one that does not is left as written.
 */
/** No filled string grows past this (the longest field, a command, is refused above its own limit). */
const MAX_FILLED_CHARS = MAX_COMMAND_BYTES;

export function compileTemplate(template: string): (values: ParamSet) => string {
  // literal text at even indexes, parameter names at odd ones
  const parts: string[] = [];
  let literal = '';
  let last = 0;
  for (const m of template.matchAll(TOKEN)) {
    literal += template.slice(last, m.index);
    last = m.index + m[0].length;
    if (m[0] === '{{') literal += '{';
    else if (m[0] === '}}') literal += '}';
    else if (m[1] === undefined) literal += m[0];
    else {
      parts.push(literal, m[1]);
      literal = '';
    }
  }
  literal += template.slice(last);
  if (parts.length === 0) return () => literal;
  parts.push(literal);
  return (values) => {
    let out = parts[0]!;
    for (let i = 1; i < parts.length; i += 2) {
      out += (values[parts[i]!] ?? `{${parts[i]}}`) + parts[i + 1]!;
      // a short template repeating a long value could fill gigabytes: past the limit the rest
      // does not matter, the caller refuses the string by its length
      if (out.length > MAX_FILLED_CHARS) return out.slice(0, MAX_FILLED_CHARS + 1);
    }
    return out;
  };
}

/** Names of the placeholders a template uses. */
export function placeholdersOf(template: string): string[] {
  const names: string[] = [];
  for (const m of template.matchAll(TOKEN)) if (m[1] !== undefined && !names.includes(m[1])) names.push(m[1]);
  return names;
}

/** `re=100, mesh=a`, for messages about one expanded job. */
export function describeSet(set: ParamSet): string {
  return Object.entries(set).map(([k, v]) => `${k}=${v}`).join(', ');
}
