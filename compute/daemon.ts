// A compute daemon from its compute.yaml: the token (inline or from `token_file`), the node's
// name (the host name made safe when unset), capabilities as configured, and resources as
// detected with the config's overrides. Relative paths are relative to the config file.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { ComputeConfig } from '../shared/config.js';
import { resolveFrom } from '../shared/config.js';
import { UserError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { ComputeAgent, type StopOptions } from './agent.js';
import { detectResources } from './detect.js';
import { headEndpoint } from '../shared/head-http.js';
import { readCa } from '../shared/tls.js';
import { sandboxProblem, type SandboxPolicy } from './sandbox.js';
import { startPauseMachinery } from './pause-setup.js';
import { openContainment } from './cgroup/open.js';
import { JobUids, parseJobUids } from './job-uids.js';

/** The host name as a SafeName: other characters become `-`, at most 128 characters. */
export function safeHostName(name = hostname()): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 128);
  return safe || 'node';
}

async function readToken(config: ComputeConfig, configFile: string | null): Promise<string> {
  if (config.token) return config.token;
  if (!config.token_file) throw new UserError(`${configFile ?? 'compute config'}: token_file: set token_file (or token) to the node token made by \`distribute token create --node NAME\``);
  const file = configFile ? resolveFrom(configFile, config.token_file) : resolve(config.token_file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UserError(`${configFile ?? 'compute config'}: token_file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
  const token = text.trim().split('\n').pop()?.trim() ?? '';
  if (!token) throw new UserError(`${configFile ?? 'compute config'}: token_file: ${file} is empty`);
  return token;
}

/**
 * The sandbox of this node's jobs: besides the other workspaces (sandbox.ts), they must not
 * read the node's secrets nor reach its control socket (the daemon's user is theirs too).
 */
function sandboxPolicy(config: ComputeConfig, configFile: string | null): SandboxPolicy {
  const at = (p: string) => (configFile ? resolveFrom(configFile, p) : resolve(p));
  const hide: string[] = [];
  if (config.token_file) hide.push(at(config.token_file));
  if (config.token && configFile) hide.push(resolve(configFile));
  if (config.control_socket) hide.push(at(config.control_socket));
  return { hide };
}

/** The uids of this node's jobs: a range of its own when the daemon is root and job_uids is not none. */
async function jobUids(config: ComputeConfig, configFile: string | null): Promise<JobUids | null> {
  const range = parseJobUids(config.job_uids);
  if (!range || process.getuid?.() !== 0) return null;
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  if (!setpriv) throw new UserError(`${configFile ?? 'compute config'}: job_uids: running each job under a uid of its own needs setpriv (util-linux); install it, or set job_uids: none`, 1);
  return new JobUids(range[0], range[1], setpriv);
}

export interface ComputeDaemon {
  agent: ComputeAgent;
  node: string;
  capabilities: string[];
  workDir: string;
  /** the clean stop of ComputeAgent.stop */
  stop(opts?: StopOptions): Promise<void>;
}

/** Starts the daemon; it dials the head until stopped. */
export async function startComputeDaemon(config: ComputeConfig, configFile: string | null, logger: Logger): Promise<ComputeDaemon> {
  const token = await readToken(config, configFile);
  const workDir = configFile ? resolveFrom(configFile, config.work_dir) : resolve(config.work_dir);
  const node = config.name ?? safeHostName();
  const resources = await detectResources(config.resources);
  const sandbox = config.sandbox === 'bwrap' ? sandboxPolicy(config, configFile) : null;
  const problem = sandbox ? sandboxProblem(sandbox) : null;
  if (problem) throw new UserError(`${configFile ?? 'compute config'}: ${problem}`, 1);
  const containment = await openContainment({ mode: config.containment, parent: config.cgroup_parent ?? null, node });
  logger.info({ event: 'containment', kind: containment.kind, max_processes: config.max_processes }, containment.description);
  const swept = await containment.sweep().catch((err: unknown) => {
    logger.warn({ event: 'containment_sweep_failed', err: errorMessage(err) }, 'cannot clear the cgroups a previous run left');
    return 0;
  });
  if (swept > 0) logger.warn({ event: 'containment_swept', processes: swept }, 'killed processes a previous run left in its cgroups');
  const uids = await jobUids(config, configFile);
  logger.info({ event: 'job_identity', job_uids: uids ? config.job_uids : null }, uids ? uids.description : `jobs run as the daemon's user (${uids === null && process.getuid?.() === 0 ? 'job_uids: none' : 'not root'}): they are not isolated from each other`);
  const pause = await startPauseMachinery(config, configFile, node, logger);
  const agent = new ComputeAgent({
    pause: pause.controller,
    head: headEndpoint(config.head, token, config.ca ? readCa(configFile ? resolveFrom(configFile, config.ca) : resolve(config.ca), `${configFile ?? 'compute config'}: ca`) : null),
    node,
    capabilities: config.capabilities,
    resources,
    maxJobs: config.max_jobs ?? null,
    workDir,
    logger,
    sandbox,
    containment: { containment, maxProcesses: config.max_processes, uids },
  });
  logger.info({ event: 'compute_starting', node, head: config.head, work_dir: workDir, capabilities: config.capabilities, resources }, 'compute daemon starting');
  await agent.start();
  return { agent, node, capabilities: config.capabilities, workDir, stop: (opts?: StopOptions) => agent.stop(undefined, opts).finally(() => pause.stop()).finally(() => containment.close()) };
}
