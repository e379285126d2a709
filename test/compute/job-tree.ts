// A job whose process tree has a child and a grandchild, each in a busy loop until a file
// named `stop` appears in its save folder; every pid of the tree is written to `pids`.
import { readFileSync } from 'node:fs';

/** The shell command of such a job (the leader waits; child and grandchild spin). */
export const BUSY_TREE_COMMAND = [
  'S="$DISTRIBUTE_SAVE"',
  'echo $$ >> "$S/pids"',
  `sh -c 'sh -c "echo \\$\\$ >> \\"$1/pids\\"; while [ ! -e \\"$1/stop\\" ]; do :; done" spin "$1" & echo $$ >> "$1/pids"; while [ ! -e "$1/stop" ]; do :; done; wait' child "$S" &`,
  'wait',
].join('\n');

/** utime + stime of a process, in ticks; null once it is gone. */
export function cpuTicks(pid: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return null;
  }
}
