// The daemons' logs as an admin sees them: JSON lines for journald when stdout is a pipe,
// readable lines on a terminal, and --log-level choosing what is written.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI, runCli, spawnCli, tempDir } from '../helpers/cli.js';
import { Daemon } from '../helpers/cluster.js';
import { closedPort } from '../helpers/net.js';

const haveScript = spawnSync('script', ['--version']).status === 0;

describe('daemon logs', () => {
  let dir: string;
  let cleanup: () => void;
  let config: string;
  before(async () => {
    ({ dir, cleanup } = tempDir('distribute-logs-'));
    config = join(dir, 'compute.yaml');
    // a head nobody runs: the daemon logs its start (info) and its failed dials (warn)
    writeFileSync(config, stringify({ head: `ws://127.0.0.1:${await closedPort()}`, token: 'x'.repeat(64), name: 'logger', work_dir: 'work', resources: { cpus: 1 } }));
  });
  after(() => cleanup());

  it('writes one JSON object per line on a pipe, at the level --log-level says', async () => {
    for (const [level, infoExpected] of [['info', true], ['warn', false]] as const) {
      const d = new Daemon(`compute-${level}`, spawnCli(['compute', '--config', config, '--log-level', level], { stdio: ['ignore', 'pipe', 'pipe'] }));
      try {
        const failed = await d.event('connect_failed');
        assert.equal(failed.level, 40);
        assert.equal(failed.component, 'compute');
        assert.equal(failed.node, 'logger');
        assert.equal(d.raw.filter((l) => !l.startsWith('[')).every((l) => l.startsWith('{') && JSON.parse(l) !== null), true);
        assert.equal(d.lines.some((l) => l.event === 'compute_starting'), infoExpected, `compute_starting at ${level}`);
      } finally {
        await d.stop();
      }
    }
  });

  it('refuses an unknown level with exit 2, naming the flag', async () => {
    const r = await runCli(['compute', '--config', config, '--log-level', 'chatty']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--log-level: unknown log level "chatty"/);
  });

  it('writes readable lines on a terminal', { skip: !haveScript && 'script (util-linux) is not installed' }, async () => {
    // `script` gives the daemon a pseudo-terminal as stdout
    const cmd = `'${process.execPath}' '${CLI}' compute --config '${config}'`;
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', DISTRIBUTE_LOG_FORMAT: '' } });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no readable line in: ${out}`)), 15_000);
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (/cannot reach the head/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    const lines = out.split(/\r?\n/).filter(Boolean);
    const starting = lines.find((l) => l.includes('compute daemon starting'))!;
    assert.match(starting, /^\d\d:\d\d:\d\d\.\d{3} INFO  compute: compute daemon starting event=compute_starting node=logger /);
    assert.ok(lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} WARN  compute: cannot reach the head .*event=connect_failed/.test(l)), out);
    assert.ok(!lines.some((l) => l.startsWith('{')), 'no JSON on a terminal');
  });
});
