// A few lines that tell a user what a valid batch file stands for (validate, add --dry).
import { formatBytes, formatSlurmTime } from './units.js';
import type { BatchSpec, Resources } from './types.js';

function resourcesText(r: Resources): string {
  const parts = [`${r.cpus} cpu${r.cpus === 1 ? '' : 's'}`];
  if (r.gpus > 0) parts.push(`${r.gpus} gpu${r.gpus === 1 ? '' : 's'}`);
  parts.push(r.memory === null ? 'no memory reservation' : formatBytes(r.memory));
  parts.push(r.time === null ? 'no time limit' : formatSlurmTime(r.time));
  return parts.join(', ');
}

/** `name, name, name and 97 more` */
export function listSome(names: readonly string[], shown = 5): string {
  if (names.length <= shown) return names.join(', ');
  return `${names.slice(0, shown).join(', ')} and ${names.length - shown} more`;
}

export function summarizeBatch(batch: BatchSpec): string {
  const distinct = new Map<string, number>();
  for (const job of batch.jobs) {
    const text = resourcesText(job.resources);
    distinct.set(text, (distinct.get(text) ?? 0) + 1);
  }
  const resources = [...distinct].map(([text, n]) => (distinct.size === 1 ? text : `${n} × ${text}`));
  const waiting = batch.jobs.filter((j) => (j.after?.length ?? 0) > 0).length;
  const order = [
    ...(waiting > 0 ? [`order:        ${waiting} job${waiting === 1 ? ' waits' : 's wait'} for others (after:)`] : []),
    ...(batch.finalize ? [`finalize:     once every job has ended`] : []),
  ];
  return [
    `batch:        ${batch.meta.batch_name}`,
    `namespace:    ${batch.meta.namespace}`,
    `kind:         ${batch.kind}`,
    `jobs:         ${batch.jobs.length} (${listSome(batch.jobs.map((j) => j.name))})`,
    `capabilities: ${batch.meta.capabilities.length ? batch.meta.capabilities.join(', ') : '(none)'}`,
    `resources:    ${resources.join('; ')}`,
    ...order,
  ].join('\n');
}
