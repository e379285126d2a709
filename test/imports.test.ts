// The import rules of docs/architecture.md (Folders), checked over the sources as written:
// no file imports itself back through others (type-only imports count: they tie two files
// as tightly when read), head/ and compute/ never import each other, and shared/ imports
// nothing of ours outside itself. Dynamic `import()` (the CLI's lazily loaded commands) is
// not a static edge and is not counted.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FOLDERS = ['head', 'compute', 'shared', 'src'];

function sources(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (entry.endsWith('.ts') && !entry.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

// `import … from '…'`, `import '…'`, `export … from '…'`, across lines; comments are removed first
const STATIC = /(?:^|[;\n])\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/g;

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/** The relative imports of a file, as repository paths (`.js` mapped back to `.ts`). */
export function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of stripComments(text).matchAll(STATIC)) {
    const spec = m[1]!;
    if (!spec.startsWith('.')) continue;
    out.push(relative(ROOT, resolve(dirname(file), spec.replace(/\.js$/, '.ts'))));
  }
  return out;
}

/** Every cycle's files, one list per strongly connected component of more than one file (or a self-import). */
export function cycles(graph: Map<string, string[]>): string[][] {
  // Tarjan's algorithm
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return found;
}

function graphOfSources(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const folder of FOLDERS) {
    for (const file of sources(join(ROOT, folder))) graph.set(relative(ROOT, file), importsOf(file, readFileSync(file, 'utf8')));
  }
  return graph;
}

const top = (path: string) => path.split('/')[0]!;

describe('imports', () => {
  const graph = graphOfSources();

  it('reads the imports of every source file', () => {
    assert.ok(graph.size > 100, `${graph.size} files`);
    assert.ok(graph.get('head/daemon.ts')!.includes('head/store.ts'));
    for (const [file, deps] of graph) for (const d of deps) assert.ok(graph.has(d), `${file} imports ${d}, which is not a source file`);
  });

  it('finds a cycle when there is one (the checker checks)', () => {
    const g = new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']]]);
    assert.deepEqual(cycles(g), [['a.ts', 'b.ts', 'c.ts']]);
    assert.deepEqual(importsOf(join(ROOT, 'head/x.ts'), "import type { A } from './y.js';\nexport { b } from '../shared/z.js';\n// import { c } from './no.js'\nimport './side.js';"), [
      'head/y.ts', 'shared/z.ts', 'head/side.ts',
    ]);
  });

  it('has no import cycles between files', () => {
    const found = cycles(graph);
    assert.deepEqual(found, [], `cycles:\n${found.map((c) => `  ${c.join(' -> ')}`).join('\n')}`);
  });

  it('keeps head/ and compute/ apart, and shared/ to itself', () => {
    const leaks: string[] = [];
    for (const [file, deps] of graph) {
      for (const d of deps) {
        const [from, to] = [top(file), top(d)];
        if ((from === 'head' && to === 'compute') || (from === 'compute' && to === 'head') || (from === 'shared' && to !== 'shared')) leaks.push(`${file} -> ${d}`);
      }
    }
    assert.deepEqual(leaks, []);
  });

  it('keeps src/ (the CLI) off the daemons except where it runs them', () => {
    // the CLI starts the daemons (`head`, `compute`, `up`, `token create` on the head host),
    // but its client side talks to the head only through shared/
    const leaks: string[] = [];
    for (const [file, deps] of graph) {
      if (!/^src\/(client|remote\/|control)/.test(file)) continue;
      for (const d of deps) if (top(d) === 'head' || top(d) === 'compute') leaks.push(`${file} -> ${d}`);
    }
    assert.deepEqual(leaks, []);
  });
});
