// Readable tables for `status` and `nodes` (the --json forms are the API's shapes as they are).
import type { NodeInfo, StatusBatch } from '../../shared/protocol/api.js';
import { formatBytes } from '../../shared/spec/units.js';
import { batchMemoryHint, cpuCell, memoryCell } from './usage.js';

/** Left-aligned columns, two spaces apart; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const COUNTS = ['queued', 'assigned', 'running', 'paused', 'done', 'failed', 'cancelled'] as const;

export function formatStatus(batches: StatusBatch[], opts: { jobs: boolean }): string {
  if (batches.length === 0) return 'no batches';
  const summary = table(
    ['BATCH', 'STATE', ...COUNTS.map((c) => c.toUpperCase()), 'TOTAL'],
    batches.map((b) => [`${b.namespace}/${b.batch_name}`, b.state, ...COUNTS.map((c) => String(b.counts[c])), String(b.jobs.length || COUNTS.reduce((n, c) => n + b.counts[c], 0))]),
  );
  if (!opts.jobs) return summary;
  const parts = [summary];
  for (const b of batches) {
    const hint = batchMemoryHint(b);
    parts.push(
      `\n${b.namespace}/${b.batch_name}\n` +
        (hint ? `${hint}\n` : '') +
        table(
          ['JOB', 'STATE', 'NODE', 'ATTEMPT', 'EXIT', 'PEAK MEM / ASKED', 'CPU', 'WHY'],
          b.jobs.map((j) => [j.name, j.state, j.node ?? '-', String(j.attempt), j.exit_code === null ? '-' : String(j.exit_code), memoryCell(j), cpuCell(j), j.error ?? j.waiting ?? '']),
        ),
    );
    for (const f of b.build_failures ?? []) {
      parts.push(`\nbuild failed on node ${f.node} at ${new Date(f.at).toISOString()}:\n${f.log.replace(/^/gm, '  ')}`);
    }
  }
  return parts.join('\n');
}

export function formatNodes(nodes: NodeInfo[]): string {
  if (nodes.length === 0) return 'no nodes have registered with the head yet';
  return table(
    ['NODE', 'STATE', 'CPUS', 'MEMORY', 'GPUS', 'RUNNING', 'CAPABILITIES'],
    nodes.map((n) => [
      n.name,
      n.state,
      String(n.resources.cpus),
      formatBytes(n.resources.memory),
      String(n.resources.gpus),
      String(n.running.length + n.hidden_running),
      n.capabilities.join(',') || '-',
    ]),
  );
}

export function formatCapabilities(nodes: NodeInfo[]): string {
  if (nodes.length === 0) return 'no nodes have registered with the head yet';
  return table(['NODE', 'STATE', 'CAPABILITIES'], nodes.map((n) => [n.name, n.state, n.capabilities.join(', ') || '-']));
}
