import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadBatch, readBatchIdentity } from '../../shared/spec/load.js';
import { DEFAULT_RESOURCES, type BatchSpec } from '../../shared/spec/types.js';
import { UserError } from '../../shared/errors.js';
import { batchFolder, parseIn, yaml } from './spec-fixture.js';
import { REPO_ROOT } from '../helpers/cli.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const configs = join(REPO_ROOT, 'configs');

function valid(text: string, files: Record<string, string> = {}, checkFiles = true): BatchSpec & { dir: string } {
  const r = parseIn(text, files, checkFiles);
  if (!r.ok) assert.fail(r.errors.map((e) => `${e.line}:${e.col}: ${e.path}: ${e.message}`).join('\n'));
  return { ...r.batch, dir: r.dir };
}

describe('the example batches', () => {
  it('python-batch.yaml: build file, expanded jobs, resources and slurm blocks', async () => {
    const b = await loadBatch(join(configs, 'python-batch.yaml'));
    const py = join(configs, 'python');
    assert.equal(b.kind, 'python');
    assert.deepEqual(b.meta, {
      batch_name: 're_sweep', namespace: 'examples', matrix: null, capabilities: ['python3'],
      priority: 0, sort: 'none', nodes: null, retries: 1, notify: ['end'],
    });
    assert.deepEqual(b.initialize, { kind: 'python', buildFile: { path: join(py, 'build.py'), alias: 'build.py' }, requiredFiles: [] });
    assert.deepEqual(b.jobs.map((j) => j.name), ['re_100', 're_200', 're_300', 're_100_long']);
    assert.deepEqual(b.jobs[1], {
      name: 're_200',
      file: { path: join(py, 'run.py'), alias: 'run.py' },
      command: null,
      requiredFiles: [{ path: join(py, 're_200.json'), alias: 'params.json' }],
      resources: { cpus: 2, memory: 512 * MiB, gpus: 0, time: 600 },
      nodes: null,
      retries: 1,
      slurm: { account: 'examples', partition: 'short' },
    });
    assert.deepEqual(b.jobs[3]!.resources, { cpus: 1, memory: GiB, gpus: 0, time: 3600 });
    assert.deepEqual(b.jobs[3]!.slurm, { account: 'examples', partition: 'long' });
    assert.deepEqual(b.slurm, { account: 'examples', partition: 'short' });
    assert.deepEqual(b.source, { file: join(configs, 'python-batch.yaml'), dir: configs });
  });

  it('shell-batch.yaml: initialize command, batch default resources, a 3×2 sweep', async () => {
    const b = await loadBatch(join(configs, 'shell-batch.yaml'));
    assert.equal(b.kind, 'shell');
    assert.deepEqual(b.initialize, { kind: 'shell', command: 'echo "prepared on $(uname -n)" > prepared.txt', requiredFiles: [] });
    assert.deepEqual(b.jobs.map((j) => j.name), ['hello', 'cat_build', 'square_1_a', 'square_1_b', 'square_2_a', 'square_2_b', 'square_3_a', 'square_3_b']);
    assert.deepEqual(b.jobs[0]!.resources, { cpus: 1, memory: null, gpus: 0, time: 300 });
    assert.deepEqual(b.jobs[1]!.resources, { cpus: 1, memory: null, gpus: 0, time: 30 });
    assert.equal(b.jobs[4]!.command, 'echo "a $(( 2 * 2 ))" > "$DISTRIBUTE_SAVE/square.txt"');
    assert.equal(b.jobs[0]!.file, null);
  });

  it('apptainer-batch.yaml: image, mounts, GPUs and a job slurm block', async () => {
    const b = await loadBatch(join(configs, 'apptainer-batch.yaml'));
    const dir = join(configs, 'apptainer');
    assert.deepEqual(b.initialize, {
      kind: 'apptainer',
      sif: { path: join(dir, 'solver.sif'), alias: 'solver.sif' },
      requiredFiles: [{ path: join(dir, 'mesh.dat'), alias: 'mesh.dat' }],
      requiredMounts: ['/scratch'],
    });
    assert.equal(b.meta.sort, 'gpus_runtime_memory');
    assert.deepEqual(b.jobs.map((j) => [j.name, j.resources]), [
      ['case_100', { cpus: 4, memory: 4 * GiB, gpus: 1, time: 7200 }],
      ['case_400', { cpus: 4, memory: 4 * GiB, gpus: 1, time: 7200 }],
      ['case_400_big', { cpus: 16, memory: 32 * GiB, gpus: 1, time: 86400 }],
    ]);
    assert.deepEqual(b.jobs[2]!.slurm, { gres: 'gpu:1', qos: 'long' });
    assert.deepEqual(b.jobs[0]!.requiredFiles, [{ path: join(dir, 'case_100.cfg'), alias: 'case.cfg' }]);
  });
});

