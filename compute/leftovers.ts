// Jobs that outlive their compute daemon. Each job leads its own process group (its own
// session, even), so a daemon killed with SIGKILL leaves its jobs running. While a job runs,
// a line of `<work_dir>/.running/journal` records its process group id and the leader's start
// time (field 22 of /proc/<pid>/stat, in clock ticks since boot); a second line says when the
// process ended. A daemon that starts finds the records of its previous life and kills those
// groups: the head has requeued (or will requeue) their attempts, so nothing they do counts.
//
// A recorded id can only name someone else's group if the whole group ended and the number
// was handed out again: a leader alive with another start time is such a stranger and is
// left alone. Zombies are not counted as alive (nothing can kill them twice).
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';

export interface RunningRecord {
  attempt: number;
  /** process group id: the job's leader pid */
  pgid: number;
  /** the leader's start time (clock ticks since boot); null when it could not be read */
  starttime: number | null;
  /** the attempt's workspace, removed with the group unless its result is in the spool */
  workspace: string;
}

interface ProcStat {
  pid: number;
  state: string;
  pgrp: number;
  starttime: number;
}

/** Fields of /proc/<pid>/stat; null when the process is gone. */
export function readProcStat(pid: number | 'self'): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // the command name (field 2) is in parentheses and may itself hold spaces or parentheses
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state): field n is rest[n - 3]
  return { pid: Number(text.slice(0, text.indexOf(' '))), state: rest[0] ?? '?', pgrp: Number(rest[2]), starttime: Number(rest[19]) };
}

/** Live (not zombie) processes by process group, from one scan of /proc. */
export function processGroups(): Map<number, ProcStat[]> {
  const groups = new Map<number, ProcStat[]>();
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return groups; // no /proc (not Linux): nothing can be verified, so nothing is killed
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const st = readProcStat(Number(name));
    if (!st || st.state === 'Z' || st.state === 'X') continue;
    const list = groups.get(st.pgrp);
    if (list) list.push(st);
    else groups.set(st.pgrp, [st]);
  }
  return groups;
}

/** The records in `<work_dir>/.running/`. */
export class RunningRecords {
  private fd: number | null = null;
  private appended = 0;
  /** what this daemon recorded and has not forgotten: what a rewrite of the journal keeps */
  private readonly live = new Map<number, RunningRecord>();
  /** records an earlier version left as one file each */
  private readonly files = new Set<number>();

  constructor(readonly dir: string) {}

  private file(attempt: number): string {
    return join(this.dir, `${attempt}.json`);
  }

  /** Records a job just spawned (synchronously: the window a crash could miss is as short as it gets). */
  record(attempt: number, pid: number, workspace: string): void {
    const rec: RunningRecord = { attempt, pgid: pid, starttime: readProcStat(pid)?.starttime ?? null, workspace };
    if (this.appended > COMPACT_BYTES) this.compact();
    this.live.set(attempt, rec);
    this.append(`+${JSON.stringify(rec)}\n`);
  }

  forget(attempt: number): void {
    this.live.delete(attempt);
    this.append(`-${attempt}\n`);
    if (this.files.delete(attempt)) {
      rmSync(this.file(attempt), { force: true });
      rmSync(`${this.file(attempt)}.tmp`, { force: true });
    }
  }

  /** The records left by an earlier life of the daemon (read at its start). */
  list(): RunningRecord[] {
    const out = new Map<number, RunningRecord>();
    let text = '';
    try {
      text = readFileSync(join(this.dir, JOURNAL), 'utf8');
    } catch {
      // none yet
    }
    for (const line of text.split('\n')) {
      if (line.startsWith('-')) out.delete(Number(line.slice(1)));
      else if (line.startsWith('+')) {
        const rec = parseRecord(line.slice(1)); // a line cut short by a crash is skipped
        if (rec) out.set(rec.attempt, rec);
      }
    }
    let names: string[] = [];
    try {
      names = readdirSync(this.dir);
    } catch {
      // no folder yet
    }
    for (const name of names) {
      // a `.tmp` is a record being written when the daemon died: its job had just started
      if (!/^\d+\.json(\.tmp)?$/.test(name)) continue;
      let rec: RunningRecord | null = null;
      try {
        rec = parseRecord(readFileSync(join(this.dir, name), 'utf8'));
      } catch {
        rec = null;
      }
      if (rec) {
        out.set(rec.attempt, rec);
        this.files.add(rec.attempt);
      } else rmSync(join(this.dir, name), { force: true });
    }
    return [...out.values()];
  }

