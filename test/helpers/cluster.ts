// A real cluster for integration tests: `distribute head` and N `distribute compute` daemons
// as child processes of the test, on 127.0.0.1, each with its own temporary state or work
// folder, tokens made with `distribute token create`. Readiness is read from their JSON log
// lines (the head's `listening`, each node's `registered`), never guessed with sleeps.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { StatusBatch } from '../../shared/protocol/api.js';
import { runCli, spawnCli, tempDir, type CliResult } from './cli.js';
import { removeCgroupSubtree, uniqueCgroupParent } from './cgroups.js';

export type LogLine = Record<string, unknown> & { event?: string; msg?: string };

/** A daemon started by the test, with every JSON line it logged. */
export class Daemon {
  readonly lines: LogLine[] = [];
  readonly raw: string[] = [];
  private waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  private exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    let buffer = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buffer += d;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        this.take(line);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => this.raw.push(`[stderr] ${d.trimEnd()}`));
    child.on('exit', (code, signal) => {
      this.exited = { code, signal };
      this.raw.push(`[exit] code ${code} signal ${signal}`);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  private take(line: string): void {
    this.raw.push(line);
    let parsed: LogLine;
    try {
      parsed = JSON.parse(line) as LogLine;
    } catch {
      return;
    }
    this.lines.push(parsed);
    for (const w of [...this.waiters]) {
      if (w.match(parsed)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(parsed);
      }
    }
  }

  /** The first log line (already written or to come) that matches; fails if the daemon exits first. */
  waitFor(match: (l: LogLine) => boolean, what: string, timeoutMs = 15_000): Promise<LogLine> {
    const found = this.lines.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        this.child.off('exit', onExit);
        reject(new Error(`${this.name}: ${why} waiting for ${what}; last lines:\n${this.raw.slice(-15).join('\n')}`));
      };
      const onExit = () => setImmediate(() => fail('exited'));
      const timer = setTimeout(() => fail(`${timeoutMs} ms passed`), timeoutMs);
      if (this.exited) return onExit();
      this.child.once('exit', onExit);
      this.waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          this.child.off('exit', onExit);
          resolve(l);
        },
      });
    });
  }

  event(name: string, extra: (l: LogLine) => boolean = () => true, timeoutMs?: number): Promise<LogLine> {
    return this.waitFor((l) => l.event === name && extra(l), `event ${name}`, timeoutMs);
  }

  count(name: string, extra: (l: LogLine) => boolean = () => true): number {
    return this.lines.filter((l) => l.event === name && extra(l)).length;
  }

  /** Resolves once `n` lines of this event have been logged. */
  async events(name: string, n: number, extra: (l: LogLine) => boolean = () => true, timeoutMs = 30_000): Promise<void> {
    if (this.count(name, extra) >= n) return;
    await this.waitFor((l) => l.event === name && extra(l) && this.count(name, extra) >= n, `${n} ${name} events`, timeoutMs);
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill(signal);
    await done;
  }
}

export interface NodeSpec {
  name: string;
  capabilities?: string[];
  cpus?: number;
  memory?: string;
  gpus?: number;
  max_jobs?: number;
  /** compute.yaml fields laid over the ones made from this spec (ca, sandbox, ...) */
  config?: Record<string, unknown>;
  /** wait for the node to register before returning; default true */
  awaitRegistered?: boolean;
  /** more arguments for `distribute compute` (--drain-timeout, --log-level) */
  args?: string[];
}

export interface ClusterOptions {
  nodes?: NodeSpec[];
  /** head.yaml fields laid over the defaults */
  head?: Record<string, unknown>;
  /** runs before the head starts, given its (not yet made) state dir: e.g. mounts a file system there */
  beforeHead?: (stateDir: string) => void | Promise<void>;
}

/** Last non-empty line of a command's stdout: where `token create` prints the token. */
function lastLine(r: CliResult): string {
  const lines = r.stdout.trim().split('\n');
  return lines[lines.length - 1]!.trim();
}

export class TestCluster {
  readonly root: string;
  readonly stateDir: string;
  /** XDG_CONFIG_HOME of the CLI runs, so no real user config is read */
  readonly configHome: string;
  head!: Daemon;
  url = '';
  readonly nodes = new Map<string, Daemon>();
  readonly workDirs = new Map<string, string>();
  /** every daemon started, replaced ones (restarts) included, oldest first */
  readonly history: Daemon[] = [];
  private headFields: Record<string, unknown> = {};
  private readonly nodeArgs = new Map<string, string[]>();
  private readonly cleanup: () => void;
  /** the subtree of this cluster's nodes' job cgroups */
  readonly cgroupParent = uniqueCgroupParent('cluster');
  private readonly userTokens = new Map<string, string>();

  constructor() {
    const t = tempDir('distribute-cluster-');
    this.root = t.dir;
    this.cleanup = t.cleanup;
    this.stateDir = join(this.root, 'head-state');
    this.configHome = join(this.root, 'config-home');
    mkdirSync(this.configHome);
  }

