import { Command } from 'commander';

export const command = new Command('template')
  .description('Print a commented starter batch file (with --output, also the files it names, so it validates as written)')
  .argument('<kind>', 'python, apptainer or shell')
  .option('-o, --output <file>', 'write the YAML here, with its companion files and batch.schema.json beside it')
  .option('--force', 'overwrite the output YAML if it exists')
  .action(async (kind: string, opts: { output?: string; force?: boolean }) => {
    const { templateFor, writeTemplate } = await import('../../shared/spec/templates.js');
    if (!opts.output) {
      process.stdout.write(templateFor(kind).yaml);
      return;
    }
    for (const path of await writeTemplate(kind, opts.output, { force: opts.force })) process.stdout.write(`wrote ${path}\n`);
  });
