// Where an installed head or compute daemon keeps its things (the paths the systemd units
// name). `distribute install` lays them out, the example configs are rewritten to them, and
// `distribute doctor` and `distribute pause` look there by default.
import { join } from 'node:path';

export type Role = 'head' | 'compute';
export const ROLES: readonly Role[] = ['head', 'compute'];

export const SYSTEM_USER = 'distribute';

export const SYSTEM = {
  /** ConfigurationDirectory=distribute: head.yaml, compute.yaml, node.token, TLS files */
  configDir: '/etc/distribute',
  /** StateDirectory=distribute; the head and the compute daemon each have a folder in it, so one machine may run both */
  stateDir: '/var/lib/distribute',
  /** RuntimeDirectory=distribute (compute): the pause socket */
  runtimeDir: '/run/distribute',
  unitDir: '/etc/systemd/system',
  launcher: '/usr/local/bin/distribute',
} as const;

export const INSTALLED = {
  headConfig: join(SYSTEM.configDir, 'head.yaml'),
  computeConfig: join(SYSTEM.configDir, 'compute.yaml'),
  headStateDir: join(SYSTEM.stateDir, 'head'),
  computeWorkDir: join(SYSTEM.stateDir, 'compute'),
  nodeToken: join(SYSTEM.configDir, 'node.token'),
  controlSocket: join(SYSTEM.runtimeDir, 'control.sock'),
} as const;

export function unitName(role: Role): string {
  return `distribute-${role}.service`;
}

export function configFileOf(role: Role): string {
  return role === 'head' ? INSTALLED.headConfig : INSTALLED.computeConfig;
}

/** `path` (absolute, as on the target machine) under `prefix` (`/` for this machine). */
export function underPrefix(prefix: string, path: string): string {
  return prefix === '/' ? path : join(prefix, path);
}
