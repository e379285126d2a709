// Where `distribute up`'s two daemons log. On a terminal the person reads the banner, not a
// stream of events: every event goes as JSON to `up.log` in the state dir, and only warnings
// and errors also show here, as readable lines. `--log-format json|pretty` (or output that
// is not a terminal, as under a test or a service manager) puts every event on stdout in
// that shape instead, as the other daemons do.
import { openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, formatLogLine, type LogFormat, type Logger } from '../shared/log.js';
import { UserError } from '../shared/errors.js';

export interface UpLogs {
  logger: (component: string) => Logger;
  /** for the banner: where the events went, or null when they come to this terminal */
  note: string | null;
}

const WARN = 40;

export function parseLogFormat(value: string): LogFormat {
  if (value === 'json' || value === 'pretty') return value;
  throw new UserError(`--log-format: "${value}" is neither json nor pretty`);
}

export function upLogs(stateDir: string, format: LogFormat | undefined, terminal = process.stdout.isTTY === true): UpLogs {
  if (format || !terminal || process.env.DISTRIBUTE_LOG_FORMAT) {
    return { logger: (component) => createLogger(component, format ? { format } : {}), note: null };
  }
  const file = join(stateDir, 'up.log');
  const fd = openSync(file, 'a', 0o600);
  const color = process.stderr.isTTY === true && !process.env.NO_COLOR;
  const destination = {
    write(line: string) {
      writeSync(fd, line);
      if (levelOf(line) >= WARN) process.stderr.write(formatLogLine(line, color));
    },
  };
  return { logger: (component) => createLogger(component, { format: 'json', destination }), note: `logs in ${file} (warnings and errors show here too; --log-format pretty shows all)` };
}

function levelOf(line: string): number {
  const m = /"level":(\d+)/.exec(line);
  return m ? Number(m[1]) : 0;
}
