// A head and compute daemons for the benchmark: the built CLI as child processes on
// 127.0.0.1, as in test/helpers/cluster.ts, but with their logs going straight to files
// (the benchmark must not spend the machine's two cores parsing every log line) and job
// progress read from the head's SQLite (WAL: a reader never blocks the head).
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { CLI, REPO_ROOT, runCli, type CliResult } from '../helpers/cli.js';

export type LogLine = Record<string, unknown> & { event?: string };

/**
 * Where the benchmark keeps its clusters and data: `.bench/` in the repository (ignored by
 * git), or BENCH_DIR. Not the system's /tmp: on the machine these figures come from, /tmp's
 * part of the disk had seen so many files come and go that creating one there cost ~1 ms of
 * kernel time, against ~0.03 ms anywhere else on the same file system.
 */
export const BENCH_ROOT = resolve(process.env.BENCH_DIR ?? join(REPO_ROOT, '.bench'));

const POLL_MS = 10;

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every few ms until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function until<T>(check: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 60_000, pollMs = POLL_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}

/** Resident memory of a process now and at its peak, in bytes (from /proc). */
export async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** CPU time a process has used so far (user + system), in seconds, and that of its waited-for children. */
export async function cpuOf(pid: number): Promise<{ self: number; children: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // fields after the command name (which may hold spaces) start at ") "
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const tick = 100; // USER_HZ
  return { self: (Number(f[11]) + Number(f[12])) / tick, children: (Number(f[13]) + Number(f[14])) / tick };
}

export class BenchDaemon {
  private offset = 0;
  private partial = '';
  private readonly seen: LogLine[] = [];
  exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    child.on('exit', (code, signal) => (this.exited = { code, signal }));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Log lines written since the last read. */
  private readNew(): LogLine[] {
    const fd = openSync(this.logFile, 'r');
    const fresh: LogLine[] = [];
    try {
      const buf = Buffer.alloc(1 << 20);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n === 0) break;
        this.offset += n;
        this.partial += buf.subarray(0, n).toString('utf8');
      }
    } finally {
      closeSync(fd);
    }
    const lines = this.partial.split('\n');
    this.partial = lines.pop()!;
    for (const l of lines) {
      try {
        fresh.push(JSON.parse(l) as LogLine);
      } catch {
        // not a log line
      }
    }
    this.seen.push(...fresh);
    return fresh;
  }

  /** The first log line of this event (already written or to come) that matches. */
  async event(name: string, match: (l: LogLine) => boolean = () => true, timeoutMs = 30_000): Promise<LogLine> {
    const found = this.seen.find((l) => l.event === name && match(l));
    if (found) return found;
    return until(() => {
      if (this.exited) throw new Error(`${this.name} exited (${JSON.stringify(this.exited)}) while waiting for ${name}; see ${this.logFile}`);
      return this.readNew().find((l) => l.event === name && match(l));
    }, `${this.name}: event ${name}`, timeoutMs);
  }

  /** Every log line so far. */
  lines(): LogLine[] {
    this.readNew();
    return this.seen;
  }

  memory(): Promise<{ rss: number; peak: number }> {
    return memoryOf(this.pid);
  }

  /**
   * CPU time of the daemon itself, and of its children: those it reaped, and the ones still
   * running with what they reaped (a compute daemon's launcher and the jobs it started).
   */
  async cpu(): Promise<{ self: number; children: number }> {
    const own = await cpuOf(this.pid);
    const kids = (await readFile(`/proc/${this.pid}/task/${this.pid}/children`, 'utf8').catch(() => '')).split(' ').filter(Boolean);
    const live = await Promise.all(kids.map((k) => cpuOf(Number(k)).catch(() => ({ self: 0, children: 0 }))));
    return { self: own.self, children: own.children + live.reduce((a, c) => a + c.self + c.children, 0) };
  }

  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill(signal);
    await gone;
  }
}

