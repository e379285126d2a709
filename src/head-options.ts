// The options every command that talks to the head takes. Kept apart from client.ts so a
// command file can declare them without loading the HTTP client (`distribute --help` stays fast).
import type { Command } from 'commander';

export interface HeadOptions {
  head?: string;
  token?: string;
  ca?: string;
  /** the original distribute's spelling: the head's host, port 8952 unless --port */
  ip?: string;
  port?: string;
}

export function withHeadOptions(cmd: Command): Command {
  return cmd
    .option('--head <url>', 'the head, ws://host:8952 (default: $DISTRIBUTE_HEAD, then the user config)')
    .option('--token <token>', 'your token (default: $DISTRIBUTE_TOKEN, then the user config)')
    .option('--ca <file>', "PEM CA that signed the head's certificate, for wss:// heads (default: $DISTRIBUTE_CA, then ca: in the user config, else the system's trust store)")
    .option('--ip <host>', 'the head\'s host, as the original distribute spelled it: the same as --head ws://HOST:8952')
    .option('-p, --port <port>', 'with --ip: the head\'s port (default 8952)');
}
