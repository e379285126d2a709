// The selection flags of `pull` and `verify` (the pull rules: src/remote/rules.ts reads them).
// Kept apart so a command file declares them without loading the rules' parser.
import type { Command } from 'commander';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function withRuleOptions(cmd: Command): Command {
  return cmd
    .option('-i, --include <regex>', 'keep only members whose <job>/<file> path matches one include or glob (repeatable)', collect)
    .option('-e, --exclude <regex>', 'leave out members whose <job>/<file> path matches; exclude wins (repeatable)', collect)
    .option('--glob <pattern>', 'like --include, as a glob: without "/" it matches the file name, with "/" the whole <job>/<file> (repeatable)', collect)
    .option('--job <regex>', 'only jobs whose name matches (repeatable)', collect)
    .option('--rules <file>', 'a YAML file with include, exclude, glob and job keys, joined with the flags');
}