describe('normalization', () => {
  it('fills every default of a minimal batch', () => {
    const b = valid(yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs: [{name: a, command: "true"}]
    `));
    assert.deepEqual(b.meta, {
      batch_name: 'b', namespace: 'ns', matrix: null, capabilities: [], priority: 0, sort: 'none', nodes: null, retries: 0, notify: ['end'],
    });
    assert.deepEqual(b.initialize, { kind: 'shell', command: null, requiredFiles: [] });
    assert.deepEqual(b.jobs, [{ name: 'a', file: null, command: 'true', requiredFiles: [], resources: DEFAULT_RESOURCES, nodes: null, retries: 0, slurm: {} }]);
    assert.deepEqual(b.slurm, {});
  });

  it('lays job resources over the batch default field by field', () => {
    const b = valid(yaml(`
      meta:
        batch_name: b
        namespace: ns
        resources: {cpus: 4, memory: 8G, time: 2h}
      shell:
        jobs:
          - {name: inherits, command: "true"}
          - {name: overrides, command: "true", resources: {memory: ~, time: 90, gpus: 2}}
    `));
    assert.deepEqual(b.jobs[0]!.resources, { cpus: 4, memory: 8 * GiB, gpus: 0, time: 7200 });
    assert.deepEqual(b.jobs[1]!.resources, { cpus: 4, memory: null, gpus: 2, time: 5400 });
  });

  it('reads sizes in binary units, case-insensitive, and a bare number as megabytes', () => {
    const sizes: [string, number][] = [['4g', 4 * GiB], ['4G', 4 * GiB], ['512M', 512 * MiB], ['1.5T', 1.5 * 1024 * GiB], ['2000', 2000 * MiB]];
    for (const [written, bytes] of sizes) {
      const b = valid(`meta: {batch_name: b, namespace: ns}\nshell:\n  jobs: [{name: a, command: x, resources: {memory: ${written}}}]\n`);
      assert.equal(b.jobs[0]!.resources.memory, bytes, written);
    }
  });

  it('reads durations as Slurm and ISO-8601 write them', () => {
    const times: [string, number][] = [['90s', 90], ['2h30m', 9000], ['"01:02:03"', 3723], ['1-00:00:00', 86400], ['PT2H', 7200], ['45', 2700]];
    for (const [written, seconds] of times) {
      const b = valid(`meta: {batch_name: b, namespace: ns}\nshell:\n  jobs: [{name: a, command: x, resources: {time: ${written}}}]\n`);
      assert.equal(b.jobs[0]!.resources.time, seconds, written);
    }
  });

  it('takes a bare string as a file, with its base name as alias, relative to the YAML folder', () => {
    const b = valid(
      yaml(`
        meta: {batch_name: b, namespace: ns}
        python:
          initialize:
            required_files: [data/mesh.dat]
          jobs:
            - name: a
              file: scripts/run.py
              required_files: [{path: data/p.json}, {path: data/p.json, alias: q.json}]
      `),
      { 'data/mesh.dat': 'm', 'scripts/run.py': '', 'data/p.json': '{}' },
    );
    assert.deepEqual(b.initialize, { kind: 'python', buildFile: null, requiredFiles: [{ path: join(b.dir, 'data/mesh.dat'), alias: 'mesh.dat' }] });
    assert.deepEqual(b.jobs[0]!.file, { path: join(b.dir, 'scripts/run.py'), alias: 'run.py' });
    assert.deepEqual(b.jobs[0]!.requiredFiles, [
      { path: join(b.dir, 'data/p.json'), alias: 'p.json' },
      { path: join(b.dir, 'data/p.json'), alias: 'q.json' },
    ]);
  });

  it('keeps absolute paths as they are', () => {
    const f = batchFolder('', { 'abs.txt': 'x' });
    try {
      const b = valid(`meta: {batch_name: b, namespace: ns}\nshell:\n  jobs: [{name: a, command: x, required_files: ["${join(f.dir, 'abs.txt')}"]}]\n`);
      assert.equal(b.jobs[0]!.requiredFiles[0]!.path, join(f.dir, 'abs.txt'));
    } finally {
      f.cleanup();
    }
  });

  it('lets a job override nodes and retries, and merges slurm blocks field by field', () => {
    const b = valid(yaml(`
      meta: {batch_name: b, namespace: ns, nodes: [ws1, ws2], retries: 2, priority: 5, matrix: "@me:example.org", notify: [first_failure]}
      shell:
        jobs:
          - {name: a, command: x}
          - {name: c, command: x, nodes: [ws3], retries: 0, slurm: {partition: gpu, time: "1:00:00", mem: 4G}}
      slurm: {partition: cpu, account: lab, extra_directives: ["--exclusive"], setup: [module load gcc]}
    `));
    assert.deepEqual([b.jobs[0]!.nodes, b.jobs[0]!.retries], [['ws1', 'ws2'], 2]);
    assert.deepEqual([b.jobs[1]!.nodes, b.jobs[1]!.retries], [['ws3'], 0]);
    assert.deepEqual(b.jobs[1]!.slurm, { partition: 'gpu', account: 'lab', extra_directives: ['--exclusive'], setup: ['module load gcc'], time: '1:00:00', mem: '4G' });
    assert.deepEqual(b.jobs[0]!.slurm, b.slurm);
    assert.equal(b.meta.priority, 5);
    assert.equal(b.meta.matrix, '@me:example.org');
    assert.deepEqual(b.meta.notify, ['first_failure']);
  });

  it('follows YAML anchors and aliases', () => {
    const b = valid(yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - {name: a, command: x, resources: &big {cpus: 8, memory: 16G}}
          - {name: c, command: y, resources: *big}
    `));
    assert.deepEqual(b.jobs[1]!.resources, { cpus: 8, memory: 16 * GiB, gpus: 0, time: null });
  });

  it('merges YAML merge keys (<<) into a job', () => {
    const b = valid(yaml(`
      meta: {batch_name: b, namespace: ns}
      shell:
        jobs:
          - &base {name: a, command: x, resources: {cpus: 2}, retries: 3}
          - <<: *base
            name: c
    `));
    assert.deepEqual(b.jobs.map((j) => [j.name, j.command, j.resources.cpus, j.retries]), [['a', 'x', 2, 3], ['c', 'x', 2, 3]]);
  });

  it('accepts missing files when file checks are off, with absolute paths still resolved', () => {
    const b = valid(
      yaml(`
        meta: {batch_name: b, namespace: ns}
        apptainer:
          initialize: {sif: image.sif}
          jobs: [{name: a, required_files: [in.txt]}]
      `),
      {},
      false,
    );
    assert.equal(b.initialize.kind === 'apptainer' && b.initialize.sif.path, join(b.dir, 'image.sif'));
    assert.equal(b.jobs[0]!.requiredFiles[0]!.path, join(b.dir, 'in.txt'));
  });
});

