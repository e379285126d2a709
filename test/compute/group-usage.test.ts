// Usage without a cgroup: a job in its process group alone (containment: process-group, or
// `distribute run`) still reports CPU time and peak memory, sampled from /proc; /proc's own
// count of the same processes is the witness.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAttempt } from '../../compute/runner.js';
import { tempDir } from '../helpers/cli.js';
import { batchOf, shellJob } from './support.js';

describe('usage from the process group where there is no cgroup', () => {
  const t = tempDir();
  after(() => t.cleanup());

  it('reports the CPU time of a busy loop in a child and the memory a child touched', async () => {
    // a child burns ~1.5 s of CPU, reaped by the job's shell (its time moves into the shell's cutime),
    // then another child holds 150 MB resident for a second
    const busy = 'python3 -c "import time; t = time.process_time(); [0 for _ in iter(lambda: time.process_time() - t < 1.5, False)]"';
    const fat = 'python3 -c "import time; a = b\'x\' * (150 * 1024 * 1024); time.sleep(1)"';
    const job = shellJob('j', `${busy}; ${fat}`);
    const a = startAttempt({ batch: batchOf([job]), job, attempt: 1, workDir: join(t.dir, 'w'), node: 'n', cpus: 1, gpus: null, inputs: [], jobFile: null });
    const r = await a.done;
    assert.equal(r.success, true, JSON.stringify(r));
    const cpu = r.usage.cpu_seconds!;
    // ~1.5 s busy plus the interpreters' start; the last quarter second may be missed
    assert.ok(cpu >= 1.3 && cpu < 2.6, `cpu_seconds ${cpu}`);
    const peak = r.usage.peak_memory_bytes!;
    assert.ok(peak >= 150 * 1024 ** 2 && peak < 200 * 1024 ** 2, `peak ${peak}`);
    const written = JSON.parse(readFileSync(join(a.paths.meta, 'result.json'), 'utf8')) as { usage: { cpu_seconds: number } };
    assert.equal(written.usage.cpu_seconds, cpu);
  });
});