  remove(rec: RunningRecord): void {
    this.forget(rec.attempt);
  }

  /** Rewrites the journal with what this daemon still runs. */
  private compact(): void {
    mkdirSync(this.dir, { recursive: true });
    const file = join(this.dir, JOURNAL);
    writeFileSync(`${file}.new`, [...this.live.values()].map((r) => `+${JSON.stringify(r)}\n`).join(''));
    renameSync(`${file}.new`, file);
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    this.appended = 0;
  }

  private append(line: string): void {
    if (this.fd === null) {
      mkdirSync(this.dir, { recursive: true });
      this.fd = openSync(join(this.dir, JOURNAL), 'a');
    }
    this.appended += writeSync(this.fd, line);
  }
}

// One line per start and per end in one file, where a file per running job cost an inode made
// and deleted per job (see workspace-pool.ts for what that costs on ext4).
const JOURNAL = 'journal';
const COMPACT_BYTES = 1024 * 1024;

function parseRecord(text: string): RunningRecord | null {
  try {
    const r = JSON.parse(text) as Partial<RunningRecord>;
    if (!Number.isSafeInteger(r.attempt) || !Number.isSafeInteger(r.pgid) || (r.pgid ?? 0) <= 1) return null;
    return { attempt: r.attempt!, pgid: r.pgid!, starttime: typeof r.starttime === 'number' ? r.starttime : null, workspace: typeof r.workspace === 'string' ? r.workspace : '' };
  } catch {
    return null;
  }
}

export interface Leftover {
  attempt: number;
  pgid: number;
  /** processes of the group that were alive and got SIGKILL */
  killed: number;
  /** the group id now names someone else's processes: left alone */
  stranger: boolean;
}

export interface ReclaimOptions {
  logger: Logger;
  /** attempts whose results wait in the spool: their workspaces stay */
  keepWorkspace: (attempt: number) => boolean;
  /** how long to wait for killed processes to be gone; default 5 s */
  waitMs?: number;
}

/** Kills the process groups a previous life of the daemon left running, and clears their records. */
export async function killLeftovers(records: RunningRecords, o: ReclaimOptions): Promise<Leftover[]> {
  const recs = records.list();
  if (recs.length === 0) return [];
  const own = readProcStat('self')?.pgrp;
  const groups = processGroups();
  const out: Leftover[] = [];
  const killed: number[] = [];
  for (const rec of recs) {
    const members = groups.get(rec.pgid) ?? [];
    const stranger = rec.pgid === own || rec.pgid === process.pid || isStranger(rec, members);
    let count = 0;
    if (!stranger && members.length > 0) {
      try {
        process.kill(-rec.pgid, 'SIGKILL');
        count = members.length;
        killed.push(rec.pgid);
      } catch (err) {
        o.logger.warn({ event: 'leftover_kill_failed', attempt: rec.attempt, pgid: rec.pgid, err: errorMessage(err) }, 'could not kill a job left by the previous run');
      }
    }
    out.push({ attempt: rec.attempt, pgid: rec.pgid, killed: count, stranger });
  }
  await waitGone(killed, o.waitMs ?? 5000);
  for (const rec of recs) {
    if (rec.workspace && !o.keepWorkspace(rec.attempt)) rmSync(rec.workspace, { recursive: true, force: true });
    records.remove(rec);
  }
  for (const l of out) {
    if (l.stranger) o.logger.warn({ event: 'leftover_stranger', attempt: l.attempt, pgid: l.pgid }, 'a recorded job group id now belongs to another process; left alone');
    else o.logger.info({ event: 'leftover_killed', attempt: l.attempt, pgid: l.pgid, processes: l.killed }, l.killed ? 'killed a job left running by the previous run' : 'a job of the previous run had already ended');
  }
  return out;
}

/**
 * Whether the live processes of the recorded group id are not the job's: its leader alive
 * with another start time, or a member older than the job. A job already gone when it was
 * recorded (no start time) has no group left: any group by that id is a stranger's.
 */
function isStranger(rec: RunningRecord, members: ProcStat[]): boolean {
  if (members.length === 0) return false;
  if (rec.starttime === null) return true;
  const leader = members.find((p) => p.pid === rec.pgid);
  if (leader && leader.starttime !== rec.starttime) return true;
  return members.some((p) => p.starttime < rec.starttime!);
}

async function waitGone(pgids: number[], ms: number): Promise<void> {
  if (pgids.length === 0) return;
  const deadline = Date.now() + ms;
  for (;;) {
    const groups = processGroups();
    if (pgids.every((g) => !groups.has(g)) || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}
