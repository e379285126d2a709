// The API table is the one list of routes: the head serves every entry and nothing else, each
// path built by `pathFor` comes back to the same entry with the same params, and no code
// outside the table spells an API path.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { API, NODE_PATH, matchPath, pathFor, patternOf, type ApiEntry, type ApiName } from '../../shared/protocol/http-api.js';
import { HANDLERS, ROUTES } from '../../head/routes.js';

const entries = Object.entries(API) as [ApiName, ApiEntry][];
const paramNames = (e: ApiEntry) => [...e.path.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);

describe('the HTTP API table', () => {
  it('has a handler for every entry, and the head serves exactly the entries', () => {
    assert.deepEqual(Object.keys(HANDLERS).sort(), Object.keys(API).sort());
    for (const [name] of entries) assert.equal(typeof HANDLERS[name].handle, 'function', `${name} has no handler`);
    assert.deepEqual(ROUTES.map((r) => r.name), Object.keys(API));
    for (const r of ROUTES) {
      const e = API[r.name as ApiName];
      assert.equal(r.entry, e, `route ${r.name} is not its table entry`);
      assert.equal(r.pattern.source, patternOf(e).source);
    }
  });

  it('names each method and path once, and every route of a method matches only its own paths', () => {
    const seen = new Set<string>();
    for (const [name, e] of entries) {
      const key = `${e.method} ${e.path.replace(/:[A-Za-z_]\w*/g, ':')}`;
      assert.ok(!seen.has(key), `${name}: ${key} is in the table twice`);
      seen.add(key);
      assert.match(e.path, /^\/(v1\/|metrics$)/, `${name}: ${e.path}`);
      assert.ok(e.does.length > 0);
      assert.notEqual(e.path, NODE_PATH);
      // a JSON answer has a schema; a streamed request is a PUT of bytes
      if (e.request === 'stream') assert.equal(e.method, 'PUT', name);
      if (e.method === 'GET') assert.equal(e.request, 'none', `${name}: a GET has no body`);
    }
  });

  it('brings every path pathFor builds, hostile params too, back to its entry with the same params', () => {
    const values = ['lab', 'a b', 'x/y', '..', '%41', 'ü/?#&=', "'\"<>"];
    for (const [name, e] of entries) {
      const names = paramNames(e);
      for (const v of values) {
        const params = Object.fromEntries(names.map((n, i) => [n, `${v}${i}`]));
        // a param with its own pattern gets a value of that pattern
        for (const n of names) if (e.params && (e.params as Record<string, string>)[n]) params[n] = '12345';
        const path = pathFor(e, params as never).split('?')[0]!;
        assert.deepEqual(matchPath(e, path), params, `${name} with ${JSON.stringify(params)}: ${path}`);
        // the server takes the first route of the method whose path matches: it must be this one
        const first = ROUTES.find((r) => r.entry.method === e.method && matchPath(r.entry, path, r.pattern));
        assert.equal(first?.name, name, `${e.method} ${path} reaches ${first?.name}, not ${name}`);
      }
    }
  });

  it('appends only the query values set, encoded', () => {
    assert.equal(pathFor(API.status, {}, { namespace: 'lab', batch: undefined }), '/v1/status?namespace=lab');
    assert.equal(pathFor(API.status, {}), '/v1/status');
    assert.equal(pathFor(API.logs, { ns: 'a', batch: 'b', job: 'c d' }, { stream: 'stderr', follow: '1' }), '/v1/logs/a/b/c%20d?stream=stderr&follow=1');
  });

  it('keeps a param to its pattern: a finalize attempt is digits', () => {
    assert.deepEqual(matchPath(API.finalizeResults, '/v1/finalize/42'), { attempt: '42' });
    assert.equal(matchPath(API.finalizeResults, '/v1/finalize/4x'), null);
    assert.equal(matchPath(API.finalizeResults, '/v1/finalize/1234567890123456'), null);
    assert.equal(matchPath(API.kill, '/v1/batches/a%zz/b/kill'), null, 'malformed percent-encoding is no route');
  });

  it('is the only place that spells an API path: no "/v1/..." string in the code outside it', () => {
    const root = join(import.meta.dirname, '..', '..');
    // the dashboard's own routes (its page and streams, served before the API) are its own
    const allowed = new Set(['shared/protocol/http-api.ts', 'head/dashboard/index.ts']);
    const found: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const file = join(dir, name);
        if (statSync(file).isDirectory()) walk(file);
        else if (name.endsWith('.ts') && !allowed.has(relative(root, file))) {
          readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
            const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '');
            if (/['"`]\/(v1\/|metrics['"`])/.test(code)) found.push(`${relative(root, file)}:${i + 1}: ${line.trim()}`);
          });
        }
      }
    };
    for (const dir of ['head', 'compute', 'shared', 'src']) walk(join(root, dir));
    assert.deepEqual(found, []);
  });
});
