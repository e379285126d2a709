import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../../shared/errors.js';
import { parseJobResources } from '../../../src/transpile/job-resources.js';
import { checkSlurmFlags } from '../../../src/transpile/slurm/options.js';
import { checkPbsFlags } from '../../../src/transpile/pbs/options.js';

function refused(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.equal(err.exitCode, 2);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('--job-resources parsing', () => {
  it('reads key=value pairs separated by commas', () => {
    assert.deepEqual(parseJobResources(['cpus_per_task=4,mem=8G,time=2h']), { cpus_per_task: '4', mem: '8G', time: '2h' });
  });
  it('lets a value hold commas: a piece without = continues the previous value', () => {
    assert.deepEqual(parseJobResources(['mail_type=END,FAIL,nodelist=n[1-3],n7,time=1h']), { mail_type: 'END,FAIL', nodelist: 'n[1-3],n7', time: '1h' });
  });
  it('reads a JSON object', () => {
    assert.deepEqual(parseJobResources(['{"cpus_per_task": 4, "partition": "gpu"}']), { cpus_per_task: 4, partition: 'gpu' });
  });
  it('merges repeated flags, the later winning', () => {
    assert.deepEqual(parseJobResources(['mem=1G,time=1h', 'mem=2G']), { mem: '2G', time: '1h' });
  });
  it('refuses a first piece without =, bad JSON and non-scalar JSON values', () => {
    refused(() => parseJobResources(['gpu']), /"gpu" is not key=value/);
    refused(() => parseJobResources(['{"mem": }']), /not valid JSON/);
    refused(() => parseJobResources(['{"gres": ["gpu:1"]}']), /gres: must be a string or a number/);
  });
});

describe('Slurm keys', () => {
  it('accepts every key the issue lists', () => {
    const all = {
      constraint: 'avx2', cpus_per_task: '4', exclude: 'n1', gres: 'gpu:a100:1', mem: '8g', nice: '-5', ntasks: '1', ntasks_per_node: '1',
      nodelist: 'n[1-3]', partition: 'gpu', reservation: 'r1', time: '1-12:00:00', account: 'lab', hint: 'NoMultiThread', job_name: 'sweep',
      mail_type: 'end,fail', mail_user: 'me@example.org', mem_per_cpu: '2048', nodes: '1-2', output: 'out-%j.txt', qos: 'normal',
    };
    const checked = checkSlurmFlags(all);
    assert.equal(Object.keys(checked).length, Object.keys(all).length);
    assert.equal(checked.mem, '8G');
    assert.equal(checked.mem_per_cpu, '2G');
    assert.equal(checked.time, String(36 * 3600));
    assert.equal(checked.hint, 'nomultithread');
    assert.equal(checked.mail_type, 'END,FAIL');
    assert.equal(checked.nice, '-5');
  });
  it('refuses an unknown key with the list of allowed keys', () => {
    refused(() => checkSlurmFlags({ cpus: '4' }), /unknown key "cpus"; allowed keys: account, array_limit, batch_size, constraint, cpus_per_task, exclude, gres, hint, job_name, mail_type, mail_user, mem, mem_per_cpu, nice, nodelist, nodes, ntasks, ntasks_per_node, output, partition, qos, reservation, time$/m);
  });
  it('checks values: memory units, time formats, counts, lists', () => {
    refused(() => checkSlurmFlags({ mem: '8Q' }), /mem: "8Q" is not a size/);
    refused(() => checkSlurmFlags({ time: '2 hours' }), /time: "2 hours" is not a duration/);
    refused(() => checkSlurmFlags({ time: '0' }), /no time at all/);
    refused(() => checkSlurmFlags({ cpus_per_task: '0' }), /cpus_per_task: "0" must be a whole number of at least 1/);
    refused(() => checkSlurmFlags({ nodes: '3-1' }), /nodes:/);
    refused(() => checkSlurmFlags({ mail_type: 'END,SOMETIMES' }), /mail_type: "SOMETIMES" must be one of/);
    refused(() => checkSlurmFlags({ gres: 'gpu 2' }), /gres:/);
  });
  it('refuses values that would break out of a directive line', () => {
    refused(() => checkSlurmFlags({ partition: 'a\n#SBATCH --x' }), /partition: .* must not contain spaces/);
    refused(() => checkSlurmFlags({ job_name: '$(reboot)' }), /job_name:/);
  });
  it('reports every problem at once', () => {
    assert.throws(() => checkSlurmFlags({ mem: 'x', time: 'y', bogus: 1 }), (err: Error) => err.message.split('\n').length === 3);
  });
});

describe('PBS keys', () => {
  it('takes queue and walltime, sizes in PBS units', () => {
    assert.deepEqual(checkPbsFlags({ queue: 'workq', walltime: '90m', mem: '1536M' }), { queue: 'workq', walltime: '5400', mem: '1536mb' });
  });
  it('refuses Slurm keys with the PBS list', () => {
    refused(() => checkPbsFlags({ partition: 'gpu' }), /unknown key "partition"; allowed keys: account, array_limit, batch_size, job_name, mem, ncpus, ngpus, place, queue, walltime/);
  });
});
