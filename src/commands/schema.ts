import { Command } from 'commander';

export const command = new Command('schema')
  .description('Print the JSON Schema of batch files, for editors (# yaml-language-server: $schema=...)')
  .option('-o, --output <file>', 'write it to this file instead of stdout')
  .action(async (opts: { output?: string }) => {
    const { batchJsonSchema } = await import('../../shared/spec/schema.js');
    const text = JSON.stringify(batchJsonSchema(), null, 2) + '\n';
    if (!opts.output) {
      process.stdout.write(text);
      return;
    }
    const { writeFile } = await import('node:fs/promises');
    await writeFile(opts.output, text);
    process.stdout.write(`wrote ${opts.output}\n`);
  });
