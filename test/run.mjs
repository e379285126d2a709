#!/usr/bin/env node
// Runs the test files under the given folders (default: test/) with Node's own runner.
// Node 20 does not expand globs for --test, so the files are listed here.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const roots = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const passThrough = process.argv.slice(2).filter((a) => a.startsWith('--'));
const skipDirs = new Set(['node_modules', 'bench', 'fixtures']);

function collect(dir, out) {
  let st;
  try { st = statSync(dir); } catch { return out; }
  if (st.isFile()) { if (dir.endsWith('.test.ts')) out.push(dir); return out; }
  for (const entry of readdirSync(dir).sort()) {
    if (skipDirs.has(entry)) continue;
    collect(join(dir, entry), out);
  }
  return out;
}

const files = (roots.length ? roots : ['test']).flatMap((r) => collect(r, [])).map((f) => relative(process.cwd(), f));
if (files.length === 0) {
  console.error('no test files found under', roots.length ? roots.join(' ') : 'test');
  process.exit(1);
}
// A test that hangs (a process that should have died, an event that never comes) fails
// after this long instead of holding the run until CI's own limit.
const timeout = passThrough.some((a) => a.startsWith('--test-timeout')) ? [] : ['--test-timeout=240000'];
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...timeout, ...passThrough, ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
