import { Command } from 'commander';

export const command = new Command('doctor')
  .description('Check that this machine can work with the head (reachable, TLS, token, clock, protocol, disk) and say what to fix; exit 1 if anything fails')
  .option('--config <file>', 'check as the daemon of this compute.yaml or head.yaml would (adds disk, sandbox and certificate checks)')
  .option('--head <url>', 'the head, wss://host:8952 (default: the config, $DISTRIBUTE_HEAD, then the user config)')
  .option('--token <token>', 'the token to try (default: the config, $DISTRIBUTE_TOKEN, then the user config)')
  .option('--ca <file>', "PEM CA that signed the head's certificate (default: the config, $DISTRIBUTE_CA, then the user config)")
  .option('--json', 'print {ok, checks: [{name, status, detail, fix}]}')
  .action(async (opts: { config?: string; head?: string; token?: string; ca?: string; json?: boolean }) => {
    const { doctorTarget } = await import('../ops/doctor-target.js');
    const { runDoctor, formatChecks } = await import('../ops/doctor.js');
    const checks = await runDoctor(doctorTarget(opts));
    const failed = checks.some((c) => c.status === 'FAIL');
    process.stdout.write(opts.json ? JSON.stringify({ ok: !failed, checks }) + '\n' : formatChecks(checks));
    process.exitCode = failed ? 1 : 0;
  });
