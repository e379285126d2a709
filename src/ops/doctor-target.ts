// What `distribute doctor` examines, from where it runs:
//   - a laptop (no --config): the head, token and CA the other commands would use (--head,
//     --token, --ca, then DISTRIBUTE_*, then the user config);
//   - a workstation (--config compute.yaml): the daemon's head, node token and ca, its
//     work_dir's disk, and the sandbox when it is on;
//   - the head's machine (--config head.yaml): the head at its listen address, its state_dir's
//     disk and its certificate files.
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ComputeConfig, HeadConfig, loadConfig, resolveFrom, UserConfig, userConfigPath } from '../../shared/config.js';
import { errorMessage, UserError } from '../../shared/errors.js';
import { readCa } from '../../shared/tls.js';
import type { Check } from './check.js';
import type { ContainmentMode } from '../../compute/cgroup/open.js';

export interface DoctorTarget {
  /** the head's base URL; null when none is configured (a failed check says so) */
  head: string | null;
  token: string | null;
  /** where the token came from, for messages */
  tokenSource: string;
  ca: Buffer | null;
  /** the token the head should recognise: a node's on a workstation, a user's on a laptop */
  expectKind: 'user' | 'node' | null;
  /** a folder whose file system must have room */
  disk: { path: string; what: string } | null;
  /** head.yaml's certificate and key */
  tlsFiles: { cert: string; key: string } | null;
  /** compute.yaml asks for the bwrap sandbox */
  sandbox: boolean;
  /** compute.yaml's containment setting: what its jobs would get is checked */
  containment?: ContainmentMode;
  /** compute.yaml's job_uids, and the files a job must not reach (config, token file, control socket) */
  isolation?: { jobUids: string; secrets: string[] };
  /** do not check the certificate's name and CA when connecting (the head's own machine, by address) */
  insecure: boolean;
  /** problems found before talking to the head (an unreadable token file, CA file, ...) */
  problems: Check[];
}

export interface DoctorOptions {
  config?: string;
  head?: string;
  token?: string;
  ca?: string;
}

function fail(name: string, detail: string, fix: string): Check {
  return { name, status: 'FAIL', detail, fix };
}

function loadCa(file: string, where: string, problems: Check[]): Buffer | null {
  try {
    return readCa(file, where);
  } catch (err) {
    problems.push(fail('tls', errorMessage(err), `point ${where} at the PEM file of the CA that signed the head's certificate`));
    return null;
  }
}

function kindOf(file: string): 'compute' | 'head' {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch {
    return 'compute'; // loadConfig reports the problem
  }
  const keys = raw && typeof raw === 'object' ? Object.keys(raw) : [];
  return keys.includes('state_dir') || keys.includes('listen') ? 'head' : 'compute';
}

function computeTarget(file: string, o: DoctorOptions): DoctorTarget {
  const config = loadConfig(ComputeConfig, file);
  const problems: Check[] = [];
  let token: string | null = o.token ?? config.token ?? null;
  let tokenSource = o.token ? '--token' : `${file}: token`;
  if (!token && config.token_file) {
    const tf = resolveFrom(file, config.token_file);
    tokenSource = `${file}: token_file ${tf}`;
    try {
      token = readFileSync(tf, 'utf8').trim().split('\n').pop()?.trim() || null;
      if (!token) problems.push(fail('token', `${tf} is empty`, `put the node token from \`distribute token create --node NAME\` on the head in ${tf}`));
    } catch (err) {
      problems.push(fail('token', `cannot read ${tf}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, `put the node token in ${tf}, readable by the daemon's user (chgrp distribute; chmod 640)`));
    }
  }
  const caFile = o.ca ?? (config.ca ? resolveFrom(file, config.ca) : null);
  return {
    head: o.head ?? config.head,
    token,
    tokenSource,
    ca: caFile ? loadCa(caFile, o.ca ? '--ca' : `${file}: ca`, problems) : null,
    expectKind: 'node',
    disk: { path: resolveFrom(file, config.work_dir), what: 'work_dir' },
    tlsFiles: null,
    sandbox: config.sandbox === 'bwrap',
    containment: config.containment,
    isolation: {
      jobUids: config.job_uids,
      secrets: [file, ...(config.token_file ? [resolveFrom(file, config.token_file)] : []), ...(config.control_socket ? [resolveFrom(file, config.control_socket)] : [])],
    },
    insecure: false,
    problems,
  };
}

function headTarget(file: string, o: DoctorOptions, env: NodeJS.ProcessEnv): DoctorTarget {
  const config = loadConfig(HeadConfig, file);
  const problems: Check[] = [];
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(config.listen.trim());
  let host = m?.[1] ?? m?.[2] ?? '127.0.0.1';
  if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const url = `${config.tls ? 'wss' : 'ws'}://${hostPart}:${m?.[3] ?? '8952'}`;
  const token = o.token ?? (env.DISTRIBUTE_TOKEN || null);
  const caFile = o.ca ?? (env.DISTRIBUTE_CA || null);
  return {
    head: o.head ?? url,
    token,
    tokenSource: o.token ? '--token' : 'DISTRIBUTE_TOKEN',
    ca: caFile ? loadCa(caFile, o.ca ? '--ca' : 'DISTRIBUTE_CA', problems) : null,
    expectKind: null,
    disk: { path: resolveFrom(file, config.state_dir), what: 'state_dir' },
    tlsFiles: config.tls ? { cert: resolveFrom(file, config.tls.cert), key: resolveFrom(file, config.tls.key) } : null,
    sandbox: false,
    // by address, on its own machine: the certificate names the host as workstations know it
    insecure: !o.head,
    problems,
  };
}

function userTarget(o: DoctorOptions, env: NodeJS.ProcessEnv, configFile: string): DoctorTarget {
  let file: UserConfig | null = null;
  const problems: Check[] = [];
  if (existsSync(configFile)) {
    try {
      file = loadConfig(UserConfig, configFile);
    } catch (err) {
      problems.push(fail('config', errorMessage(err), `fix ${configFile}`));
    }
  }
  const head = o.head ?? (env.DISTRIBUTE_HEAD || file?.head || null);
  const token = o.token ?? (env.DISTRIBUTE_TOKEN || file?.token || null);
  const tokenSource = o.token ? '--token' : env.DISTRIBUTE_TOKEN ? 'DISTRIBUTE_TOKEN' : `${configFile}: token`;
  const caFile = o.ca ?? (env.DISTRIBUTE_CA || (file?.ca ? resolveFrom(configFile, file.ca) : null));
  const caWhere = o.ca ? '--ca' : env.DISTRIBUTE_CA ? 'DISTRIBUTE_CA' : `${configFile}: ca`;
  return {
    head,
    token,
    tokenSource,
    ca: caFile ? loadCa(caFile, caWhere, problems) : null,
    expectKind: 'user',
    disk: null,
    tlsFiles: null,
    sandbox: false,
    insecure: false,
    problems,
  };
}

/** The target from the command's options; a config that does not validate is a UserError (exit 2). */
export function doctorTarget(o: DoctorOptions, env: NodeJS.ProcessEnv = process.env, configFile = userConfigPath()): DoctorTarget {
  if (o.config) {
    if (!existsSync(o.config)) throw new UserError(`--config: no such file ${o.config}`);
    return kindOf(o.config) === 'head' ? headTarget(o.config, o, env) : computeTarget(o.config, o);
  }
  return userTarget(o, env, configFile);
}