export interface BenchNode {
  name: string;
  cpus: number;
  memory?: string;
  /** compute.yaml fields laid over the defaults */
  config?: Record<string, unknown>;
}

export class BenchCluster {
  readonly root: string;
  readonly stateDir: string;
  readonly configHome: string;
  head!: BenchDaemon;
  url = '';
  userToken = '';
  readonly nodes = new Map<string, BenchDaemon>();
  private db: Database.Database | null = null;
  private readonly cleanup: () => void;

  /** with a folder: every daemon writes a V8 CPU profile there (node --cpu-prof) when stopped */
  private cpuProf: string | null = null;

  private constructor(prefix: string) {
    mkdirSync(BENCH_ROOT, { recursive: true });
    this.root = mkdtempSync(join(BENCH_ROOT, prefix));
    this.cleanup = () => rmSync(this.root, { recursive: true, force: true });
    this.stateDir = join(this.root, 'head-state');
    this.configHome = join(this.root, 'config-home');
    mkdirSync(this.configHome);
  }

  /** Node.js flags of the head's process (the capacity section's loop-delay probe) */
  private headFlags: string[] = [];

  static async start(opts: { nodes: BenchNode[]; head?: Record<string, unknown>; prefix?: string; cpuProf?: string; headFlags?: string[] }): Promise<BenchCluster> {
    const c = new BenchCluster(opts.prefix ?? 'cluster-');
    c.cpuProf = opts.cpuProf ?? null;
    c.headFlags = opts.headFlags ?? [];
    try {
      await c.startHead(opts.head ?? {});
      c.userToken = await c.token('user', 'bench');
      await Promise.all(opts.nodes.map((n) => c.startNode(n)));
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  env(): NodeJS.ProcessEnv {
    return { XDG_CONFIG_HOME: this.configHome, DISTRIBUTE_HEAD: this.url, DISTRIBUTE_TOKEN: this.userToken };
  }

  async token(kind: 'node' | 'user', name: string): Promise<string> {
    const r = await runCli(['token', 'create', '--state-dir', this.stateDir, `--${kind}`, name], { env: { XDG_CONFIG_HOME: this.configHome } });
    if (r.code !== 0) throw new Error(`token create --${kind} ${name} failed (${r.code}): ${r.stderr}`);
    return r.stdout.trim().split('\n').pop()!.trim();
  }

  /** Runs `distribute ARGS` as the bench user. */
  cli(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
    return runCli(args, { env: this.env(), timeoutMs: opts.timeoutMs ?? 120_000, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  }

  private spawnDaemon(name: string, args: string[], flags: string[] = []): BenchDaemon {
    const logFile = join(this.root, `${name}.log`);
    const fd = openSync(logFile, 'w');
    const prof = this.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${this.cpuProf}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
    // a compute daemon's launcher (a Node process it starts) is profiled too: DIR/<name>-launcher/
    const childProf = this.cpuProf
      ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${pathToFileURL(join(REPO_ROOT, 'test', 'bench', 'cpu-prof.mjs')).href}`.trim(), BENCH_CPU_PROF_DIR: join(this.cpuProf, `${name}-launcher`) }
      : {};
    const child = spawn(process.execPath, [...prof, ...flags, ...(process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(' ') : []), CLI, ...args], { stdio: ['ignore', fd, fd], env: { ...process.env, XDG_CONFIG_HOME: this.configHome, ...childProf } });
    closeSync(fd);
    return new BenchDaemon(name, child, logFile);
  }

  private async startHead(fields: Record<string, unknown>): Promise<void> {
    const file = join(this.root, 'head.yaml');
    // BENCH_SMALL_RESULTS=files measures the head with a file per small result (before segments)
    const smallResults = process.env.BENCH_SMALL_RESULTS ? { small_results: process.env.BENCH_SMALL_RESULTS } : {};
    writeFileSync(file, stringify({ listen: '127.0.0.1:0', state_dir: this.stateDir, ...smallResults, ...fields }));
    this.head = this.spawnDaemon('head', ['head', '--config', file], this.headFlags);
    this.url = String((await this.head.event('listening')).url);
  }

  /** Starts (or, after a kill, restarts) a compute daemon and waits for it to register. */
  async startNode(n: BenchNode, opts: { token?: string } = {}): Promise<BenchDaemon> {
    const dir = join(this.root, `node-${n.name}`);
    mkdirSync(dir, { recursive: true });
    const tokenFile = join(dir, 'node.token');
    if (!this.nodes.has(n.name)) writeFileSync(tokenFile, (opts.token ?? (await this.token('node', n.name))) + '\n');
    const resources: Record<string, unknown> = { cpus: n.cpus, gpus: 0 };
    if (n.memory) resources.memory = n.memory;
    // bench folders are 0700 temp folders: jobs under uids of their own could not reach them
    writeFileSync(join(dir, 'compute.yaml'), stringify({ head: this.url, token_file: 'node.token', name: n.name, work_dir: 'work', resources, job_uids: 'none', ...n.config }));
    const d = this.spawnDaemon(`node-${n.name}-${Date.now()}`, ['compute', '--config', join(dir, 'compute.yaml')]);
    this.nodes.set(n.name, d);
    await d.event('registered');
    return d;
  }

  workDir(node: string): string {
    return join(this.root, `node-${node}`, 'work');
  }

  /** A read-only view of the head's database. */
  sql(): Database.Database {
    this.db ??= new Database(join(this.stateDir, 'distribute.db'), { readonly: true, fileMustExist: true });
    return this.db;
  }

  batchId(namespace: string, name: string): number | undefined {
    return (this.sql().prepare('SELECT id FROM batches WHERE namespace = ? AND name = ?').get(namespace, name) as { id: number } | undefined)?.id;
  }

  /** Jobs of the batch that have ended (done, failed or cancelled). */
  ended(batchId: number): number {
    return (this.sql().prepare(`SELECT COUNT(*) AS n FROM jobs WHERE batch_id = ? AND state IN ('done', 'failed', 'cancelled')`).get(batchId) as { n: number }).n;
  }

  /** Waits until `n` jobs of the batch have ended; returns how many of them failed. */
  async waitEnded(namespace: string, name: string, n: number, timeoutMs = 300_000): Promise<number> {
    const id = await until(() => this.batchId(namespace, name), `batch ${namespace}/${name} queued`, timeoutMs);
    await until(() => (this.ended(id) >= n ? true : undefined), `${n} jobs of ${name} ended`, timeoutMs);
    return (this.sql().prepare(`SELECT COUNT(*) AS n FROM jobs WHERE batch_id = ? AND state <> 'done'`).get(id) as { n: number }).n;
  }

  async stop(): Promise<void> {
    this.db?.close();
    this.db = null;
    // a profiled daemon writes its profile only when it exits by itself
    const signal = this.cpuProf ? 'SIGTERM' : 'SIGKILL';
    await Promise.all([...this.nodes.values(), ...(this.head ? [this.head] : [])].map((d) => d.stop(signal)));
    if (process.env.BENCH_KEEP) console.error(`kept ${this.root}`);
    else this.cleanup();
  }
}

/** A shell batch of `n` trivial jobs (`command`), named j0 … j(n-1), written as YAML in `dir`. */
export function writeShellBatch(dir: string, name: string, n: number, command = 'true', extra: Record<string, unknown> = {}): string {
  const file = join(dir, `${name}.yaml`);
  const values = Array.from({ length: n }, (_, i) => i);
  const batch = {
    meta: { batch_name: name, namespace: 'bench', ...extra },
    shell: { jobs: [{ name: 'j{i}', command, parameters: { i: values } }] },
  };
  writeFileSync(file, stringify(batch));
  return file;
}
