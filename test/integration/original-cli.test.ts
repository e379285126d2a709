// The original distribute's spellings against a real cluster: a folder holding
// distribute-jobs.yaml in the original's format, added with no file named, watched with
// `server-status`/`node-status`, reached with `--ip`, pulled with the `include`/`exclude` forms
// (regexes over `<namespace>/<batch>/<job>/<file>`), and `pause 4h` at the node.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { TestCluster } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';

/** Every file under `dir`, relative, sorted. */
function filesUnder(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]))
    .sort();
}

const BATCH = `---
meta:
  batch_name: cases
  namespace: openfoam
  matrix: ~
  capabilities: [python3]
python:
  initialize:
    build_file:
      path: build.py
    required_files: []
  jobs:
    - name: case1
      file:
        path: run.py
      required_files:
        - path: case1.json
          alias: case.json
      slurm: ~
    - name: case2
      file:
        path: run.py
      required_files:
        - path: case2.json
          alias: case.json
      slurm: ~
slurm: ~
`;

const RUN = `import json, os
with open("input/case.json") as f:
    case = json.load(f)
with open(os.path.join("distribute_save", "field.csv"), "w") as f:
    f.write("re,%d\\n" % case["re"])
print("ran", case["re"])
`;

describe('the original distribute\'s command line', () => {
  let c: TestCluster;
  let folder: string;
  let sock: string;
  before(async () => {
    c = await TestCluster.start();
    sock = join(c.root, 'control.sock');
    await c.startNode({ name: 'ws1', capabilities: ['python3'], cpus: 2, config: { control_socket: sock } });
    folder = join(c.root, 'project');
    mkdirSync(folder);
    writeFileSync(join(folder, 'distribute-jobs.yaml'), BATCH);
    writeFileSync(join(folder, 'build.py'), 'print("nothing to build")\n');
    writeFileSync(join(folder, 'run.py'), RUN);
    writeFileSync(join(folder, 'case1.json'), '{"re": 100}');
    writeFileSync(join(folder, 'case2.json'), '{"re": 200}');
  });
  after(async () => c?.stop());

  it('adds distribute-jobs.yaml when no file is named', async () => {
    const r = await c.cli(['add'], { cwd: folder });
    assert.equal(r.code, 0, r.stderr);
    await c.head.events('result_archived', 2, () => true, 60_000);
  });

  it('answers server-status as status and node-status as nodes', async () => {
    const status = await c.cli(['server-status', '--json']);
    assert.equal(status.code, 0, status.stderr);
    const batches = JSON.parse(status.stdout) as { batch_name: string; counts: { done: number } }[];
    assert.deepEqual(batches.map((b) => [b.batch_name, b.counts.done]), [['cases', 2]]);
    const nodes = await c.cli(['node-status', '--json']);
    assert.equal(nodes.code, 0, nodes.stderr);
    assert.deepEqual((JSON.parse(nodes.stdout) as { name: string }[]).map((n) => n.name), ['ws1']);
  });

  it('reaches the head with --ip HOST --port N instead of --head', async () => {
    const port = new URL(c.url).port;
    const env = { ...c.env(await c.user('alice')), DISTRIBUTE_HEAD: '' };
    const r = await runCli(['server-status', '--ip', '127.0.0.1', '--port', port, '--json'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as unknown[]).length, 1);
    const wrongPort = await runCli(['server-status', '--ip', '127.0.0.1', '--json'], { env });
    assert.notEqual(wrongPort.code, 0);
    assert.match(wrongPort.stderr, /ws:\/\/127\.0\.0\.1:8952/);
  });

  it('pull distribute-jobs.yaml include --include case1 pulls only that job', async () => {
    const save = join(c.root, 'pulled-include');
    const r = await c.cli(['pull', 'distribute-jobs.yaml', '--save-dir', save, 'include', '--include', 'case1'], { cwd: folder });
    assert.equal(r.code, 0, r.stderr);
    const files = filesUnder(join(save, 'cases'));
    assert.ok(files.includes('case1/field.csv'), files.join(' '));
    assert.ok(files.every((f) => f.startsWith('case1/')), files.join(' '));
  });

  it('matches the include regexes against <namespace>/<batch>/<job>/<file>, as the original did', async () => {
    const save = join(c.root, 'pulled-whole');
    const r = await c.cli(['pull', '--save-dir', save, 'include', '--include', '^openfoam/cases/case2/field'], { cwd: folder });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(filesUnder(join(save, 'cases')), ['case2/field.csv']);
    // without the form, rules see <job>/<file>, so the same regex selects nothing
    const plain = await c.cli(['pull', '--dry', '--json', '--include', '^openfoam/cases/case2/field'], { cwd: folder });
    assert.equal(plain.code, 0, plain.stderr);
    assert.deepEqual((JSON.parse(plain.stdout) as { members: unknown[] }).members, []);
  });

  it('pull exclude --exclude case1 pulls everything else', async () => {
    const save = join(c.root, 'pulled-exclude');
    const r = await c.cli(['pull', '--save-dir', save, 'exclude', '--exclude', 'case1'], { cwd: folder });
    assert.equal(r.code, 0, r.stderr);
    const files = filesUnder(join(save, 'cases'));
    assert.ok(files.includes('case2/field.csv'), files.join(' '));
    assert.ok(files.every((f) => f.startsWith('case2/')), files.join(' '));
  });

  it('refuses a form given the other form\'s flag', async () => {
    const r = await c.cli(['pull', 'include', '--exclude', 'x'], { cwd: folder });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /the include form takes --include patterns only/);
  });

  it('pauses the node for a duration given as `pause 4h`', async () => {
    const r = await runCli(['pause', '4h', '--socket', sock, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const status = JSON.parse(r.stdout) as { paused: boolean; until: string | number | null };
    assert.equal(status.paused, true);
    const until = typeof status.until === 'number' ? status.until : Date.parse(String(status.until));
    const hours = (until - Date.now()) / 3_600_000;
    assert.ok(hours > 3.9 && hours <= 4, `${hours} h`);
    assert.equal((await runCli(['resume', '--socket', sock])).code, 0);
  });
});
