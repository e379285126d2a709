// `after:` resolved: each job's patterns (names, or `*` globs, placeholders already filled)
// become the names of the jobs of the batch it waits for. A pattern that matches no job and
// a cycle are problems located at the `after:` entry that causes them.
import type { FieldPath } from './positions.js';
import type { Problem } from './issues.js';
import { describeSet, type ParamSet } from './expand.js';

export interface DependentJob {
  name: string;
  origin: FieldPath;
  set: ParamSet | null;
  afterPatterns: readonly string[];
}

/** At most this many edges in one batch: `after: ['*']` on 100,000 jobs must not ask for 10^10. */
export const MAX_DEPENDENCY_EDGES = 1_000_000;

function globToRegExp(glob: string): RegExp {
  const body = glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${body}$`);
}

/**
 * The names each job waits for (index-aligned with `jobs`); problems go to `problems`. A glob
 * never matches the job that writes it (`after: ['step_*']` on `step_3` means the others).
 */
export function resolveDependencies(jobs: readonly DependentJob[], problems: Problem[]): string[][] {
  const names = jobs.map((j) => j.name);
  const known = new Set(names);
  let edges = 0;
  const out = jobs.map((job) => {
    const deps = new Set<string>();
    job.afterPatterns.forEach((pattern, i) => {
      const at = [...job.origin, 'after', i];
      const note = job.set ? ` (job "${job.name}": ${describeSet(job.set)})` : '';
      if (!pattern.includes('*')) {
        if (!known.has(pattern)) problems.push({ path: at, target: 'value', message: `no job of this batch is named "${pattern}"${note}` });
        else deps.add(pattern);
        return;
      }
      const re = globToRegExp(pattern);
      let matched = 0;
      for (const n of names) {
        if (n !== job.name && re.test(n)) {
          deps.add(n);
          matched++;
        }
      }
      if (matched === 0) problems.push({ path: at, target: 'value', message: `"${pattern}" matches no other job of this batch${note}` });
    });
    edges += deps.size;
    return [...deps];
  });
  if (edges > MAX_DEPENDENCY_EDGES) {
    const first = jobs.find((j) => j.afterPatterns.length > 0);
    problems.push({ path: first ? [...first.origin, 'after'] : [], target: 'value', message: `the batch's after: lists come to ${edges} dependencies, more than the ${MAX_DEPENDENCY_EDGES} allowed` });
    return jobs.map(() => []);
  }
  const cycle = findCycle(names, out);
  if (cycle) {
    const job = jobs[cycle[0]!]!;
    const path = cycle.map((i) => names[i]).concat(names[cycle[0]!]!).join(' -> ');
    const i = job.afterPatterns.findIndex((p) => (p.includes('*') ? globToRegExp(p).test(names[cycle[1] ?? cycle[0]!]!) : p === names[cycle[1] ?? cycle[0]!]));
    problems.push({ path: [...job.origin, 'after', Math.max(0, i)], target: 'value', message: `jobs wait for each other in a cycle: ${path}` });
  }
  return out;
}

/** One cycle as job indexes in order (each waits for the next, the last for the first), or null. Iterative: a chain of 100,000 must not overflow the stack. */
function findCycle(names: readonly string[], deps: readonly string[][]): number[] | null {
  const index = new Map(names.map((n, i) => [n, i]));
  const edges = deps.map((d) => d.map((n) => index.get(n)!));
  const state = new Uint8Array(names.length); // 0 new, 1 on the path, 2 finished
  for (let root = 0; root < names.length; root++) {
    if (state[root] !== 0) continue;
    const stack: { node: number; next: number }[] = [{ node: root, next: 0 }];
    state[root] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.next < edges[top.node]!.length) {
        const to = edges[top.node]![top.next++]!;
        if (state[to] === 1) {
          const from = stack.findIndex((f) => f.node === to);
          return stack.slice(from).map((f) => f.node);
        }
        if (state[to] === 0) {
          state[to] = 1;
          stack.push({ node: to, next: 0 });
        }
      } else {
        state[top.node] = 2;
        stack.pop();
      }
    }
  }
  return null;
}
