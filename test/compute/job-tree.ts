// A job whose process tree has a child and a grandchild, each in a busy loop until a file
// named `stop` appears in folder S; every pid of the tree is appended to `S/pids`. A
// sleeping watchdog in the same group makes `stop` after `boundS` seconds of its own time,
// so a failed test leaves no busy loop behind, even when the daemon that ran it was killed.
import { readFileSync } from 'node:fs';

/** The shell command of such a job. `dir` is put in double quotes: `$DISTRIBUTE_SAVE` or a path. */
export function busyTreeCommand(dir = '$DISTRIBUTE_SAVE', boundS = 60): string {
  return [
    `S="${dir}"`,
    'echo $$ >> "$S/pids"',
    `(sleep ${boundS}; touch "$S/stop") &`,
    `sh -c 'sh -c "echo \\$\\$ >> \\"$1/pids\\"; while [ ! -e \\"$1/stop\\" ]; do :; done" spin "$1" & echo $$ >> "$1/pids"; while [ ! -e "$1/stop" ]; do :; done; wait' child "$S" &`,
    'wait $!',
  ].join('\n');
}

export const BUSY_TREE_COMMAND = busyTreeCommand();

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