describe('loadBatch', () => {
  it('throws a UserError with exit code 2 whose lines are FILE:LINE:COL: path: message', async () => {
    const f = batchFolder('meta: {batch_name: b, namespace: ns}\nshell:\n  jobs: [{name: a, command: x, resources: {cpus: 0}}]\n');
    try {
      await assert.rejects(loadBatch(f.file), (err: unknown) => {
        assert.ok(err instanceof UserError);
        assert.equal(err.exitCode, 2);
        assert.match(err.message, new RegExp(`^${f.file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:3:50: shell\\.jobs\\[0\\]\\.resources\\.cpus: must be at least 1`, 'm'));
        return true;
      });
    } finally {
      f.cleanup();
    }
  });

  it('says so when the file does not exist', async () => {
    await assert.rejects(loadBatch('/nonexistent/batch.yaml'), (err: unknown) => err instanceof UserError && err.exitCode === 2 && /no such file/.test(err.message));
  });

  it('reads the identity of a batch whose files are elsewhere', async () => {
    const f = batchFolder('meta: {batch_name: b1, namespace: ns1}\npython:\n  jobs: [{name: a, file: gone.py}]\n');
    try {
      await assert.rejects(loadBatch(f.file), /no such file \.\/gone\.py/);
      assert.deepEqual(await readBatchIdentity(f.file), { namespace: 'ns1', batch_name: 'b1' });
    } finally {
      f.cleanup();
    }
  });
});