  static async start(opts: ClusterOptions = {}): Promise<TestCluster> {
    const c = new TestCluster();
    try {
      await opts.beforeHead?.(c.stateDir);
      await c.startHead(opts.head ?? {});
      await Promise.all((opts.nodes ?? []).map((n) => c.startNode(n)));
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  /** Environment of a CLI run as user `token`. */
  env(token: string | null): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { XDG_CONFIG_HOME: this.configHome, DISTRIBUTE_HEAD: this.url };
    if (token !== null) env.DISTRIBUTE_TOKEN = token;
    return env;
  }

  async createToken(kind: 'node' | 'user', name: string, admin = false): Promise<string> {
    const r = await runCli(['token', 'create', '--state-dir', this.stateDir, `--${kind}`, name, ...(admin ? ['--admin'] : [])], { env: { XDG_CONFIG_HOME: this.configHome } });
    if (r.code !== 0) throw new Error(`token create --${kind} ${name} failed (${r.code}): ${r.stderr}`);
    return lastLine(r);
  }

  /** A user's token, made on first use. */
  async user(name: string, admin = false): Promise<string> {
    let t = this.userTokens.get(name);
    if (!t) {
      t = await this.createToken('user', name, admin);
      this.userTokens.set(name, t);
    }
    return t;
  }

  /** Runs `distribute ARGS` as `user` (a name, made on first use) against this head. */
  async cli(args: string[], opts: { user?: string; token?: string | null; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
    const token = opts.token !== undefined ? opts.token : await this.user(opts.user ?? 'alice');
    return runCli(args, { env: this.env(token), ...(opts.cwd ? { cwd: opts.cwd } : {}), timeoutMs: opts.timeoutMs ?? 30_000 });
  }

  /** Runs a CLI command that must succeed and returns its stdout parsed as JSON. */
  async json<T>(args: string[], opts: { user?: string } = {}): Promise<T> {
    const r = await this.cli([...args, '--json'], opts);
    if (r.code !== 0) throw new Error(`distribute ${args.join(' ')} --json failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /**
   * The batch's status straight from the head's HTTP API (cheaper than a CLI run, for tests
   * that poll); null while the head is down or does not know the batch.
   */
  async statusOf(batch: string, user = 'alice'): Promise<StatusBatch | null> {
    const token = await this.user(user);
    try {
      const res = await fetch(`${this.url.replace(/^ws/, 'http')}/v1/status?batch=${encodeURIComponent(batch)}`, { headers: { authorization: `Bearer ${token}` } });
      if (res.status !== 200) return null;
      return ((await res.json()) as StatusBatch[])[0] ?? null;
    } catch {
      return null;
    }
  }

  private async startHead(fields: Record<string, unknown>, listen = '127.0.0.1:0'): Promise<void> {
    this.headFields = fields;
    const file = join(this.root, 'head.yaml');
    // small results a file each, unless a test asks for segments: many tests look at a job's
    // archive on disk by its name (TEST_SMALL_RESULTS=segments runs them all with segments)
    const smallResults = process.env.TEST_SMALL_RESULTS ?? 'files';
    writeFileSync(file, stringify({ listen, state_dir: this.stateDir, small_results: smallResults, ...fields }));
    this.head = new Daemon('head', spawnCli(['head', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { XDG_CONFIG_HOME: this.configHome } }));
    this.history.push(this.head);
    const listening = await this.head.event('listening');
    this.url = String(listening.url);
  }

  /** SIGKILLs the head (no warning, as a crash) and starts it again, `downMs` later, on the same port and state. */
  async restartHead(downMs = 0): Promise<Daemon> {
    await this.head.stop('SIGKILL');
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.startHead(this.headFields, new URL(this.url.replace(/^ws/, 'http')).host);
    return this.head;
  }

  /** SIGKILLs a compute daemon and starts it again with the same config and work dir; waits for its registration unless told not to. */
  async restartNode(name: string, opts: { wait?: boolean } = {}): Promise<Daemon> {
    await this.node(name).stop('SIGKILL');
    const d = this.spawnNode(name);
    if (opts.wait !== false) await d.event('registered');
    return d;
  }

  private spawnNode(name: string): Daemon {
    const config = join(this.root, `node-${name}`, 'compute.yaml');
    const d = new Daemon(name, spawnCli(['compute', '--config', config, ...(this.nodeArgs.get(name) ?? [])], { stdio: ['ignore', 'pipe', 'pipe'], env: { XDG_CONFIG_HOME: this.configHome } }));
    this.nodes.set(name, d);
    this.history.push(d);
    return d;
  }

  /** Starts a compute daemon; with `token`, that one instead of a fresh node token, and no wait for registration. */
  async startNode(n: NodeSpec, opts: { token?: string } = {}): Promise<Daemon> {
    const dir = join(this.root, `node-${n.name}`);
    mkdirSync(dir, { recursive: true });
    const token = opts.token ?? (await this.createToken('node', n.name));
    writeFileSync(join(dir, 'node.token'), token + '\n');
    const resources: Record<string, unknown> = { cpus: n.cpus ?? 1, gpus: n.gpus ?? 0 };
    if (n.memory) resources.memory = n.memory;
    // jobs run as the test's user unless a test gives them uids (test files are the test's, 0700)
    const config: Record<string, unknown> = { head: this.url, token_file: 'node.token', name: n.name, capabilities: n.capabilities ?? [], work_dir: 'work', resources, cgroup_parent: `${this.cgroupParent}/${n.name}`, job_uids: 'none' };
    if (n.max_jobs) config.max_jobs = n.max_jobs;
    writeFileSync(join(dir, 'compute.yaml'), stringify({ ...config, ...n.config }));
    this.nodeArgs.set(n.name, n.args ?? []);
    const d = this.spawnNode(n.name);
    this.workDirs.set(n.name, join(dir, 'work'));
    if (opts.token === undefined && n.awaitRegistered !== false) await d.event('registered');
    return d;
  }

  node(name: string): Daemon {
    const d = this.nodes.get(name);
    if (!d) throw new Error(`no node ${name} in this cluster`);
    return d;
  }

  /** SIGKILL every daemon, wait for them to be gone, and remove every folder. */
  async stop(): Promise<void> {
    const all = [...this.nodes.values(), ...(this.head ? [this.head] : [])];
    await Promise.all(all.map((d) => d.stop('SIGKILL')));
    await removeCgroupSubtree(this.cgroupParent);
    this.cleanup();
  }
}
