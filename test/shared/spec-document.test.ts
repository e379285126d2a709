import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { checkBatchDocument } from '../../shared/spec/document.js';
import { parseBatch } from '../../shared/spec/parse.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { parseIn, yaml } from './spec-fixture.js';

/** The document as it reaches the head: through JSON. */
const overTheWire = (document: unknown): unknown => JSON.parse(JSON.stringify(document));

describe('a batch document (the YAML read into data, as add sends it)', () => {
  for (const name of ['python-batch.yaml', 'shell-batch.yaml', 'apptainer-batch.yaml']) {
    it(`${name}: the head builds from the document the batch the CLI built from the YAML`, () => {
      const file = relative(process.cwd(), join(REPO_ROOT, 'configs', name));
      const parsed = parseBatch(readFileSync(file, 'utf8'), { file, checkFiles: false });
      if (!parsed.ok) assert.fail(JSON.stringify(parsed.errors));
      const checked = checkBatchDocument(overTheWire(parsed.document), { file });
      if (!checked.ok) assert.fail(checked.problems.join('\n'));
      assert.deepEqual(checked.batch, parsed.batch);
    });
  }

  it('names the file and the field of every problem, without lines', () => {
    const r = checkBatchDocument(
      {
        meta: { batch_name: 'b', namespace: 'n', colour: 'red' },
        shell: { jobs: [{ name: 'x y', command: 'true' }, { name: 'ok', command: 'true', resources: { time: 'soon' } }] },
      },
      { file: 'sweep.yaml' },
    );
    assert.equal(r.ok, false);
    const problems = r.ok ? [] : r.problems;
    assert.equal(problems.length, 3, problems.join('\n'));
    assert.ok(problems[0]!.startsWith('sweep.yaml: meta.colour: unknown key "colour"'), problems[0]);
    assert.ok(problems[1]!.startsWith('sweep.yaml: shell.jobs[1].resources.time: "soon" is not a duration'), problems[1]);
    assert.ok(problems[2]!.startsWith('sweep.yaml: shell.jobs[0].name: job name not usable as a folder name'), problems[2]);
  });

  it('holds only what JSON carries: YAML .inf and .nan are refused wherever a number goes', () => {
    const r = parseIn(yaml(`
      meta: {batch_name: b, namespace: n, priority: .inf}
      shell:
        jobs:
          - name: "x{v}"
            command: "true"
            parameters: {v: [.nan, 1]}
            resources: {memory: .inf}
    `));
    assert.equal(r.ok, false);
    assert.deepEqual(!r.ok && r.errors.map((e) => e.path), ['meta.priority', 'shell.jobs[0].parameters.v[0]', 'shell.jobs[0].resources.memory']);
  });
});
