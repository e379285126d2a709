// Red-team run: starts a real head (and one honest node), fires the bad inputs a hostile user
// or node would (a node token in hostile hands plays a node by hand: test/helpers/raw-node.ts),
// and prints for each whether it was refused, how, and how long it took.
// `npm run build && node --import tsx test/redteam/run.ts`
import { readFileSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { request } from 'node:http';
import { PROTOCOL_VERSION } from '../../shared/protocol/common.js';
import { TestCluster } from '../helpers/cluster.js';
import { RawNode } from '../helpers/raw-node.js';

type Row = { input: string; refused: boolean; how: string; ms: number };
const rows: Row[] = [];
const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim().slice(0, 100);

async function timed(input: string, fire: () => Promise<{ refused: boolean; how: string }>): Promise<void> {
  const t0 = performance.now();
  try {
    const r = await fire();
    rows.push({ input, ...r, how: oneLine(r.how), ms: Math.round(performance.now() - t0) });
  } catch (err) {
    rows.push({ input, refused: false, how: `error: ${oneLine(String(err))}`, ms: Math.round(performance.now() - t0) });
  }
}

const c = await TestCluster.start({ nodes: [{ name: 'honest', capabilities: ['shell'] }] });
try {
  const big = join(c.root, 'big.yaml');
  const fd = openSync(big, 'w');
  writeSync(fd, 'meta: {batch_name: big, namespace: n}\nshell:\n  jobs:\n');
  const line = Buffer.from('    - {name: j, command: "echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}\n');
  for (let n = 0; n < 50 * 1024 * 1024; n += line.length * 1024) writeSync(fd, Buffer.concat(Array(1024).fill(line)));
  closeSync(fd);
  await timed('50 MB batch (add)', async () => {
    const r = await c.cli(['add', big]);
    return { refused: r.code === 2, how: `exit ${r.code}: ${r.stderr}` };
  });

  await timed('1 GB body (declared)', async () => {
    const token = await c.user('alice');
    const status = await new Promise<string>((resolve, reject) => {
      const req = request(new URL('/v1/batches', c.url.replace(/^ws/, 'http')), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-length': String(1024 ** 3) } }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve(`${res.statusCode} ${body}`));
      });
      req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e)));
      req.write(Buffer.alloc(1024 * 1024));
    });
    return { refused: status.startsWith('413'), how: status };
  });

  const bomb = join(c.root, 'bomb.yaml');
  writeFileSync(bomb, ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 9 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`), 'meta: {batch_name: b, namespace: n}', 'shell: {jobs: [{name: j, command: "true"}]}'].join('\n'));
  await timed('alias bomb (validate)', async () => {
    const r = await c.cli(['validate', bomb]);
    return { refused: r.code === 2, how: `exit ${r.code}: ${r.stderr}` };
  });

  const long = join(c.root, 'long.yaml');
  writeFileSync(long, `meta: {batch_name: long, namespace: n}\nshell:\n  jobs:\n    - name: j\n      command: "${'x'.repeat(17 * 1024 * 1024)}"\n`);
  await timed('17 MB command (add)', async () => {
    const r = await c.cli(['add', long]);
    return { refused: r.code === 2, how: `exit ${r.code}: ${r.stderr}` };
  });

  await timed('hello claiming 1e9 cpus', async () => {
    const evil = await RawNode.connect(c, await c.createToken('node', 'greedy'));
    evil.send({ type: 'hello', protocol: PROTOCOL_VERSION, node: 'greedy', capabilities: ['shell'], resources: { cpus: 1e9, memory: 1024 ** 3, gpus: 0 }, maxJobs: null, running: [], unacknowledged: [], paused: false });
    const m = await evil.next((x) => x.type === 'error', 'a refusal');
    evil.ws.close();
    return { refused: true, how: m.type === 'error' ? m.message : m.type };
  });

  await timed('build_failed for a batch never given', async () => {
    const evil = await RawNode.connect(c, await c.createToken('node', 'evil'));
    evil.send({ type: 'hello', protocol: PROTOCOL_VERSION, node: 'evil', capabilities: ['evil'], resources: { cpus: 1, memory: 1024 ** 3, gpus: 0 }, maxJobs: null, running: [], unacknowledged: [], paused: false });
    await evil.next((x) => x.type === 'welcome', 'a welcome');
    evil.send({ type: 'build_failed', batchId: 1, attempt: 1, log: 'evil says build failed' });
    const m = await evil.next((x) => x.type === 'error', 'a refusal');
    evil.ws.close();
    return { refused: true, how: m.type === 'error' ? m.message : m.type };
  });

  // a job for the honest node, and one only the hostile node below can run
  const honest = join(c.root, 'honest.yaml');
  writeFileSync(honest, 'meta: {batch_name: honest, namespace: n, capabilities: [shell]}\nshell: {jobs: [{name: j, command: "sleep 5"}]}\n');
  const bait = join(c.root, 'bait.yaml');
  writeFileSync(bait, 'meta: {batch_name: bait, namespace: n, capabilities: [bomber]}\nshell: {jobs: [{name: j, command: "true"}]}\n');
  const bomber = await RawNode.connect(c, await c.createToken('node', 'bomber'));
  bomber.hello('bomber', { cpus: 1, memory: 1024 ** 3, gpus: 0 }, ['bomber']);
  await bomber.next((x) => x.type === 'welcome', 'a welcome');

  await timed("finished for another node's attempt", async () => {
    await c.cli(['add', honest]);
    const attempt = Number((await c.head.event('job_assigned', (l) => l.batch === 'honest')).attempt);
    bomber.send({ type: 'finished', attempt, exitCode: 1, signal: null, timedOut: false, cancelled: false, error: 'bomber says it failed' });
    const m = await bomber.next((x) => x.type === 'drop' && x.attempt === attempt, 'a drop');
    const st = await c.statusOf('honest');
    return { refused: m.type === 'drop' && !JSON.stringify(st).includes('bomber says'), how: m.type === 'drop' ? `drop: ${m.reason}` : m.type };
  });

  await timed('gzip bomb as a result (256 MiB of zeros)', async () => {
    await c.cli(['add', bait]);
    const assigned = await bomber.next((x) => x.type === 'assign', 'an assignment');
    const attempt = assigned.type === 'assign' ? assigned.attempt : 0;
    bomber.send({ type: 'started', attempt, pid: 1 });
    bomber.send({ type: 'finished', attempt, exitCode: 0, signal: null, timedOut: false, cancelled: false, error: null });
    bomber.send({ type: 'result', id: 1, attempt, data: gzipSync(Buffer.alloc(256 * 1024 * 1024)) });
    const m = await bomber.next((x) => x.type === 'result_taken', 'a result_taken', 60_000);
    const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${c.head.pid}/status`, 'utf8'))![1]) >> 10;
    return { refused: m.type === 'result_taken' && m.status !== 200, how: m.type === 'result_taken' ? `${m.status} ${m.message}; head peak RSS ${hwm} MiB` : m.type };
  });
  bomber.ws.close();
} finally {
  const lost = c.head.count('node_lost');
  await c.stop();
  const w = [42, 8, 8];
  console.log(['INPUT'.padEnd(w[0]!), 'REFUSED'.padEnd(w[1]!), 'MS'.padEnd(w[2]!), 'HOW'].join('  '));
  for (const r of rows) console.log([r.input.padEnd(w[0]!), (r.refused ? 'yes' : 'NO').padEnd(w[1]!), String(r.ms).padEnd(w[2]!), r.how].join('  '));
  console.log(`nodes lost during the run: ${lost}`);
}
