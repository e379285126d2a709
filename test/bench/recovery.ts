// How long a job is without a node: from the moment its node dies to the moment another
// node (or the same one, restarted) logs `started` for it. Real daemons on 127.0.0.1, the
// head with the given node_timeout and heartbeat. Three ways to die:
//   lost       the compute daemon is SIGKILLed and stays down: the head waits node_timeout
//   hung       the compute daemon is SIGSTOPped: the same wait, from its last heartbeat
//   restarted  SIGKILLed and started again at once: its hello does not list the job, and the
//              head requeues it there and then
// Times are the starting node's log timestamp minus the test's clock at the strike.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TestCluster, type Daemon } from '../helpers/cluster.js';

export type RecoveryCase = 'lost' | 'hung' | 'restarted';

export interface RecoveryFigure {
  case: RecoveryCase;
  /** node death → job started again, one figure per run */
  ms: number[];
  median: number;
}

export interface RecoveryResult {
  nodeTimeoutMs: number;
  heartbeatMs: number;
  figures: RecoveryFigure[];
}

export interface RecoveryOptions {
  /** head.yaml node_timeout and heartbeat, in seconds; default the head's defaults, 5 and 1 */
  nodeTimeout?: number;
  heartbeat?: number;
  runs?: number;
  cases?: RecoveryCase[];
}

export async function measureRecovery(o: RecoveryOptions = {}): Promise<RecoveryResult> {
  const nodeTimeout = o.nodeTimeout ?? 5;
  const heartbeat = o.heartbeat ?? 1;
  const figures: RecoveryFigure[] = [];
  for (const kind of o.cases ?? ['lost', 'hung', 'restarted']) {
    const ms: number[] = [];
    for (let run = 0; run < (o.runs ?? 3); run++) ms.push(await oneRecovery(kind, nodeTimeout, heartbeat));
    figures.push({ case: kind, ms, median: [...ms].sort((a, b) => a - b)[Math.floor(ms.length / 2)]! });
  }
  return { nodeTimeoutMs: nodeTimeout * 1000, heartbeatMs: heartbeat * 1000, figures };
}

async function oneRecovery(kind: RecoveryCase, nodeTimeout: number, heartbeat: number): Promise<number> {
  const c = await TestCluster.start({ head: { node_timeout: nodeTimeout, heartbeat }, nodes: [{ name: 'victim', cpus: 1 }] });
  let victimJob: number | null = null;
  try {
    const pidFile = join(c.root, 'victim-job');
    const file = join(c.root, 'recovery.yaml');
    // the first attempt runs until the bench is done with it; the next one ends at once
    writeFileSync(file, stringify({
      meta: { batch_name: 'recovery', namespace: 'bench' },
      shell: { jobs: [{ name: 'long', command: `if [ "$DISTRIBUTE_ATTEMPT" = 1 ]; then echo $$ > ${pidFile}; sleep 120; fi` }] },
    }));
    const added = await c.cli(['add', file]);
    if (added.code !== 0) throw new Error(`add failed: ${added.stderr}`);
    const victim = c.node('victim');
    await victim.event('started', () => true, 30_000);
    victimJob = Number(readFileSync(pidFile, 'utf8'));
    const spare = await c.startNode({ name: 'spare', cpus: 1 });

    const watch: Daemon[] = [spare];
    const struck = Date.now();
    if (kind === 'hung') process.kill(victim.pid, 'SIGSTOP');
    else if (kind === 'lost') await victim.stop('SIGKILL');
    else watch.push(await c.restartNode('victim', { wait: false }));
    const started = await Promise.any(watch.map((d) => d.event('started', (l) => l.job === 'long', nodeTimeout * 1000 + 30_000)));
    if (kind === 'hung') process.kill(victim.pid, 'SIGCONT');
    return new Date(String(started.time)).getTime() - struck;
  } finally {
    if (victimJob !== null) {
      try {
        process.kill(-victimJob, 'SIGKILL');
      } catch {
        // already gone (the restarted daemon or the drop killed it)
      }
    }
    await c.stop();
  }
}

// `node --import tsx test/bench/recovery.ts [node_timeout heartbeat runs]` prints the figures
if (import.meta.url === `file://${process.argv[1]}`) {
  const [nodeTimeout, heartbeat, runs] = process.argv.slice(2).map(Number);
  const r = await measureRecovery({ ...(nodeTimeout ? { nodeTimeout } : {}), ...(heartbeat ? { heartbeat } : {}), ...(runs ? { runs } : {}) });
  console.log(JSON.stringify(r, null, 2));
}
