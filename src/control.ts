// The CLI's side of the compute daemon's control socket: one request, one answer. Errors
// the person at the desk can act on (no daemon, not in the group, a refused duration)
// become one-line UserErrors that say why.
import { existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { userInfo } from 'node:os';
import { ControlResponse, MAX_CONTROL_LINE, type ControlClient, type ControlRequest, type PauseStatus } from '../shared/protocol/control.js';
import { UserError } from '../shared/errors.js';
import { findControlSocket } from './user-state.js';

/** The socket to talk to: --socket, else the first that exists of an installed daemon's and this user's `up`'s. */
export function controlSocketFor(given: string | undefined): string {
  if (given !== undefined) return given;
  const { path, tried } = findControlSocket();
  if (existsSync(path)) return path;
  throw new UserError(`no compute daemon's control socket on this machine: tried ${tried.join(' (installed daemon), ')} (distribute up) — is one running? --socket PATH names another`, 1);
}

/** Who this process is, as the daemon's log will show it. */
export function thisClient(): ControlClient {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = `uid ${process.getuid?.() ?? '?'}`;
  }
  return { uid: process.getuid?.() ?? 0, user, pid: process.pid };
}

function unreachable(path: string, err: NodeJS.ErrnoException): UserError {
  const head = `cannot reach the compute daemon at ${path}`;
  switch (err.code) {
    case 'EACCES':
    case 'EPERM':
      return new UserError(`${head}: permission denied — are you in the group that owns it (ls -l ${path})?`, 1);
    case 'ENOENT':
      return new UserError(`${head}: no such socket — is the compute daemon running on this machine, with control_socket set to this path (--socket PATH)?`, 1);
    case 'ECONNREFUSED':
      return new UserError(`${head}: connection refused — the socket is left over from a compute daemon that is no longer running`, 1);
    case 'ENOTSOCK':
      return new UserError(`${head}: not a socket`, 1);
    default:
      return new UserError(`${head}: ${err.code ?? err.message}`, 1);
  }
}

/** Sends one request and returns the daemon's status after it; throws a UserError when refused. */
export function controlRequest(path: string, req: ControlRequest, timeoutMs = 15_000): Promise<{ status: PauseStatus; changed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let text = '';
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      fn();
    };
    const timer = setTimeout(() => settle(() => reject(new UserError(`the compute daemon at ${path} did not answer within ${timeoutMs / 1000} s`, 1))), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify(req) + '\n'));
    socket.on('error', (err: NodeJS.ErrnoException) => settle(() => reject(unreachable(path, err))));
    socket.on('data', (d: string) => {
      text += d;
      if (text.length > MAX_CONTROL_LINE) settle(() => reject(new UserError(`the compute daemon at ${path} sent an answer too long to be one`, 1)));
    });
    socket.on('end', () =>
      settle(() => {
        let parsed;
        try {
          parsed = ControlResponse.safeParse(JSON.parse(text));
        } catch {
          parsed = null;
        }
        if (!parsed?.success) {
          reject(new UserError(`the compute daemon at ${path} gave an answer this CLI does not understand (another version?): ${text.trim().slice(0, 200)}`, 1));
          return;
        }
        const r = parsed.data;
        if (r.ok) resolve({ status: r.status, changed: r.changed });
        else reject(new UserError(`${r.code === 'internal' ? 'the compute daemon failed: ' : ''}${r.error}`, r.code === 'bad_request' ? 2 : 1));
      }),
    );
  });
}
