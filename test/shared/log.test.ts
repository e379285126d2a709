import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { createLogger, formatLogLine, parseLogLevel } from '../../shared/log.js';
import { UserError } from '../../shared/errors.js';
import { REPO_ROOT } from '../helpers/cli.js';

/** A destination that keeps what it is given; `isTTY` as a terminal's stream has it. */
function capture(isTTY: boolean): Writable & { lines: () => string[]; isTTY: boolean } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  }) as Writable & { lines: () => string[]; isTTY: boolean };
  w.isTTY = isTTY;
  w.lines = () => chunks.join('').split('\n').filter(Boolean);
  return w;
}

describe('createLogger', () => {
  it('writes one JSON object per event when the destination is not a terminal', () => {
    const out = capture(false);
    const log = createLogger('compute', { destination: out });
    log.info({ event: 'assigned', attempt: 3, batch: 're_sweep' }, 'job assigned');
    log.child({ node: 'ws-07' }).warn('lost the head');
    const [a, b] = out.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(out.lines().length, 2);
    assert.equal(a!.msg, 'job assigned');
    assert.equal(a!.level, 30);
    assert.equal(a!.component, 'compute');
    assert.equal(a!.attempt, 3);
    assert.match(String(a!.time), /^\d{4}-\d\d-\d\dT/);
    assert.equal(b!.node, 'ws-07');
    assert.equal(b!.level, 40);
  });

  it('writes readable lines, one per event, when the destination is a terminal', () => {
    const out = capture(true);
    const log = createLogger('head', { destination: out, color: false });
    log.info({ attempt: 3, batch: 're_sweep', reason: 'node lost' }, 'job requeued');
    log.error({ err: new Error('disk full') }, 'cannot archive');
    const lines = out.lines();
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} INFO  head: job requeued attempt=3 batch=re_sweep reason="node lost"$/);
    assert.match(lines[1]!, /^\d\d:\d\d:\d\d\.\d{3} ERROR head: cannot archive err="disk full"$/);
  });

  it('follows the level: debug lines appear only at debug', () => {
    for (const [level, expected] of [['info', 1], ['debug', 2], ['error', 0]] as const) {
      const out = capture(false);
      const log = createLogger('c', { destination: out, level });
      log.debug('detail');
      log.info('event');
      assert.equal(out.lines().length, expected, `at ${level}`);
    }
  });

  it('refuses an unknown level, naming where it came from and the known ones', () => {
    assert.throws(() => createLogger('c', { level: 'verbose', destination: capture(false) }), (e: unknown) => e instanceof UserError && /--log-level: unknown log level "verbose" \(one of trace, debug, info/.test(e.message));
    assert.equal(parseLogLevel('WARN'), 'warn');
  });

  it('writes JSON to a piped stdout and readable lines when forced, from a real process', () => {
    const script = `import { createLogger } from './shared/log.ts'; createLogger('compute').info({ attempt: 1 }, 'hello');`;
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, ...env } });
    const piped = run({ DISTRIBUTE_LOG_FORMAT: '' });
    assert.equal(piped.status, 0, piped.stderr);
    assert.equal((JSON.parse(piped.stdout.trim()) as { msg: string }).msg, 'hello');
    const pretty = run({ DISTRIBUTE_LOG_FORMAT: 'pretty', NO_COLOR: '1' });
    assert.match(pretty.stdout, /^\d\d:\d\d:\d\d\.\d{3} INFO  compute: hello attempt=1\n$/);
  });
});

describe('formatLogLine', () => {
  it('passes a line that is not JSON through unchanged', () => {
    assert.equal(formatLogLine('plain text'), 'plain text\n');
  });
});
