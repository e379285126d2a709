// Pull query rules (shared/protocol/api.ts `PullRules`) compiled into one predicate over a
// member `<job>/<file>` of a batch. The head answers plans with it; the CLI compiles the same
// rules first so a bad pattern is reported against its flag or rules file before any request.
//
// Semantics: with no include and no glob, every member is a candidate; otherwise it must
// match one include regex or one glob. Any exclude match drops it (exclude wins). `job`
// regexes, when given, keep only the jobs whose name matches one. Regexes are JavaScript's
// and unanchored (`RegExp.test`). With `whole_path` (the original distribute's `pull ...
// include --include RE` form), include and exclude regexes see
// `<namespace>/<batch>/<job>/<file>` instead, the path its server matched. Globs are anchored: a glob without `/` is matched against the
// file's base name (as in .gitignore: `*.csv` finds CSVs at any depth), one with `/` against the
// whole `<job>/<file>` path; `*` and `?` stay within one path segment, `**` crosses them
// (`**/` is zero or more folders), `[abc]`/`[!abc]` are classes, `{a,b}` alternatives.
import type { PullRules } from './protocol/api.js';

export type RuleField = keyof PullRules;

export interface RuleProblem {
  field: RuleField;
  index: number;
  pattern: string;
  message: string;
}

export interface CompiledRules {
  /** whether any job regex is given (else every job is a candidate) */
  readonly jobFiltered: boolean;
  jobMatches(job: string): boolean;
  /** the whole rule set, for `path` inside job `job` */
  matches(job: string, path: string): boolean;
}

interface Glob {
  re: RegExp;
  /** matched against the whole `<job>/<file>` (else the base name) */
  whole: boolean;
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/]/;

/** A glob as an anchored RegExp (see the header); throws on an unclosed `{`. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  let inBrace = false;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const end = classEnd(glob, i);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      let negate = false;
      if (body.startsWith('!') || body.startsWith('^')) {
        negate = true;
        body = body.slice(1);
      }
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]^[]/g, (m, at: number) => (m === '^' && at > 0 ? '^' : `\\${m}`))}]`;
      i = end;
    } else if (c === '{') {
      if (inBrace) throw new Error(`glob ${JSON.stringify(glob)}: nested {} are not supported`);
      inBrace = true;
      re += '(?:';
    } else if (c === '}' && inBrace) {
      inBrace = false;
      re += ')';
    } else if (c === ',' && inBrace) {
      re += '|';
    } else if (c === '\\' && i + 1 < glob.length) {
      i++;
      re += escapeChar(glob[i]!);
    } else {
      re += escapeChar(c);
    }
  }
  if (inBrace) throw new Error(`glob ${JSON.stringify(glob)}: a { is not closed`);
  return new RegExp(`^${re}$`);
}

/** Index of the `]` closing a class opened at `open`; a `]` first in the class is literal. */
function classEnd(glob: string, open: number): number {
  let i = open + 1;
  if (glob[i] === '!' || glob[i] === '^') i++;
  if (glob[i] === ']') i++;
  const end = glob.indexOf(']', i);
  return end;
}

function escapeChar(c: string): string {
  return REGEX_SPECIAL.test(c) ? `\\${c}` : c;
}

/** Compiles every rule, or lists every pattern that does not compile. */
export function compileRules(rules: PullRules, batch?: { namespace: string; batch: string }): { ok: true; rules: CompiledRules } | { ok: false; problems: RuleProblem[] } {
  const problems: RuleProblem[] = [];
  const regexes = (field: 'include' | 'exclude' | 'job'): RegExp[] =>
    rules[field].flatMap((pattern, index) => {
      try {
        return [new RegExp(pattern)];
      } catch (err) {
        problems.push({ field, index, pattern, message: `not a valid regular expression: ${(err as Error).message}` });
        return [];
      }
    });
  const include = regexes('include');
  const exclude = regexes('exclude');
  const jobs = regexes('job');
  const globs: Glob[] = rules.glob.flatMap((pattern, index) => {
    if (pattern === '') {
      problems.push({ field: 'glob', index, pattern, message: 'an empty glob matches nothing' });
      return [];
    }
    try {
      return [{ re: globToRegExp(pattern), whole: pattern.includes('/') }];
    } catch (err) {
      problems.push({ field: 'glob', index, pattern, message: (err as Error).message });
      return [];
    }
  });
  if (problems.length) return { ok: false, problems };

  const everything = include.length === 0 && globs.length === 0;
  const prefix = rules.whole_path && batch ? `${batch.namespace}/${batch.batch}/` : '';
  const jobMatches = (job: string) => jobs.length === 0 || jobs.some((r) => r.test(job));
  return {
    ok: true,
    rules: {
      jobFiltered: jobs.length > 0,
      jobMatches,
      matches(job, path) {
        if (!jobMatches(job)) return false;
        const full = `${job}/${path}`;
        const regexPath = prefix + full;
        if (!everything) {
          const base = path.slice(path.lastIndexOf('/') + 1);
          if (!include.some((r) => r.test(regexPath)) && !globs.some((g) => g.re.test(g.whole ? full : base))) return false;
        }
        return !exclude.some((r) => r.test(regexPath));
      },
    },
  };
}

/** `include[2]: "(": not a valid regular expression: ...` */
export function formatRuleProblem(p: RuleProblem): string {
  return `${p.field}[${p.index}]: ${JSON.stringify(p.pattern)}: ${p.message}`;
}
