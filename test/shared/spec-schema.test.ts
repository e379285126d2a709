import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { batchJsonSchema } from '../../shared/spec/schema.js';
import { TEMPLATES } from '../../shared/spec/templates.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { checkJsonSchema } from './spec-jsonschema.js';

const schema = batchJsonSchema();
const examples = ['shell-batch.yaml', 'python-batch.yaml', 'apptainer-batch.yaml'];
const read = (name: string) => readFileSync(join(REPO_ROOT, 'configs', name), 'utf8');

describe('the JSON Schema of batch files', () => {
  it('is the one committed beside the examples (configs/batch.schema.json)', () => {
    assert.deepEqual(JSON.parse(read('batch.schema.json')), schema);
  });

  it('is pointed at by every example', () => {
    for (const name of examples) assert.match(read(name), /^# yaml-language-server: \$schema=\.\/batch\.schema\.json\n/, name);
  });

  it('accepts the examples and the templates', () => {
    for (const name of examples) assert.deepEqual(checkJsonSchema(schema, parse(read(name))), [], name);
    for (const [kind, t] of Object.entries(TEMPLATES)) assert.deepEqual(checkJsonSchema(schema, parse(t.yaml)), [], kind);
  });

  it('rejects a misspelt key, a misspelt kind, a bad value and an unsafe name', () => {
    const base = parse(read('python-batch.yaml')) as { python: { jobs: Record<string, unknown>[] }; meta: Record<string, unknown> };
    const typo = structuredClone(base);
    typo.python.jobs[0]!.reqired_files = typo.python.jobs[0]!.required_files;
    delete typo.python.jobs[0]!.required_files;
    assert.deepEqual(checkJsonSchema(schema, typo), ['.python.jobs[0]: unknown key reqired_files']);

    const { python, ...rest } = structuredClone(base);
    const kind = { ...rest, pyhton: python };
    assert.ok(checkJsonSchema(schema, kind).includes(': unknown key pyhton'));

    const cpus = structuredClone(base);
    (cpus.python.jobs[0]!.resources as Record<string, unknown>).cpus = 0;
    assert.deepEqual(checkJsonSchema(schema, cpus), ['.python.jobs[0].resources.cpus: matches none of anyOf']);
    (cpus.python.jobs[0]!.resources as Record<string, unknown>).cpus = 'all';
    assert.deepEqual(checkJsonSchema(schema, cpus), []);

    const name = structuredClone(base);
    name.meta.namespace = '../up';
    assert.deepEqual(checkJsonSchema(schema, name), ['.meta.namespace: does not match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$']);
  });
});
