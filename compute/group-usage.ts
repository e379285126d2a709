// What a job used where it has no cgroup (process groups, docs/containment.md): its process
// group sampled from /proc while it runs. CPU time is the leader's utime+stime+cutime+cstime
// (a child reaped in the group moves its time, and its children's, into its parent's cutime,
// up to the leader); peak memory is the largest sum of the group's resident sets seen.
// Honest limits: the last sample is up to one interval before the end (that much CPU time is
// missed), as is the time of a child still running, or orphaned, when the leader exits; a
// spike shorter than the interval is missed; a process that left the group (setsid) is not
// counted; and pages shared between processes count once per process.
import { readdir, readFile } from 'node:fs/promises';
import { parsePidStat } from './cpu-usage.js';
import type { CgroupUsage } from './cgroup/types.js';

/** USER_HZ: /proc's clock ticks per second (100 on Linux) */
const TICKS_PER_SECOND = 100;
const PAGE_BYTES = 4096;
export const GROUP_SAMPLE_MS = 250;

/**
 * CPU ticks of the group's leader (its own and its reaped children's: one file, read at
 * once) and resident bytes of the group's live processes. Summing every member's CPU would
 * count a child twice when its parent reaps it between the two reads.
 */
async function sample(pgid: number, proc = '/proc'): Promise<{ ticks: number; rss: number }> {
  const pids = (await readdir(proc).catch(() => [] as string[])).filter((n) => /^\d+$/.test(n));
  let ticks = 0;
  let rss = 0;
  await Promise.all(
    pids.map(async (pid) => {
      const text = await readFile(`${proc}/${pid}/stat`, 'utf8').catch(() => null);
      const p = text === null ? null : parsePidStat(text);
      if (!p || p.pgrp !== pgid) return;
      if (Number(pid) === pgid) ticks = p.ticks;
      // field 24 of stat, the 22nd after "pid (comm) ": resident pages
      const pages = Number(text!.slice(text!.lastIndexOf(')') + 2).split(' ')[21]);
      if (Number.isFinite(pages)) rss += pages * PAGE_BYTES;
    }),
  );
  return { ticks, rss };
}

/** Samples the group until stopped; `stop()` gives what it measured. */
export function watchGroupUsage(pgid: number, intervalMs = GROUP_SAMPLE_MS): { stop(): CgroupUsage } {
  let ticks = 0;
  let peak = 0;
  let busy = false;
  const take = () => {
    if (busy) return;
    busy = true;
    void sample(pgid).then((s) => {
      busy = false;
      // the leader, once reaped, takes its own and its children's time with it: keep the most seen
      ticks = Math.max(ticks, s.ticks);
      peak = Math.max(peak, s.rss);
    });
  };
  take();
  const timer = setInterval(take, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      return { cpu_seconds: ticks / TICKS_PER_SECOND, peak_memory_bytes: peak };
    },
  };
}
