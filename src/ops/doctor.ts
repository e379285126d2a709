// `distribute doctor`: is this machine set up to talk to the head, and if not, what to fix.
// Each check ends `ok`, `warn` (works, but look), `FAIL` (does not work) or `skip` (could
// not be checked because an earlier one failed), with the fix on the same line. Exit 1 when
// any check FAILs. The checks, in order: head reachable, TLS, token, clock, protocol, and
// with a config: free disk, sandbox (compute), certificate files (head).
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { headUrls } from '../../shared/config.js';
import { errorMessage } from '../../shared/errors.js';
import type { Version } from '../../shared/protocol/api.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/common.js';
import { formatBytes } from '../../shared/spec/units.js';
import { tlsProblem } from '../../shared/tls.js';
import { VERSION } from '../../shared/version.js';
import { sandboxProblem } from '../../compute/sandbox.js';
import type { Check } from './check.js';
import { openContainment, type ContainmentMode } from '../../compute/cgroup/open.js';
import { isolationCheck } from './doctor-isolation.js';
import type { DoctorTarget } from './doctor-target.js';
import { probe, type ProbeAnswer, type ProbeFailure } from './probe.js';
import { API, pathFor } from '../../shared/protocol/http-api.js';

export type { Check, CheckStatus } from './check.js';

export interface DoctorEnv {
  now?: () => number;
  timeoutMs?: number;
  /** free and total bytes of the file system holding `path` */
  diskSpace?: (path: string) => Promise<{ free: number; total: number }>;
}

/** Clocks further apart than this fail; between the two limits they warn. */
export const CLOCK_WARN_MS = 2_000;
export const CLOCK_FAIL_MS = 30_000;
export const DISK_FAIL_BYTES = 1024 ** 3;
export const DISK_WARN_BYTES = 5 * 1024 ** 3;
const CERT_WARN_DAYS = 14;

const ok = (name: string, detail: string): Check => ({ name, status: 'ok', detail, fix: null });
const warn = (name: string, detail: string, fix: string): Check => ({ name, status: 'warn', detail, fix });
const fail = (name: string, detail: string, fix: string): Check => ({ name, status: 'FAIL', detail, fix });
const skip = (name: string, detail: string): Check => ({ name, status: 'skip', detail, fix: null });

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '[::1]' || host === '::1';
}

function unreachableFix(code: string, where: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return `nothing listens at ${where}: start the head (systemctl status distribute-head), check its listen: address and port`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name does not resolve here: check the head URL, or use its IP address`;
    case 'TIMEOUT':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no answer from ${where}: is the head's port open in its firewall, and listen: 0.0.0.0:PORT rather than 127.0.0.1?`;
    case 'ECONNRESET':
    case 'EPROTO':
      return `the connection broke off: check ws:// versus wss:// against the head's tls: setting`;
    default:
      return `check the head URL and that the head runs`;
  }
}

/** The clock check from one answer: the head's Date header against the middle of the round trip. */
export function clockCheck(a: ProbeAnswer): Check {
  if (a.headDate === null) return skip('clock', 'the head sent no Date header');
  // Date has whole seconds: allow that, and half the round trip, before calling it skew
  const skew = a.headDate - (a.sentAt + a.receivedAt) / 2;
  const slack = 1000 + (a.receivedAt - a.sentAt) / 2;
  const apart = Math.max(0, Math.abs(skew) - slack);
  const said = `${(Math.abs(skew) / 1000).toFixed(1)} s ${skew > 0 ? 'behind' : 'ahead of'} the head`;
  const fix = 'synchronise the clocks of this machine and the head with NTP (timedatectl set-ntp true, or chrony)';
  if (apart > CLOCK_FAIL_MS) return fail('clock', `this machine's clock is ${said}`, fix);
  if (apart > CLOCK_WARN_MS) return warn('clock', `this machine's clock is ${said}`, fix);
  return ok('clock', `within ${Math.max(1, Math.ceil((Math.abs(skew) + 1) / 1000))} s of the head's`);
}

/** The protocol check from the head's `GET /v1/version` answer. */
export function protocolCheck(head: Version): Check {
  const mine = `protocol ${PROTOCOL_VERSION} (distribute ${VERSION})`;
  const theirs = `protocol ${head.protocol} (distribute ${head.version})`;
  if (head.protocol !== PROTOCOL_VERSION) return fail('protocol', `the head speaks ${theirs}, this machine ${mine}`, `install the same distribute version on the head and here`);
  return ok('protocol', head.version === VERSION ? mine : `${mine}; the head runs distribute ${head.version}`);
}

