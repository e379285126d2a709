// The compute daemon's side of the launcher (launcher.ts): starts it on first use, sends it a
// job per line and turns its answers into the same ProcessGroup the daemon would get by
// spawning the job itself. A job that asks for room (`room`) waits in the launcher; aborting
// its signal meanwhile tells the launcher not to start it. If the launcher dies, the groups it started can no longer be
// reaped: they are killed and reported as failed to start properly, and the next job starts a
// new launcher.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../shared/log.js';
import type { Capacity } from './local-slots.js';
import { groupOf, type GroupExit, type GroupSpawnOptions, type ProcessGroup } from './process-group.js';

const SCRIPT = new URL(import.meta.url.endsWith('.ts') ? './launcher.ts' : './launcher.js', import.meta.url);

interface Answer {
  id: number;
  pid?: number | null;
  exit?: { code: number | null; signal: NodeJS.Signals | null; error: string | null };
}

interface Pending {
  onPid: (pid: number | null) => void;
  onExit: (e: GroupExit) => void;
  pid: number | null;
}

export class Launcher {
  private child: ChildProcess | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /** `capacity`: the node's room, shared by the jobs that ask for some */
  constructor(private readonly log: Logger, private readonly capacity: Capacity = { cpus: 1, memory: 0, maxJobs: null }) {}

  readonly spawn: (opts: GroupSpawnOptions) => Promise<ProcessGroup> = (opts) => {
    const child = this.running();
    const id = this.nextId++;
    return new Promise<ProcessGroup>((resolve) => {
      let hasExited = false;
      let settleExit!: (e: GroupExit) => void;
      const exited = new Promise<GroupExit>((r) => (settleExit = r));
      const p: Pending = {
        pid: null,
        onPid: (pid) => {
          p.pid = pid;
          resolve(groupOf(pid, exited, () => hasExited));
        },
        onExit: (e) => {
          hasExited = true;
          this.pending.delete(id);
          if (this.pending.size === 0) this.hold(false);
          settleExit(e);
        },
      };
      this.pending.set(id, p);
      this.hold(true);
      const room = opts.room;
      child.stdin!.write(JSON.stringify({ id, argv: opts.argv, cwd: opts.cwd, env: opts.env, stdout: opts.stdoutPath, stderr: opts.stderrPath, ...(room ? { need: room.need } : {}) }) + '\n');
      if (room) {
        const cancel = () => {
          if (p.pid === null && this.pending.has(id) && this.child === child) child.stdin!.write(JSON.stringify({ cancel: id }) + '\n');
        };
        if (room.cancelled.aborted) cancel();
        else room.cancelled.addEventListener('abort', cancel, { once: true });
      }
    });
  };

  /** Ends the launcher (the jobs it started run on). */
  stop(): void {
    this.child?.stdin?.end();
    this.child = null;
  }

  private running(): ChildProcess {
    if (this.child) return this.child;
    // under tsx (the tests) the launcher's source needs the same loader
    const flags = import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : [];
    const child = spawn(process.execPath, [...flags, fileURLToPath(SCRIPT), JSON.stringify(this.capacity)], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child = child;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let a: Answer;
      try {
        a = JSON.parse(line) as Answer;
      } catch {
        return;
      }
      const p = this.pending.get(a.id);
      if (!p) return;
      if (a.pid !== undefined) p.onPid(a.pid);
      if (a.exit) p.onExit({ code: a.exit.code, signal: a.exit.signal, error: a.exit.error === null ? null : new Error(a.exit.error) });
    });
    child.stdin!.on('error', () => {}); // its exit, below, says what happened
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      if (this.pending.size === 0) return;
      this.log.error({ event: 'launcher_died', code, signal, jobs: this.pending.size }, 'the process that starts jobs died; killing the jobs it started');
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        if (p.pid !== null) {
          try {
            process.kill(-p.pid, 'SIGKILL');
          } catch {
            // gone already
          }
        } else {
          p.onPid(null);
        }
        p.onExit({ code: null, signal: null, error: new Error(`the launcher process died (${signal ?? `exit code ${code}`})`) });
      }
    });
    this.hold(false);
    return child;
  }

  /** The launcher keeps this process alive only while jobs it started run. */
  private hold(on: boolean): void {
    const c = this.child;
    if (!c) return;
    const out = c.stdout as unknown as { ref?: () => void; unref?: () => void };
    if (on) {
      c.ref();
      out.ref?.();
    } else {
      c.unref();
      out.unref?.();
    }
  }
}
