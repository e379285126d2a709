import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { migrate, openStore, parseJobRecord, serializeJobRecord, type JobRecord } from '../../head/store.js';
import { MIGRATIONS } from '../../head/migrations.js';
import { authenticate, createToken } from '../../head/tokens.js';
import { tempDir } from '../helpers/cli.js';

describe('store', () => {
  it('creates the schema once and records every migration', () => {
    const { dir, cleanup } = tempDir();
    try {
      openStore(dir).close();
      const store = openStore(dir); // second open: nothing to apply, nothing fails
      const versions = store.db.prepare('SELECT version FROM migrations ORDER BY version').pluck().all();
      assert.deepEqual(versions, MIGRATIONS.map((m) => m.version));
      assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
      const tables = store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
      for (const t of ['tokens', 'namespaces', 'batches', 'jobs', 'attempts', 'nodes', 'archive_members', 'inputs']) {
        assert.ok(tables.includes(t), `table ${t} exists`);
      }
      store.close();
    } finally {
      cleanup();
    }
  });

  it('applies only the migrations newer than the database, in order', () => {
    const db = new Database(':memory:');
    migrate(db, [{ version: 1, name: 'a', sql: 'CREATE TABLE a (x)' }]);
    migrate(db, [
      { version: 2, name: 'b', sql: 'ALTER TABLE a ADD COLUMN y' },
      { version: 1, name: 'a', sql: 'CREATE TABLE a (x)' },
    ]);
    const cols = (db.prepare('PRAGMA table_info(a)').all() as { name: string }[]).map((c) => c.name);
    assert.deepEqual(cols, ['x', 'y']);
    db.close();
  });

  it('applies a lower-numbered migration that arrives after a higher one ran', () => {
    const db = new Database(':memory:');
    migrate(db, [
      { version: 1, name: 'a', sql: 'CREATE TABLE a (x)' },
      { version: 3, name: 'c', sql: 'ALTER TABLE a ADD COLUMN z' },
    ]);
    migrate(db, [
      { version: 1, name: 'a', sql: 'CREATE TABLE a (x)' },
      { version: 2, name: 'b', sql: 'ALTER TABLE a ADD COLUMN y' },
      { version: 3, name: 'c', sql: 'ALTER TABLE a ADD COLUMN z' },
    ]);
    const cols = (db.prepare('PRAGMA table_info(a)').all() as { name: string }[]).map((c) => c.name);
    assert.deepEqual(cols, ['x', 'z', 'y']);
    db.close();
  });

  it('refuses a database written by a newer program', () => {
    const db = new Database(':memory:');
    migrate(db, [{ version: 7, name: 'future', sql: 'SELECT 1' }]);
    assert.throws(() => migrate(db, [{ version: 1, name: 'a', sql: 'SELECT 1' }]), /schema version 7, newer than this program knows \(1\)/);
    db.close();
  });

  it('rolls a failed migration back whole', () => {
    const db = new Database(':memory:');
    assert.throws(() => migrate(db, [{ version: 1, name: 'broken', sql: 'CREATE TABLE t (x); INSERT INTO nope VALUES (1);' }]));
    assert.equal(db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 't'").pluck().get(), 0);
    assert.equal(db.prepare('SELECT COUNT(*) FROM migrations').pluck().get(), 0);
    db.close();
  });

  it('makes a state change all or nothing', () => {
    const { dir, cleanup } = tempDir();
    const store = openStore(dir);
    try {
      assert.throws(() =>
        store.tx(() => {
          store.stmt('INSERT INTO namespaces (name, owner, created) VALUES (?, ?, ?)').run('ns', 'alice', 1);
          throw new Error('half way');
        }),
      );
      assert.equal(store.namespaceOwner('ns'), undefined);
      store.durably(() => store.stmt('INSERT INTO namespaces (name, owner, created) VALUES (?, ?, ?)').run('ns', 'alice', 1));
      assert.equal(store.namespaceOwner('ns'), 'alice');
      assert.equal(store.db.pragma('synchronous', { simple: true }), 1, 'back to NORMAL after a durable commit');
    } finally {
      store.close();
      cleanup();
    }
  });

  it('stores tokens hashed and knows who presents one, also when written by another connection', () => {
    const { dir, cleanup } = tempDir();
    const head = openStore(dir);
    const tool = openStore(dir); // as `distribute token create` does while the head runs
    try {
      const token = createToken(tool, { kind: 'user', name: 'alice', admin: true });
      const raw = tool.db.prepare('SELECT hash FROM tokens').pluck().all() as string[];
      assert.equal(raw.length, 1);
      assert.notEqual(raw[0], token);
      assert.match(raw[0]!, /^[0-9a-f]{64}$/);
      assert.deepEqual(authenticate(head, `Bearer ${token}`), { kind: 'user', name: 'alice', admin: true });
      assert.equal(authenticate(head, `Bearer ${token}x`), null);
      assert.equal(authenticate(head, undefined), null);
      assert.equal(authenticate(head, token), null, 'the Bearer scheme is required');
      const nodeToken = createToken(tool, { kind: 'node', name: 'ws1' });
      assert.deepEqual(authenticate(head, `Bearer ${nodeToken}`), { kind: 'node', name: 'ws1', admin: false });
      assert.throws(() => createToken(tool, { kind: 'node', name: '../x' }), /node name/);
    } finally {
      tool.close();
      head.close();
      cleanup();
    }
  });

  it('keeps a job record without its defaults and its name, and reads it back whole, as it reads records written whole', () => {
    const row = (name: string, spec: string) => ({ name, spec });
    const plain: JobRecord = {
      job: { name: 'j1', file: null, command: 'true', requiredFiles: [], resources: { cpus: 1, memory: null, gpus: 0, time: null } },
      nodes: null,
      retries: 0,
    };
    assert.equal(serializeJobRecord(plain), '{"job":{"command":"true"}}');
    assert.deepEqual(parseJobRecord(row('j1', serializeJobRecord(plain))), plain);
    const file = { alias: 'run.py', hash: 'a'.repeat(64), size: 12 };
    const full: JobRecord = {
      job: { name: 'j2', file, command: null, requiredFiles: [{ ...file, alias: 'p.json' }], resources: { cpus: 4, memory: 8 * 2 ** 30, gpus: 1, time: 7200 } },
      nodes: ['ws1', 'ws2'],
      retries: 2,
    };
    assert.deepEqual(parseJobRecord(row('j2', serializeJobRecord(full))), full);
    // rows written before the compact form
    assert.deepEqual(parseJobRecord(row('j1', JSON.stringify(plain))), plain);
    assert.deepEqual(parseJobRecord(row('j2', JSON.stringify(full))), full);
  });
});
