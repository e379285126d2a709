// Raw lines a user adds to generated scripts: scheduler directives and setup commands.
import { UserError } from '../../shared/errors.js';
import type { Parsed } from '../../shared/spec/units.js';
import { oneLine } from './values.js';

/** Directive lines from raw ones: `--exclusive` and `#SBATCH --exclusive` both give the latter. */
export function directiveLines(prefix: '#SBATCH' | '#PBS', lines: string[], where: string): string[] {
  return lines.map((raw) => {
    const line = raw.trim();
    const single: Parsed<string> = oneLine(`${where}: directive`, line);
    if (!single.ok) throw new UserError(single.error);
    if (line.startsWith(`${prefix} `)) return line;
    if (line.startsWith('-')) return `${prefix} ${line}`;
    throw new UserError(`${where}: directive "${line}" must be an option like --exclusive or a full "${prefix} ..." line`);
  });
}

export function setupLines(lines: string[], where: string): string[] {
  return lines.map((line) => {
    const single = oneLine(`${where}: setup line`, line);
    if (!single.ok) throw new UserError(single.error);
    return line;
  });
}
