// What this machine offers: cpus, memory and NVIDIA GPUs as systeminformation sees them,
// each overridable by compute.yaml's `resources`; and the capabilities worth offering by
// default (what is installed here), for `distribute up`.
import si from 'systeminformation';
import type { NodeResources } from '../shared/protocol/common.js';
import { isOnPath as onPath } from './container.js';

export interface ResourceOverrides {
  cpus?: number | undefined;
  memory?: number | undefined;
  gpus?: number | undefined;
}

/** Counts the machine's logical cpus, total memory and NVIDIA GPUs; a configured field wins. */
export async function detectResources(overrides: ResourceOverrides = {}): Promise<NodeResources> {
  const [cpus, memory, gpus] = await Promise.all([
    overrides.cpus ?? si.cpu().then((c) => Math.max(1, c.cores)),
    overrides.memory ?? si.mem().then((m) => m.total),
    overrides.gpus ?? si.graphics().then((g) => g.controllers.filter((c) => /nvidia/i.test(`${c.vendor} ${c.model}`)).length).catch(() => 0),
  ]);
  return { cpus, memory, gpus };
}

/**
 * Capabilities this machine can honour as installed: `shell` always, `python3` when it is on
 * PATH, `apptainer` when apptainer or singularity is (and `singularity` for the latter).
 */
export function detectCapabilities(path = process.env.PATH): string[] {
  const caps = ['shell'];
  if (onPath('python3', path)) caps.push('python3');
  const apptainer = onPath('apptainer', path);
  const singularity = onPath('singularity', path);
  // the runner falls back to singularity for apptainer jobs, so either offers `apptainer`
  if (apptainer || singularity) caps.push('apptainer');
  if (singularity) caps.push('singularity');
  return caps;
}