function tlsFromAnswer(a: ProbeAnswer, host: string, insecure: boolean, now: number): Check {
  const c = a.cert;
  if (!c) return ok('tls', 'https, certificate not shown');
  const names = (c.subjectaltname ?? '').replace(/(DNS|IP Address):/g, '').split(', ').filter(Boolean);
  const issuer = c.issuer?.CN ?? c.issuer?.O ?? 'unknown issuer';
  const until = Date.parse(c.valid_to);
  const days = Math.floor((until - now) / 86_400_000);
  const detail = `certificate for ${names.join(', ') || c.subject?.CN}, issued by ${issuer}, valid until ${new Date(until).toISOString().slice(0, 10)}${insecure ? ` (not checked against ${host}: by address on the head's machine)` : ''}`;
  if (days < 0) return fail('tls', detail, `renew the head's certificate`);
  if (days < CERT_WARN_DAYS) return warn('tls', `${detail}: ${days} days left`, `renew the head's certificate before it expires`);
  return ok('tls', detail);
}

async function defaultDiskSpace(path: string): Promise<{ free: number; total: number }> {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  const s = await statfs(p);
  return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
}

async function diskCheck(t: NonNullable<DoctorTarget['disk']>, space: NonNullable<DoctorEnv['diskSpace']>): Promise<Check> {
  let s;
  try {
    s = await space(t.path);
  } catch (err) {
    return fail('disk', `cannot see the file system of ${t.what} ${t.path}: ${errorMessage(err)}`, `create ${t.path} or fix ${t.what}`);
  }
  const detail = `${formatBytes(s.free)} free of ${formatBytes(s.total)} for ${t.what} ${t.path}`;
  const fix = `free space there, or move ${t.what} to a larger disk`;
  if (s.free < DISK_FAIL_BYTES) return fail('disk', detail, fix);
  if (s.free < DISK_WARN_BYTES) return warn('disk', detail, fix);
  return ok('disk', detail);
}

function certificateFilesCheck(files: { cert: string; key: string }, now: number): Check {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(files.cert));
  } catch (err) {
    return fail('cert', `cannot read the certificate ${files.cert}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, `point tls.cert in head.yaml at a PEM certificate readable by the head's user`);
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(readFileSync(files.key)))) return fail('cert', `${files.key} is not the key of ${files.cert}`, `give tls.key the key the certificate was made with`);
  } catch (err) {
    return fail('cert', `cannot read the key ${files.key}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, `point tls.key at the PEM key, readable by the head's user (root:distribute, 0640)`);
  }
  const until = Date.parse(cert.validTo);
  const days = Math.floor((until - now) / 86_400_000);
  const names = (cert.subjectAltName ?? '').replace(/(DNS|IP Address):/g, '');
  const detail = `${files.cert} names ${names || cert.subject}, valid until ${new Date(until).toISOString().slice(0, 10)}`;
  if (days < 0) return fail('cert', `${detail}: expired`, 'renew it');
  if (days < CERT_WARN_DAYS) return warn('cert', `${detail}: ${days} days left`, 'renew it');
  return ok('cert', detail);
}

export async function runDoctor(t: DoctorTarget, e: DoctorEnv = {}): Promise<Check[]> {
  const now = e.now ?? Date.now;
  const checks: Check[] = [...t.problems];
  const has = (name: string) => checks.some((c) => c.name === name);
  const probeOpts = { ca: t.ca, insecure: t.insecure, timeoutMs: e.timeoutMs ?? 5000, now };

  let urls: { http: string; ws: string } | null = null;
  if (!t.head) checks.push(fail('head', 'no head configured', 'pass --head wss://HOST:8952, set DISTRIBUTE_HEAD, or write head: in the config'));
  else {
    try {
      urls = headUrls(t.head);
    } catch (err) {
      checks.push(fail('head', errorMessage(err), 'write the head as ws://HOST:8952 or wss://HOST:8952'));
    }
  }
  if (!urls) {
    for (const n of ['tls', 'token', 'clock', 'protocol']) if (!has(n)) checks.push(skip(n, 'no head to ask'));
  } else {
    const host = new URL(urls.http).host;
    const version = await probe(urls.http + pathFor(API.version, {}), { ...probeOpts, token: t.token });
    const failure = version.ok ? null : (version as ProbeFailure);
    const tls = failure ? tlsProblem(failure.error) : null;
    if (failure && !tls) {
      checks.push(fail('head', `${urls.http} cannot be reached: ${failure.code === 'TIMEOUT' ? failure.error.message : failure.code}`, unreachableFix(failure.code, host)));
      for (const n of ['tls', 'token', 'clock', 'protocol']) if (!has(n)) checks.push(skip(n, 'the head cannot be reached'));
    } else if (failure && tls) {
      checks.push(ok('head', `something answers TLS at ${host}`));
      if (!has('tls')) checks.push(fail('tls', `the head at ${host}: ${tls.what} (${tls.code})`, tls.fix));
      for (const n of ['token', 'clock', 'protocol']) checks.push(skip(n, 'no trusted connection to the head'));
    } else {
      const a = version as ProbeAnswer;
      checks.push(ok('head', `${urls.http} answered in ${a.receivedAt - a.sentAt} ms`));
      if (!has('tls')) {
        if (urls.http.startsWith('https:')) checks.push(tlsFromAnswer(a, host, t.insecure, now()));
        else if (isLoopback(new URL(urls.http).hostname)) checks.push(ok('tls', 'plain http on this machine (loopback)'));
        else checks.push(warn('tls', 'plain ws:// across the network: tokens and results travel unencrypted', 'set tls: {cert, key} in head.yaml and use wss:// (README: "Installing on a lab")'));
      }
      checks.push(...(await tokenChecks(t, urls.http, probeOpts, a)));
      checks.push(clockCheck(a));
    }
  }
  if (t.disk) checks.push(await diskCheck(t.disk, e.diskSpace ?? defaultDiskSpace));
  if (t.sandbox) {
    const problem = sandboxProblem({ hide: [] });
    checks.push(problem ? fail('sandbox', problem.replace(/^sandbox: /, ''), 'install bubblewrap, or set sandbox: none in compute.yaml') : ok('sandbox', 'bwrap can make its sandbox here'));
  }
  if (t.containment) checks.push(...(await containmentChecks(t.containment, t.isolation ?? null)));
  if (t.tlsFiles) checks.push(certificateFilesCheck(t.tlsFiles, now()));
  return checks;
}

