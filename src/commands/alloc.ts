import { Command } from 'commander';
import { withHeadOptions, type HeadOptions } from '../head-options.js';

const list = withHeadOptions(
  new Command('list')
    .description("The allocation queues (admins): state, pilots with their batch-system job ids, the last error")
    .option('--json', 'print [{name, backend, max_pilots, paused, failures, last_error, retry_at, pilots: [{node, job_id, state, connected, ...}]}]'),
).action(async (opts: HeadOptions & { json?: boolean }) => {
  const { connect } = await import('../client.js');
  const { listQueues, formatQueues } = await import('../remote/alloc.js');
  const queues = await listQueues(connect(opts));
  process.stdout.write((opts.json ? JSON.stringify(queues, null, 2) : formatQueues(queues)) + '\n');
});

function pauseCommand(paused: boolean): Command {
  return withHeadOptions(
    new Command(paused ? 'pause' : 'resume')
      .description(paused ? 'Submit no more pilots to a queue (admins); pilots already out stay' : 'Submit pilots to a queue again (admins), its failures forgotten')
      .argument('<name>', 'the queue, as head.yaml names it'),
  ).action(async (name: string, opts: HeadOptions) => {
    const { connect } = await import('../client.js');
    const { setQueuePaused } = await import('../remote/alloc.js');
    const q = await setQueuePaused(connect(opts), name, paused);
    process.stdout.write(`allocation queue ${q.name} ${paused ? 'is paused' : 'submits pilots again'}\n`);
  });
}

export const command = new Command('alloc')
  .description('Allocation queues: pilots on Slurm that join the cluster and leave when idle (admins)')
  .addCommand(list)
  .addCommand(pauseCommand(true))
  .addCommand(pauseCommand(false))
  .exitOverride();
