// The compute daemon's control socket: a Unix socket at `control_socket` where the person at
// the workstation pauses, resumes and asks about the node (shared/protocol/control.ts).
// The socket is mode 0660 and, when `control_group` is set, belongs to that group: its
// members need no sudo, and the kernel refuses everyone else at connect(). Every request is
// logged with the local user who made it (compute/peer.ts says how sure that is).
import { chmod, chown, mkdir, stat, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { ControlRequest, MAX_CONTROL_LINE, type ControlResponse, type PauseStatus } from '../shared/protocol/control.js';
import { UserError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { iso, PauseRefused, type PauseController } from './pause.js';
import { identifyPeer, type Peer } from './peer.js';
import { groupId } from './unix-ids.js';

export interface ControlServerOptions {
  path: string;
  /** control_group: the group whose members may pause this node */
  group?: string | undefined;
  node: string;
  controller: PauseController;
  /** the idle policy's part of the status, when there is a policy */
  idleStatus?: () => PauseStatus['idle_policy'];
  logger: Logger;
  /** default: identifyPeer */
  identify?: (socket: Socket, claim: Extract<ControlRequest, { op: 'pause' }>['client'] | undefined) => Promise<Peer>;
}

export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
}

const SOCKET_MODE = 0o660;
/** a client that says nothing for this long is hung up on */
const IDLE_MS = 10_000;

export function pauseStatus(node: string, c: PauseController, idle: PauseStatus['idle_policy'] = null): PauseStatus {
  const s = c.state;
  return {
    node,
    paused: s.paused,
    by: s.by,
    source: s.source,
    since: iso(s.since),
    until: iso(s.until),
    max_pause_ms: c.maxPauseMs,
    vacate_after_ms: c.vacateAfterMs,
    jobs: c.jobs().map((j) => ({ attempt: j.attempt, job: j.job, paused: j.paused, vacate_at: iso(j.vacateAt) })),
    idle_policy: idle,
  };
}

/** Listens at o.path (replacing the socket a crashed daemon left), mode 0660, group control_group. */
export async function startControlServer(o: ControlServerOptions): Promise<ControlServer> {
  const log = o.logger.child({ control_socket: o.path });
  const gid = o.group === undefined ? null : await groupId(o.group);
  if (o.group !== undefined && gid === null) throw new UserError(`control_group: no group named ${o.group} on this machine`);
  await mkdir(dirname(o.path), { recursive: true, mode: 0o755 });
  await clearStaleSocket(o.path);

  const server = createServer((socket) => serve(socket, o, log));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ event: 'control_socket_error', err: errorMessage(err) }, 'control socket error'));
  try {
    if (gid !== null) await chown(o.path, -1, gid);
    await chmod(o.path, SOCKET_MODE);
  } catch (err) {
    server.close();
    const why = (err as NodeJS.ErrnoException).code === 'EPERM' ? ` (the daemon must be root or a member of ${o.group})` : '';
    throw new UserError(`control_socket: cannot give ${o.path} to group ${o.group}: ${errorMessage(err)}${why}`);
  }
  await warnIfFolderShutsOut(o.path, gid, o.group, log);
  log.info({ event: 'control_socket_listening', group: o.group ?? null }, `pause and resume at ${o.path}`);
  return { path: o.path, close: () => closeServer(server, o.path) };
}

