// Starter batch files (`distribute template python|apptainer|shell`). Each validates as
// written once the files it names sit beside it: the shell starter names none, and with
// `--output` the python and apptainer starters are written with their companion files
// (scripts, inputs, a placeholder image and its definition) and `batch.schema.json`.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { batchJsonSchema } from './schema.js';
import type { JobKind } from './types.js';

export interface Template {
  yaml: string;
  /** files the YAML names, relative to its folder → their starter content */
  files: Record<string, string>;
}

const HEADER = `# yaml-language-server: $schema=batch.schema.json
# (editors complete and check this file with it: distribute schema --output batch.schema.json)
`;

const META = (name: string, caps: string) => `meta:
  batch_name: ${name}            # unique within the namespace; letters, digits, . _ -
  namespace: my_project           # claimed by the first user who adds a batch to it
  matrix: ~                       # or "@you:example.org" to be told when the batch ends
  capabilities: [${caps}]        # a node runs these jobs only if it has every one
  # priority: 0                   # higher runs first
  # retries: 0                    # re-runs after a non-zero exit
  resources:                      # default for every job; a job may override any field
    cpus: 1                       # passed to the job (python: argv[1])
    memory: 1G                    # binary units: 512M, 8G; leave out for no reservation
    time: 30m                     # 90s, 2h30m, HH:MM:SS, D-HH:MM:SS, PT2H; leave out for none
`;

const SHELL: Template = {
  yaml: `${HEADER}
# A shell batch: every job is a command run by /bin/sh -c in its own folder, with
# $DISTRIBUTE_SAVE (archived results), $DISTRIBUTE_INPUT (required files), $DISTRIBUTE_BUILD,
# $DISTRIBUTE_JOB_NAME and $DISTRIBUTE_CPUS set.
${META('my_shell_batch', 'shell')}
shell:
  initialize:                     # optional: runs once per node before its first job
    command: echo "ready" > ready.txt
    # required_files: [{path: data.csv, alias: data.csv}]
  jobs:
    - name: first
      command: echo "hello from $DISTRIBUTE_JOB_NAME" > "$DISTRIBUTE_SAVE/hello.txt"
    # one entry, four jobs (size_1_a, size_1_b, size_2_a, size_2_b): {placeholders} are filled
    # in the name, command and file paths; "parameter_mode: zip" pairs the lists instead
    - name: size_{size}_{variant}
      parameters: {size: [1, 2], variant: [a, b]}
      command: echo "{variant}" | head -c {size} > "$DISTRIBUTE_SAVE/out.txt"
      resources: {time: 5m}
`,
  files: {},
};

const PYTHON: Template = {
  yaml: `${HEADER}
# A python batch: build.py runs once per node (in $DISTRIBUTE_BUILD), then every job runs
# \`python3 run.py <cpus>\` with its required files in input/ under their alias. Paths are
# relative to this file's folder.
${META('my_python_batch', 'python3')}
python:
  initialize:
    build_file: build.py
    # required_files: [{path: mesh.dat, alias: mesh.dat}]
  jobs:
    - name: case_{case}           # three jobs: case_1, case_2, case_3
      parameters: {case: [1, 2, 3]}
      file: run.py
      required_files:
        - {path: "params_{case}.json", alias: params.json}   # quoted: { starts a YAML map
      resources: {cpus: 2}
`,
  files: {
    'build.py': `# Runs once per node before the first job, in the build folder (jobs see it as $DISTRIBUTE_BUILD).
print("nothing to build yet")
`,
    'run.py': `# One job: python3 run.py <cpus>. Inputs are in $DISTRIBUTE_INPUT; write results to $DISTRIBUTE_SAVE.
import json, os, sys

cpus = int(sys.argv[1])
with open(os.path.join(os.environ["DISTRIBUTE_INPUT"], "params.json")) as f:
    params = json.load(f)
with open(os.path.join(os.environ["DISTRIBUTE_SAVE"], "result.json"), "w") as f:
    json.dump({"job": os.environ["DISTRIBUTE_JOB_NAME"], "cpus": cpus, "params": params}, f)
`,
    'params_1.json': '{"case": 1}\n',
    'params_2.json': '{"case": 2}\n',
    'params_3.json': '{"case": 3}\n',
  },
};

const APPTAINER: Template = {
  yaml: `${HEADER}
# An apptainer batch: the image is sent to each node once; every job runs
# \`apptainer run --nv --app distribute --bind input:/input,distribute_save:/distribute_save image.sif <cpus>\`.
# container.sif is a placeholder: build the real one with
#   apptainer build container.sif container.def
${META('my_apptainer_batch', 'apptainer')}
apptainer:
  initialize:
    sif: container.sif
    required_files: []            # files every job finds in /input
    required_mounts: [/scratch]   # absolute paths in the container, each an empty folder
  jobs:
    - name: case_{case}
      parameters: {case: [1, 2]}
      required_files:
        - {path: "case_{case}.txt", alias: case.txt}
      # resources: {gpus: 1}
      # slurm: {partition: gpu, gres: "gpu:1"}
`,
  files: {
    'container.sif': 'placeholder: build the real image with `apptainer build container.sif container.def`\n',
    'container.def': `Bootstrap: docker
From: debian:bookworm-slim

%apprun distribute
    # $1 is the number of cpus; inputs are in /input, results go to /distribute_save
    cp /input/case.txt /distribute_save/
`,
    'case_1.txt': 'case 1\n',
    'case_2.txt': 'case 2\n',
  },
};

export const TEMPLATES: Record<JobKind, Template> = { python: PYTHON, apptainer: APPTAINER, shell: SHELL };

export function templateFor(kind: string): Template {
  if (!Object.hasOwn(TEMPLATES, kind)) throw new UserError(`no template "${kind}"; choose python, apptainer or shell`);
  return TEMPLATES[kind as JobKind];
}

/**
 * Writes the starter YAML to `output`, its companion files and batch.schema.json beside it.
 * Refuses to overwrite the YAML unless `force`; existing companion files are kept as they are.
 * Returns the files written.
 */
export async function writeTemplate(kind: string, output: string, opts: { force?: boolean } = {}): Promise<string[]> {
  const template = templateFor(kind);
  const target = resolve(output);
  if (existsSync(target) && !opts.force) throw new UserError(`${output} exists; pass --force to overwrite it`);
  const dir = dirname(target);
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  const companions = { ...template.files, 'batch.schema.json': JSON.stringify(batchJsonSchema(), null, 2) + '\n' };
  for (const [name, content] of Object.entries(companions)) {
    const path = join(dir, name);
    if (existsSync(path) && path !== target) continue;
    await writeFile(path, content);
    written.push(path);
  }
  await writeFile(target, template.yaml);
  written.unshift(target);
  return written;
}
