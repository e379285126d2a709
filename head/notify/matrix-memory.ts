// What the Matrix notifier remembers between runs: its login (device and access token) and
// the direct room of each recipient. In the head's database; in memory for a one-off check.
import type { Store } from '../store.js';

export interface MatrixSession {
  homeserver: string;
  user_id: string;
  device_id: string;
  access_token: string;
}

export interface MatrixMemory {
  session(homeserver: string, userId: string): MatrixSession | null;
  saveSession(session: MatrixSession): void;
  forgetSession(homeserver: string, userId: string): void;
  room(account: string, recipient: string): string | null;
  saveRoom(account: string, recipient: string, roomId: string): void;
  forgetRoom(account: string, recipient: string): void;
}

export class StoreMatrixMemory implements MatrixMemory {
  constructor(private readonly store: Store) {}

  session(homeserver: string, userId: string): MatrixSession | null {
    return (
      this.store
        .stmt<MatrixSession>('SELECT homeserver, user_id, device_id, access_token FROM matrix_session WHERE homeserver = ? AND user_id = ?')
        .get(homeserver, userId) ?? null
    );
  }

  saveSession(s: MatrixSession): void {
    this.store.tx(() =>
      this.store
        .stmt(
          `INSERT INTO matrix_session (homeserver, user_id, device_id, access_token, created) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (homeserver, user_id) DO UPDATE SET device_id = excluded.device_id, access_token = excluded.access_token, created = excluded.created`,
        )
        .run(s.homeserver, s.user_id, s.device_id, s.access_token, this.store.now()),
    );
  }

  forgetSession(homeserver: string, userId: string): void {
    // the device id stays useful (a new login reuses it), the token does not: keep the row's device
    this.store.tx(() => this.store.stmt(`UPDATE matrix_session SET access_token = '' WHERE homeserver = ? AND user_id = ?`).run(homeserver, userId));
  }

  room(account: string, recipient: string): string | null {
    return this.store.stmt<{ room_id: string }>('SELECT room_id FROM matrix_rooms WHERE account = ? AND recipient = ?').get(account, recipient)?.room_id ?? null;
  }

  saveRoom(account: string, recipient: string, roomId: string): void {
    this.store.tx(() =>
      this.store
        .stmt(
          `INSERT INTO matrix_rooms (account, recipient, room_id, created) VALUES (?, ?, ?, ?)
           ON CONFLICT (account, recipient) DO UPDATE SET room_id = excluded.room_id, created = excluded.created`,
        )
        .run(account, recipient, roomId, this.store.now()),
    );
  }

  forgetRoom(account: string, recipient: string): void {
    this.store.tx(() => this.store.stmt('DELETE FROM matrix_rooms WHERE account = ? AND recipient = ?').run(account, recipient));
  }
}

export class InMemoryMatrixMemory implements MatrixMemory {
  private readonly sessions = new Map<string, MatrixSession>();
  private readonly rooms = new Map<string, string>();

  session(homeserver: string, userId: string): MatrixSession | null {
    return this.sessions.get(`${homeserver} ${userId}`) ?? null;
  }
  saveSession(s: MatrixSession): void {
    this.sessions.set(`${s.homeserver} ${s.user_id}`, { ...s });
  }
  forgetSession(homeserver: string, userId: string): void {
    const s = this.sessions.get(`${homeserver} ${userId}`);
    if (s) s.access_token = '';
  }
  room(account: string, recipient: string): string | null {
    return this.rooms.get(`${account} ${recipient}`) ?? null;
  }
  saveRoom(account: string, recipient: string, roomId: string): void {
    this.rooms.set(`${account} ${recipient}`, roomId);
  }
  forgetRoom(account: string, recipient: string): void {
    this.rooms.delete(`${account} ${recipient}`);
  }
}
