// Throughput of distribute: N trivial jobs as one batch through a head and two compute
// daemons (one cpu each: two jobs at a time, as the peers run them), from `distribute add`
// to the last job done, its result archived.
import { BenchCluster, writeShellBatch } from './cluster.js';

export interface ThroughputResult {
  jobs: number;
  seconds: number;
  failed: number;
  headPeakRss: number;
  nodePeakRss: number[];
  addSeconds: number;
  /** CPU seconds used during the run: head, each node (its own), and its children (the launcher and the jobs it started) */
  cpu: { head: number; nodes: number[]; jobs: number };
}

export async function distributeThroughput(n: number, dir: string, opts: { cpuProf?: string } = {}): Promise<ThroughputResult> {
  const c = await BenchCluster.start({ nodes: [{ name: 'n1', cpus: 1 }, { name: 'n2', cpus: 1 }], ...(opts.cpuProf ? { cpuProf: opts.cpuProf } : {}) });
  try {
    const file = writeShellBatch(dir, `throughput${n}`, n);
    const daemons = [c.head, ...c.nodes.values()];
    const cpu0 = await Promise.all(daemons.map((d) => d.cpu()));
    const start = process.hrtime.bigint();
    const add = await c.cli(['add', file]);
    if (add.code !== 0) throw new Error(`distribute add failed (${add.code}): ${add.stderr}`);
    const addSeconds = Number(process.hrtime.bigint() - start) / 1e9;
    const failed = await c.waitEnded('bench', `throughput${n}`, n);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const headPeakRss = (await c.head.memory()).peak;
    const cpu1 = await Promise.all(daemons.map((d) => d.cpu()));
    const used = cpu1.map((c1, i) => ({ self: c1.self - cpu0[i]!.self, children: c1.children - cpu0[i]!.children }));
    const cpu = { head: used[0]!.self, nodes: used.slice(1).map((u) => u.self), jobs: used.slice(1).reduce((a, u) => a + u.children, 0) };
    const nodePeakRss = await Promise.all([...c.nodes.values()].map(async (d) => (await d.memory()).peak));
    return { jobs: n, seconds, failed, headPeakRss, nodePeakRss, addSeconds, cpu };
  } finally {
    await c.stop();
  }
}
