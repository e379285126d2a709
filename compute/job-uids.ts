// A uid of its own for every running job and build step (compute.yaml `job_uids`), when the
// compute daemon runs as root: the job cannot read another job's workspace (0700, its owner),
// the daemon's token, config or control socket (root's, not readable by others), nor signal
// another job's processes (a different uid). No account is needed: setpriv takes numbers.
// The gid is the same number. See docs/containment.md.
import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';

export interface JobIdentity {
  uid: number;
  gid: number;
  /** the setpriv program that drops to them */
  setpriv: string;
}

/** `61000-61999` → [61000, 61999]; null for `none`. The config schema has checked the form. */
export function parseJobUids(range: string): [number, number] | null {
  if (range === 'none') return null;
  const [lo, hi] = range.split('-').map(Number) as [number, number];
  return [lo, hi];
}

/** The uids of every process now (the owner of its /proc entry: its effective uid). */
export async function processUids(): Promise<Map<number, number[]>> {
  const byUid = new Map<number, number[]>();
  const names = await readdir('/proc').catch(() => [] as string[]);
  await Promise.all(
    names.filter((n) => /^\d+$/.test(n)).map(async (n) => {
      const st = await stat(`/proc/${n}`).catch(() => null);
      if (!st) return;
      const list = byUid.get(st.uid) ?? [];
      list.push(Number(n));
      byUid.set(st.uid, list);
    }),
  );
  return byUid;
}

/** SIGKILL to every process of `uid`, sent as that uid (kill(-1) reaches exactly its own processes). */
function killAllOf(setpriv: string, uid: number): Promise<void> {
  return new Promise((resolve) => {
    execFile(setpriv, ['--reuid', String(uid), '--regid', String(uid), '--clear-groups', '--', '/bin/sh', '-c', 'kill -KILL -1'], { timeout: 5000 }, () => resolve());
  });
}

export class JobUids {
  private readonly held = new Set<number>();
  private next: number;

  constructor(private readonly lo: number, private readonly hi: number, private readonly setpriv = '/usr/bin/setpriv') {
    this.next = lo;
  }

  get description(): string {
    return `each job runs as a uid of its own from ${this.lo}-${this.hi}`;
  }

  /**
   * A uid no running job of this daemon holds and no process has (one a previous life of the
   * daemon left running is passed over); throws when the range is exhausted.
   */
  async acquire(): Promise<JobIdentity> {
    const busy = await processUids();
    const size = this.hi - this.lo + 1;
    for (let i = 0; i < size; i++) {
      const uid = this.next;
      this.next = uid === this.hi ? this.lo : uid + 1;
      if (this.held.has(uid) || busy.has(uid)) continue;
      this.held.add(uid);
      return { uid, gid: uid, setpriv: this.setpriv };
    }
    throw new Error(`every uid of job_uids ${this.lo}-${this.hi} is in use`);
  }

  /**
   * Gives the uid back once none of its processes is left: whatever the job left running
   * (a setsid'd child where there is no cgroup) is killed first, so the next job under this
   * uid cannot reach it. Returns the pids that would not die (the uid then stays held).
   */
  async release(id: JobIdentity): Promise<number[]> {
    let left: number[] | undefined;
    for (let round = 0; round < 50; round++) {
      left = (await processUids()).get(id.uid);
      if (!left) break;
      await killAllOf(this.setpriv, id.uid);
      await new Promise((r) => setTimeout(r, 20));
    }
    // a process that would not die keeps its uid out of use
    if (!left) this.held.delete(id.uid);
    return left ?? [];
  }
}
