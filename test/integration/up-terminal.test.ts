// `distribute up` on a terminal (a real pseudo-terminal, by script(1)): the person sees the
// summary in readable lines, and every event goes as JSON to up.log in the state dir.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, tempDir } from '../helpers/cli.js';
import { until } from '../helpers/until.js';

describe('distribute up on a terminal', () => {
  it('prints readable lines only, and logs JSON to up.log', async () => {
    const t = tempDir('distribute-up-tty-');
    const { DISTRIBUTE_LOG_FORMAT: _forced, ...outer } = process.env;
    const env = { ...outer, HOME: t.dir, XDG_CONFIG_HOME: join(t.dir, 'config'), XDG_DATA_HOME: join(t.dir, 'data'), NO_COLOR: '1' };
    const child = spawn('script', ['-qec', `${process.execPath} ${CLI} up --port 0 --no-link`, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    try {
      await until(() => out.includes('Ctrl-C stops both'), 'the summary on the terminal', 60_000, 50);
      const log = join(t.dir, 'data', 'distribute', 'up.log');
      assert.match(out, new RegExp(`logs in ${log}`));
      assert.doesNotMatch(out, /\{"level"/, 'no JSON on the terminal');
      assert.doesNotMatch(out, /INFO/, 'no info events on the terminal');
      const events = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event?: string });
      assert.ok(events.some((e) => e.event === 'listening'), 'the head logged to up.log');
      assert.ok(events.some((e) => e.event === 'registered'), 'the node logged to up.log');
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
      t.cleanup();
    }
  });
});
