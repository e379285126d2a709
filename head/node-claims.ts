// What a node may claim in its hello: no more than one machine can have. A node token is a
// credential that can be stolen; a hello claiming a billion cpus would take the whole queue
// and then go silent, and every job would end "lost its node" (docs/hostile-input.md).
import type { NodeMessage } from '../shared/protocol/messages.js';
import { formatBytes } from '../shared/spec/units.js';

type Hello = Extract<NodeMessage, { type: 'hello' }>;

export const MAX_NODE_CPUS = 4096;
export const MAX_NODE_MEMORY = 64 * 1024 ** 4;
export const MAX_NODE_GPUS = 64;
export const MAX_NODE_JOBS = 4096;
export const MAX_NODE_CAPABILITIES = 256;
export const MAX_CAPABILITY_CHARS = 128;

/** Why this hello's claims cannot be true of one machine; null when they can. */
export function implausibleClaim(hello: Hello): string | null {
  const r = hello.resources;
  if (r.cpus > MAX_NODE_CPUS) return `claims ${r.cpus} cpus; one machine has at most ${MAX_NODE_CPUS}`;
  if (r.memory > MAX_NODE_MEMORY) return `claims ${formatBytes(r.memory)} of memory; one machine has at most ${formatBytes(MAX_NODE_MEMORY)}`;
  if (r.gpus > MAX_NODE_GPUS) return `claims ${r.gpus} GPUs; one machine has at most ${MAX_NODE_GPUS}`;
  if (hello.maxJobs !== null && hello.maxJobs > MAX_NODE_JOBS) return `claims room for ${hello.maxJobs} jobs at once; at most ${MAX_NODE_JOBS}`;
  if (hello.capabilities.length > MAX_NODE_CAPABILITIES) return `claims ${hello.capabilities.length} capabilities; at most ${MAX_NODE_CAPABILITIES}`;
  const long = hello.capabilities.find((c) => c.length > MAX_CAPABILITY_CHARS);
  if (long !== undefined) return `claims a capability of ${long.length} characters; at most ${MAX_CAPABILITY_CHARS}`;
  return null;
}