async function clearStaleSocket(path: string): Promise<void> {
  const st = await stat(path).catch(() => null);
  if (!st) return;
  if (!st.isSocket()) throw new UserError(`control_socket: ${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new UserError(`control_socket: another compute daemon already listens at ${path}`);
  await unlink(path);
}

/** Members of the group must be able to pass through the socket's folder. */
async function warnIfFolderShutsOut(path: string, gid: number | null, group: string | undefined, log: Logger): Promise<void> {
  const dir = dirname(path);
  const st = await stat(dir).catch(() => null);
  if (!st || st.mode & 0o001) return;
  if (gid !== null && st.gid === gid && st.mode & 0o010) return;
  log.warn(
    { event: 'control_socket_unreachable', folder: dir, mode: (st.mode & 0o777).toString(8), folder_gid: st.gid },
    `only the owner${st.mode & 0o010 ? ` and group ${st.gid}` : ''} of ${dir} can reach the control socket${group ? `; members of ${group} cannot` : ''}`,
  );
}

function closeServer(server: Server, path: string): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // net.Server unlinks its socket file on close; make sure, but never fail a shutdown on it
    unlink(path).catch(() => {});
  });
}

function serve(socket: Socket, o: ControlServerOptions, log: Logger): void {
  let buffered = '';
  let answered = false;
  socket.setEncoding('utf8');
  socket.setTimeout(IDLE_MS, () => socket.destroy());
  socket.on('error', () => {});
  const answer = (r: ControlResponse) => {
    answered = true;
    socket.end(JSON.stringify(r) + '\n');
  };
  socket.on('data', (chunk: string) => {
    if (answered) return;
    buffered += chunk;
    const nl = buffered.indexOf('\n');
    if (nl === -1) {
      if (buffered.length > MAX_CONTROL_LINE) answer({ ok: false, code: 'bad_request', error: `request longer than ${MAX_CONTROL_LINE} bytes` });
      return;
    }
    answered = true;
    socket.pause();
    handle(buffered.slice(0, nl), socket, o, log)
      .catch((err: unknown): ControlResponse => {
        log.error({ event: 'control_request_failed', err: errorMessage(err) }, 'control request failed');
        return { ok: false, code: 'internal', error: errorMessage(err) };
      })
      .then((r) => socket.end(JSON.stringify(r) + '\n'));
  });
}

async function handle(line: string, socket: Socket, o: ControlServerOptions, log: Logger): Promise<ControlResponse> {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { ok: false, code: 'bad_request', error: 'a request is one JSON object on one line' };
  }
  const parsed = ControlRequest.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, code: 'bad_request', error: parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; ') };
  }
  const req = parsed.data;
  const c = o.controller;
  const status = () => pauseStatus(o.node, c, o.idleStatus?.() ?? null);
  const identify = o.identify ?? identifyPeer;
  switch (req.op) {
    case 'status':
      return { ok: true, status: status(), changed: false };
    case 'pause': {
      let durationMs: number;
      try {
        durationMs = c.durationFor(req.duration_ms);
      } catch (err) {
        if (!(err instanceof PauseRefused)) throw err;
        log.info({ event: 'pause_refused', user: req.client.user, uid: req.client.uid, duration_ms: req.duration_ms, reason: err.message }, err.message);
        return { ok: false, code: 'bad_request', error: err.message };
      }
      // the jobs stop first; who asked is settled after (the kernel check takes a process start)
      c.pause({ by: req.client.user, source: 'user', durationMs });
      const peer = await identify(socket, req.client);
      c.setRequester(requesterName(peer));
      log.info(
        { event: 'pause_request', user: peer.user, uid: peer.uid, pid: peer.pid, verified: peer.verified, claimed_user: req.client.user, duration_ms: durationMs, until: iso(c.state.until) },
        `${peer.user} paused the node for ${Math.round(durationMs / 1000)} s`,
      );
      return { ok: true, status: status(), changed: true };
    }
    case 'resume': {
      const changed = c.resume(req.client.user, 'user');
      const peer = await identify(socket, req.client);
      log.info(
        { event: 'resume_request', user: peer.user, uid: peer.uid, pid: peer.pid, verified: peer.verified, claimed_user: req.client.user, changed },
        changed ? `${peer.user} resumed the node` : `${peer.user} asked to resume a node that was not paused`,
      );
      return { ok: true, status: status(), changed };
    }
  }
}

function requesterName(p: Peer): string {
  return p.verified === 'unverified' ? `${p.user} (unverified)` : p.user;
}
