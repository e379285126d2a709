// The notification tables, appended to the head's migrations (head/migrations.ts).
//
// notify_outbox: one row per message to send. Written in the same transaction that makes a
//   batch terminal (or fails its first job), so a message is never lost; sent later by the
//   outbox worker, outside any transaction. No foreign key to batches: a row is
//   self-contained (its body is rendered at enqueue time) and outlives a removed batch.
// notify_batches: what each batch has been told, so a batch ends (and is told) once per run;
//   a retry that reopens it clears the marks.
// notify_meta.instance: a random id of this database, part of every transaction id sent to
//   the homeserver, so a fresh state dir never reuses a txnId the homeserver has seen.
// matrix_session: the device and access token the head logged in with (password logins), kept
//   so a restart resends with the same token and the homeserver deduplicates the txnId.
// matrix_rooms: the direct room found or created for each recipient, remembered.
import type { Migration } from '../migrations.js';

export const NOTIFY_SCHEMA_SQL = `
  CREATE TABLE notify_outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id   INTEGER NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('end', 'first_failure', 'build_failed')),
    recipient  TEXT NOT NULL,
    body       TEXT NOT NULL,
    html       TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    INTEGER NOT NULL,
    last_error TEXT,
    created    INTEGER NOT NULL,
    sent_at    INTEGER,
    event_id   TEXT
  );
  CREATE INDEX notify_outbox_due ON notify_outbox (state, next_at);

  CREATE TABLE notify_batches (
    batch_id     INTEGER PRIMARY KEY,
    ended        INTEGER NOT NULL DEFAULT 0,
    failure_told INTEGER NOT NULL DEFAULT 0
  );

  CREATE TABLE notify_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  INSERT INTO notify_meta (key, value) VALUES ('instance', lower(hex(randomblob(8))));

  CREATE TABLE matrix_session (
    homeserver   TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    access_token TEXT NOT NULL,
    created      INTEGER NOT NULL,
    PRIMARY KEY (homeserver, user_id)
  );

  CREATE TABLE matrix_rooms (
    account   TEXT NOT NULL,
    recipient TEXT NOT NULL,
    room_id   TEXT NOT NULL,
    created   INTEGER NOT NULL,
    PRIMARY KEY (account, recipient)
  );
`;

export function notifyMigration(version: number): Migration {
  return { version, name: 'notifications: outbox, matrix session and rooms', sql: NOTIFY_SCHEMA_SQL };
}
