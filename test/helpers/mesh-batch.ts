// The batch of the dependency tests: mesh -> solve_{re} (after: [mesh]) -> finalize writing a table.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const RES = [100, 200, 400, 800, 1600, 3200, 6400, 12800];

/**
 * mesh -> solve_{re} (after: [mesh]) -> finalize writing a table. `failUnless`: mesh fails
 * while this file does not exist; `hold`: mesh waits for this file to exist before it ends.
 */
export function meshBatch(dir: string, name: string, opts: { failUnless?: string; hold?: string } = {}): string {
  const file = join(dir, `${name}.yaml`);
  const gate = opts.failUnless ? `test -f ${opts.failUnless} || exit 3; ` : '';
  const hold = opts.hold ? `while [ ! -f ${opts.hold} ]; do sleep 0.05; done; ` : '';
  const meshCommand = `${gate}${hold}echo mesh > "$DISTRIBUTE_SAVE/mesh.txt"; date +%s%N > "$DISTRIBUTE_SAVE/ended"`;
  writeFileSync(
    file,
    [
      'meta:',
      `  batch_name: ${name}`,
      '  namespace: deps',
      'shell:',
      '  jobs:',
      '    - name: mesh',
      `      command: ${JSON.stringify(meshCommand)}`,
      '    - name: solve_{re}',
      `      parameters: {re: [${RES.join(', ')}]}`,
      '      after: [mesh]',
      `      command: 'date +%s%N > "$DISTRIBUTE_SAVE/started"; echo "{re} $(( {re} / 100 ))" > "$DISTRIBUTE_SAVE/value.txt"'`,
      'finalize:',
      '  command: |',
      '    for f in "$DISTRIBUTE_INPUT"/results/solve_*/value.txt; do [ -f "$f" ] && cat "$f"; done | sort -n > "$DISTRIBUTE_SAVE/table.tsv"',
      '    echo "done=$DISTRIBUTE_JOBS_DONE failed=$DISTRIBUTE_JOBS_FAILED" > "$DISTRIBUTE_SAVE/summary.txt"',
      '    ls "$DISTRIBUTE_INPUT/results" > "$DISTRIBUTE_SAVE/seen.txt"',
      '',
    ].join('\n'),
  );
  return file;
}

/** The table the finalize step wrote, as a puller finds it. */
export function expectedTable(): string {
  return RES.map((re) => `${re} ${re / 100}\n`).join('');
}

