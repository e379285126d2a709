// The allocation decision, pure: how many pilots to submit to one allocation queue, from the
// jobs that wait and the pilots already on their way. Tested with tables, like the scheduler.
//
// Only usable capacity counts. A group of waiting jobs (same batch, resource shape and time
// limit) wants pilots only when a pilot of this queue could run them: every capability, the
// cpus, memory and GPUs, and a time limit within what a pilot has once it starts. Jobs the
// lab's own connected nodes could run are left to them (the caller drops those groups).
// Pilots submitted but not yet connected are coming capacity: they are subtracted, so a
// queue that waits in the batch system does not get more submissions every pass; and the
// queue never holds more than max_pilots live pilots.
import type { Demand } from '../scheduler.js';
import { missingCapabilities } from '../scheduler.js';
import { formatBytes, formatDuration } from '../../shared/spec/units.js';

/** What one pilot of a queue offers. */
export interface PilotShape {
  queue: string;
  capabilities: readonly string[];
  cpus: number;
  /** bytes; null: not stated (jobs that reserve memory do not count on it) */
  memory: number | null;
  gpus: number;
  /** seconds a job may run on a fresh pilot: its walltime less the drain margin */
  usableSeconds: number;
}

/** Queued jobs that could run alike. */
export interface WaitingGroup {
  capabilities: readonly string[];
  demand: Demand;
  /** pin list; null: anywhere */
  nodes: readonly string[] | null;
  /** the jobs' time limit in seconds; null: none */
  time: number | null;
  count: number;
}

export interface QueueState {
  maxPilots: number;
  /** pilots not ended (pending, starting, connected) */
  live: number;
  /** of those, the ones not connected yet: capacity on its way */
  coming: number;
  /** paused by an admin or by failed submissions, or backing off: submit nothing */
  held: boolean;
}

export interface Decision {
  /** pilots to submit now */
  submit: number;
  /** pilots the waiting jobs would fill, before subtracting those coming and the cap */
  wanted: number;
}

/** Why a pilot of this queue could never run jobs of this group; null when it could. */
export function pilotMisfit(pilot: PilotShape, group: Omit<WaitingGroup, 'count'>): string | null {
  const of = `pilots of queue ${pilot.queue}`;
  if (group.nodes) return `pinned to ${group.nodes.join(', ')}`;
  const missing = missingCapabilities(group.capabilities, pilot.capabilities);
  if (missing.length) return `${of} lack capabilit${missing.length === 1 ? 'y' : 'ies'} ${missing.join(', ')}`;
  const d = group.demand;
  if (d.cpus > pilot.cpus) return `needs ${d.cpus} cpus, ${of} have ${pilot.cpus}`;
  if (d.gpus > pilot.gpus) return `needs ${d.gpus} GPUs, ${of} have ${pilot.gpus}`;
  if (d.memory !== null && (pilot.memory === null || d.memory > pilot.memory)) {
    return pilot.memory === null ? `needs memory, ${of} state none` : `needs ${formatBytes(d.memory)} memory, ${of} have ${formatBytes(pilot.memory)}`;
  }
  if (group.time === null) return `has no time limit (resources.time), and ${of} run jobs of at most ${formatDuration(pilot.usableSeconds * 1000)}`;
  if (group.time > pilot.usableSeconds) return `needs ${formatDuration(group.time * 1000)}, ${of} run jobs of at most ${formatDuration(pilot.usableSeconds * 1000)}`;
  return null;
}

/** How many jobs of the group one pilot runs at once. */
export function perPilot(pilot: PilotShape, d: Demand): number {
  let n = Math.floor(pilot.cpus / d.cpus);
  if (d.gpus > 0) n = Math.min(n, Math.floor(pilot.gpus / d.gpus));
  if (d.memory !== null && d.memory > 0 && pilot.memory !== null) n = Math.min(n, Math.floor(pilot.memory / d.memory));
  return Math.max(0, n);
}

export function decide(pilot: PilotShape, groups: readonly WaitingGroup[], state: QueueState): Decision {
  let fill = 0;
  for (const g of groups) {
    if (g.count <= 0 || pilotMisfit(pilot, g) !== null) continue;
    const n = perPilot(pilot, g.demand);
    if (n > 0) fill += g.count / n;
  }
  // a small tolerance: 3 groups of a third of a pilot each want one pilot, not two
  const wanted = Math.max(0, Math.ceil(fill - 1e-9));
  if (state.held) return { submit: 0, wanted };
  const submit = Math.max(0, Math.min(wanted - state.coming, state.maxPilots - state.live));
  return { submit, wanted };
}
