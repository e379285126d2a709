// Who is at the other end of a control-socket connection, for the log and for `pause
// --status`. Access itself is not decided here: the socket's mode (0660, group
// control_group) lets the kernel refuse everyone else at connect().
//
// Node has no API for SO_PEERCRED. In order of trust:
//  1. kernel: the connection's descriptor is lent to a one-line python3 helper that asks
//     getsockopt(SO_PEERCRED): the pid, uid and gid the kernel recorded when the client
//     connected. Works whatever user the daemon runs as. Needs python3 (on PATH); it costs
//     a process start (~50-300 ms), paid after the pause has taken effect.
//  2. claimed: the client sends its uid, user name and pid. The daemon checks that the pid
//     is alive and runs as that uid (/proc/<pid>/status). A member of the group could name
//     another user's process, so a claimed name is the client's word, logged as such.
// Matching socket inodes (/proc/net/unix has no peer column; `ss -xp` needs to read the
// peer's /proc/<pid>/fd, i.e. root or the same user) was left aside: the daemon runs as its
// own user under systemd, where it would see no one's process but its own.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import type { ControlClient } from '../shared/protocol/control.js';
import { userName } from './unix-ids.js';

export interface Peer {
  user: string;
  uid: number | null;
  pid: number | null;
  /** kernel: SO_PEERCRED; claimed: the client's word, its pid checked; unverified: the check failed or was impossible */
  verified: 'kernel' | 'claimed' | 'unverified';
}

const HELPER = [
  'import socket, struct',
  's = socket.socket(fileno=3)',
  'print(*struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)))',
  's.detach()',
].join('\n');

let helperMissing = false;

/** pid, uid, gid of the peer from the kernel; null when python3 is not there or fails. */
export function kernelCredentials(socket: Socket, timeoutMs = 3000): Promise<{ pid: number; uid: number; gid: number } | null> {
  if (helperMissing) return Promise.resolve(null);
  return new Promise((resolve) => {
    let child;
    try {
      // -I -S: no user site, no site module: fast, and nothing of the environment is run
      child = spawn('python3', ['-I', '-S', '-c', HELPER], { stdio: ['ignore', 'pipe', 'ignore', socket], timeout: timeoutMs });
    } catch {
      resolve(null);
      return;
    }
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') helperMissing = true;
      resolve(null);
    });
    child.on('close', (code) => {
      const m = /^(\d+) (\d+) (\d+)$/.exec(out.trim());
      resolve(code === 0 && m ? { pid: Number(m[1]), uid: Number(m[2]), gid: Number(m[3]) } : null);
    });
  });
}

/** The real uid of a live process, from /proc/<pid>/status; null if it is gone. */
export async function processUid(pid: number): Promise<number | null> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => null);
  const m = text && /^Uid:\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : null;
}

export async function identifyPeer(socket: Socket, claim: ControlClient | undefined): Promise<Peer> {
  const creds = await kernelCredentials(socket);
  if (creds) return { user: await userName(creds.uid), uid: creds.uid, pid: creds.pid, verified: 'kernel' };
  if (!claim) return { user: 'unknown', uid: null, pid: null, verified: 'unverified' };
  const uid = await processUid(claim.pid);
  return { user: claim.user, uid: claim.uid, pid: claim.pid, verified: uid === claim.uid ? 'claimed' : 'unverified' };
}
