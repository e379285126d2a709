import { Command } from 'commander';

export const command = new Command('validate')
  .description('Check a batch file: a summary and exit 0, or every problem as FILE:LINE:COL: field: message and exit 2')
  .argument('[batch.yaml]', 'the batch file', 'distribute-jobs.yaml')
  .option('--json', 'print {ok, batch} or {ok, errors} on stdout')
  .option('--no-files', 'do not check that the files it names exist')
  .action(async (file: string, opts: { json?: boolean; files: boolean }) => {
    const { readBatchText } = await import('../../shared/spec/load.js');
    const { parseBatch, formatSpecError } = await import('../../shared/spec/parse.js');
    const { summarizeBatch } = await import('../../shared/spec/summary.js');
    const result = parseBatch(await readBatchText(file), { file, checkFiles: opts.files });
    if (!result.ok) {
      for (const e of result.errors) process.stderr.write(formatSpecError(e) + '\n');
      if (opts.json) process.stdout.write(JSON.stringify({ ok: false, errors: result.errors }) + '\n');
      process.exitCode = 2;
      return;
    }
    const { originalFormatNote } = await import('../../shared/spec/original-note.js');
    const note = originalFormatNote(file, result.document, result.batch);
    if (note) process.stderr.write(note + '\n');
    process.stdout.write(opts.json ? JSON.stringify({ ok: true, batch: result.batch }) + '\n' : `${file}: ok\n${summarizeBatch(result.batch)}\n`);
  });
