// The query rules of a pull, from the flags (`--include`, `--exclude`, `--glob`, `--job`) and a
// rules file (`--rules FILE`, YAML with the same keys, each a string or a list of strings); the
// two are merged (lists joined). Every pattern is compiled here first, so a bad one is reported
// against the flag or the file line that wrote it, with exit code 2, before any request.
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { UserError, errorMessage } from '../../shared/errors.js';
import type { PullRules } from '../../shared/protocol/api.js';
import { compileRules, type RuleField } from '../../shared/pull-rules.js';
import { formatPath, locate } from '../../shared/spec/positions.js';

export interface RuleFlags {
  include?: string[];
  exclude?: string[];
  glob?: string[];
  job?: string[];
  rules?: string;
}

const Patterns = z.union([z.string(), z.array(z.string())]).transform((v) => (typeof v === 'string' ? [v] : v));

export const RulesFile = z
  .object({ include: Patterns.optional(), exclude: Patterns.optional(), glob: Patterns.optional(), job: Patterns.optional() })
  .strict();

const FIELDS: RuleField[] = ['include', 'exclude', 'glob', 'job'];

function empty(): PullRules {
  return { include: [], exclude: [], glob: [], job: [] };
}

function valueAt(raw: unknown, path: (string | number)[]): unknown {
  let v = raw;
  for (const seg of path) v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[seg] : undefined;
  return v;
}

/** Reads and checks a rules file; every problem as `FILE:LINE:COL: field: message`. */
export async function loadRulesFile(file: string): Promise<PullRules> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read rules file ${file}: ${errorMessage(err)}`, 2);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length) {
    throw new UserError(doc.errors.map((e) => {
      const pos = lines.linePos(e.pos[0]);
      return `${file}:${pos.line}:${pos.col}: ${e.message.split('\n')[0]}`;
    }).join('\n'), 2);
  }
  const raw: unknown = doc.toJS() ?? {};
  const where = (path: (string | number)[], target: 'value' | 'key' = 'value') => {
    const p = locate(doc, lines, path, target);
    return `${file}:${p.line}:${p.col}`;
  };
  const parsed = RulesFile.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((i) => {
      const path = i.path as (string | number)[];
      if (i.code === 'unrecognized_keys') {
        return i.keys.map((k) => `${where([...path, k], 'key')}: ${k}: not a rules key (use ${FIELDS.join(', ')})`);
      }
      if (i.code === 'invalid_union' && Array.isArray(valueAt(raw, path))) {
        // a list: name each element that is not a string
        return (valueAt(raw, path) as unknown[]).flatMap((v, k) => (typeof v === 'string' ? [] : [`${where([...path, k])}: ${formatPath([...path, k])}: must be a string (a pattern), not ${JSON.stringify(v)}`]));
      }
      const message = i.code === 'invalid_union' ? 'must be a string or a list of strings' : i.message;
      return [`${where(path)}: ${formatPath(path) || '(file)'}: ${message}`];
    });
    throw new UserError(problems.join('\n'), 2);
  }
  const rules = { ...empty(), ...parsed.data } as PullRules;
  const compiled = compileRules(rules);
  if (!compiled.ok) {
    const listed = (field: RuleField) => Array.isArray((raw as Record<string, unknown>)[field]);
    throw new UserError(compiled.problems.map((p) => {
      const path = listed(p.field) ? [p.field, p.index] : [p.field];
      return `${where(path)}: ${formatPath(path)}: ${JSON.stringify(p.pattern)}: ${p.message}`;
    }).join('\n'), 2);
  }
  return rules;
}

/** The rules of the flags and the rules file together; bad patterns refused with exit 2. */
export async function rulesFrom(flags: RuleFlags): Promise<PullRules> {
  const fromFlags: PullRules = { include: flags.include ?? [], exclude: flags.exclude ?? [], glob: flags.glob ?? [], job: flags.job ?? [] };
  const compiled = compileRules(fromFlags);
  if (!compiled.ok) throw new UserError(compiled.problems.map((p) => `--${p.field} ${JSON.stringify(p.pattern)}: ${p.message}`).join('\n'), 2);
  const file = flags.rules === undefined ? empty() : await loadRulesFile(flags.rules);
  return {
    include: [...file.include, ...fromFlags.include],
    exclude: [...file.exclude, ...fromFlags.exclude],
    glob: [...file.glob, ...fromFlags.glob],
    job: [...file.job, ...fromFlags.job],
  };
}