/**
 * What a job would get here: a cgroup (found by making, then removing, one of the kind the
 * daemon would) or its process group alone; and whether jobs are kept apart from each other.
 */
async function containmentChecks(mode: ContainmentMode, isolation: { jobUids: string; secrets: string[] } | null): Promise<Check[]> {
  const c = await openContainment({ mode, parent: `distribute-doctor-${process.pid}`, node: 'doctor' });
  await c.close();
  const checks: Check[] = [];
  if (c.kind === 'process-group') {
    checks.push(warn('containment', c.description, 'run the compute daemon as root (its systemd unit) for a cgroup per job: kill and pause reach every process, memory is a hard limit'));
  } else {
    checks.push(ok('containment', c.description));
  }
  checks.push(isolationCheck(isolation));
  return checks;
}

/** The token and protocol checks, once the head answered `GET /v1/version`. */
async function tokenChecks(t: DoctorTarget, http: string, probeOpts: Parameters<typeof probe>[1], version: ProbeAnswer): Promise<Check[]> {
  if (t.problems.some((c) => c.name === 'token')) return [skip('protocol', 'needs a valid token')];
  if (!t.token && t.expectKind === null) return [skip('token', 'no token given (--token or DISTRIBUTE_TOKEN to check one)'), skip('protocol', 'needs a valid token')];
  if (!t.token) {
    return [fail('token', 'no token', t.expectKind === 'node' ? 'set token_file: in compute.yaml to a file holding the node token' : 'pass --token, set DISTRIBUTE_TOKEN, or write token: in the user config'), skip('protocol', 'needs a valid token')];
  }
  const who = await probe(http + pathFor(API.whoami, {}), { ...probeOpts, token: t.token });
  const out: Check[] = [];
  const make = t.expectKind === 'node' ? '--node NAME' : '--user NAME';
  if (!who.ok) out.push(fail('token', `the head did not answer /v1/whoami: ${(who as ProbeFailure).code}`, 'run doctor again; if it persists, look at the head\'s log'));
  else if (who.status === 401) out.push(fail('token', `the head does not know the token from ${t.tokenSource}`, `make one on the head (distribute token create --state-dir STATE_DIR ${make}) and use the last line it prints`));
  else {
    const parsed = (() => {
      try {
        return API.whoami.response.safeParse(JSON.parse(who.body));
      } catch {
        return null;
      }
    })();
    if (!parsed?.success) out.push(fail('token', `unexpected answer to /v1/whoami (${who.status})`, 'is the head the same version as this distribute?'));
    else {
      const w = parsed.data;
      const said = `${w.kind} ${w.name}${w.admin ? ' (admin)' : ''}`;
      if (t.expectKind && w.kind !== t.expectKind) out.push(fail('token', `the token from ${t.tokenSource} is a ${w.kind} token (${said}); this needs a ${t.expectKind} token`, `make one with distribute token create ${make}`));
      else out.push(ok('token', `accepted: ${said}`));
    }
  }
  if (version.status === 200) {
    const v = (() => {
      try {
        return API.version.response.safeParse(JSON.parse(version.body));
      } catch {
        return null;
      }
    })();
    out.push(v?.success ? protocolCheck(v.data) : fail('protocol', 'unexpected answer to /v1/version', 'install the same distribute version on the head and here'));
  } else if (version.status === 404) out.push(warn('protocol', 'the head is older than /v1/version: it cannot say', 'install the same distribute version on the head and here'));
  else out.push(skip('protocol', 'needs a valid token'));
  return out;
}

export function formatChecks(checks: Check[]): string {
  return checks.map((c) => `${c.status.padEnd(4)}  ${c.name.padEnd(8)} ${c.detail}${c.fix ? ` — fix: ${c.fix}` : ''}`).join('\n') + '\n';
}
