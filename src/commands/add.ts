import { Command } from 'commander';
import { withHeadOptions } from '../head-options.js';

interface AddOptions {
  dry?: boolean;
  showCaps?: boolean;
  json?: boolean;
  head?: string;
  token?: string;
}

export const command = withHeadOptions(
  new Command('add')
    .description('Validate a batch, upload its files and queue its jobs on the head')
    .argument('[batch.yaml]', 'the batch file', 'distribute-jobs.yaml')
    .option('-d, --dry', 'validate here and on the head, upload the files the head lacks, queue nothing')
    .option('-s, --show-caps', 'also list the capabilities of every node the head knows')
    .option('--json', 'print the head\'s answer as JSON'),
)
  .exitOverride()
  .action(async (file: string, opts: AddOptions) => {
    const { connect } = await import('../client.js');
    const { prepareAdd, sendAdd, describeAdd } = await import('../remote/add.js');
    const { API } = await import('../../shared/protocol/http-api.js');
    const { formatCapabilities } = await import('../remote/tables.js');
    // an invalid batch is refused before anything goes over the wire
    const prepared = await prepareAdd(file);
    const { originalFormatNote } = await import('../../shared/spec/original-note.js');
    const note = originalFormatNote(file, prepared.document, prepared.batch);
    if (note) process.stderr.write(note + '\n');
    const head = connect(opts);
    const nodes = opts.showCaps ? await head.call(API.nodes) : null;
    if (nodes && !opts.json) process.stdout.write(formatCapabilities(nodes) + '\n\n');
    const outcome = await sendAdd(head, prepared, { dry: opts.dry ?? false });
    if (opts.json) {
      process.stdout.write(JSON.stringify(nodes ? { ...outcome.response, nodes } : outcome.response, null, 2) + '\n');
      return;
    }
    const uploaded = outcome.uploaded > 0 ? ` (uploaded ${outcome.uploaded} of ${outcome.files} files)` : '';
    process.stdout.write(describeAdd(outcome) + uploaded + '\n');
  });
