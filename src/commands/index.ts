// Every subcommand, one file each. cli.ts adds them in this order (it is the order of --help).
import type { Command } from 'commander';

export const commands: Command[] = [];
