// The head's schema, as numbered migrations applied in order, each in one transaction.
// Never edit a migration that has shipped: add the next number.
//
// Times are epoch milliseconds. JSON columns hold the wire forms (shared/protocol/common.ts)
// so an `assign` is built without re-reading the batch file.

/** The sort key of `jobs_longest_first`: a job without a time limit counts as the longest. */
export const LONGEST_FIRST = 'COALESCE(time_limit, 9007199254740991)';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE tokens (
        hash    TEXT PRIMARY KEY,
        kind    TEXT NOT NULL CHECK (kind IN ('user', 'node')),
        name    TEXT NOT NULL,
        admin   INTEGER NOT NULL DEFAULT 0,
        created INTEGER NOT NULL
      );

      CREATE TABLE namespaces (
        name    TEXT PRIMARY KEY,
        owner   TEXT NOT NULL,
        created INTEGER NOT NULL
      );

      CREATE TABLE batches (
        id        INTEGER PRIMARY KEY,
        namespace TEXT NOT NULL REFERENCES namespaces(name),
        name      TEXT NOT NULL,
        spec      TEXT NOT NULL,          -- BatchRecord: kind, initialize (wire), meta
        owner     TEXT NOT NULL,
        created   INTEGER NOT NULL,
        UNIQUE (namespace, name)
      );

      -- Jobs of one batch with the same resources and pin list are interchangeable for the
      -- scheduler: they form one queue, named by a shape.
      CREATE TABLE shapes (
        id       INTEGER PRIMARY KEY,
        batch_id INTEGER NOT NULL REFERENCES batches(id),
        cpus     INTEGER NOT NULL,
        memory   INTEGER,
        gpus     INTEGER NOT NULL,
        nodes    TEXT,                     -- JSON array of node names, or NULL = anywhere
        UNIQUE (batch_id, cpus, memory, gpus, nodes)
      );

      CREATE TABLE jobs (
        id              INTEGER PRIMARY KEY,
        batch_id        INTEGER NOT NULL REFERENCES batches(id),
        name            TEXT NOT NULL,
        spec            TEXT NOT NULL,     -- JobRecord: the wire job, pin list, retries
        shape_id        INTEGER NOT NULL REFERENCES shapes(id),
        state           TEXT NOT NULL CHECK (state IN ('queued','assigned','running','paused','done','failed','cancelled')),
        current_attempt INTEGER,
        attempt_count   INTEGER NOT NULL DEFAULT 0,
        losses          INTEGER NOT NULL DEFAULT 0,   -- lost nodes since the job was last (re)queued by a user
        exit_code       INTEGER,
        node            TEXT,
        error           TEXT,
        UNIQUE (batch_id, name)
      );
      -- the scheduler's queues: the first queued jobs of one (batch, shape), without a scan
      CREATE INDEX jobs_queue ON jobs (state, batch_id, shape_id, id);

      CREATE TABLE attempts (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused: fences stale reports forever
        job_id    INTEGER NOT NULL REFERENCES jobs(id),
        number    INTEGER NOT NULL,
        node      TEXT NOT NULL,
        state     TEXT NOT NULL CHECK (state IN ('assigned','running','finished','archived','lost','refused','cancelled')),
        cpus      INTEGER NOT NULL,
        memory    INTEGER,
        gpus      TEXT NOT NULL,            -- JSON array of GPU indices held
        created   INTEGER NOT NULL,
        started   INTEGER,
        ended     INTEGER,
        exit_code INTEGER,
        signal    TEXT,
        error     TEXT
      );
      CREATE INDEX attempts_job ON attempts (job_id);
      CREATE INDEX attempts_node_state ON attempts (node, state);

      CREATE TABLE nodes (
        name         TEXT PRIMARY KEY,
        capabilities TEXT NOT NULL,         -- JSON array
        resources    TEXT NOT NULL,         -- JSON NodeResources
        max_jobs     INTEGER,
        state        TEXT NOT NULL CHECK (state IN ('online', 'lost')),
        paused       INTEGER NOT NULL DEFAULT 0,
        draining     INTEGER NOT NULL DEFAULT 0,
        last_seen    INTEGER NOT NULL,
        first_seen   INTEGER NOT NULL
      );

      CREATE TABLE build_failures (
        batch_id INTEGER NOT NULL REFERENCES batches(id),
        node     TEXT NOT NULL,
        log      TEXT NOT NULL,
        at       INTEGER NOT NULL,
        PRIMARY KEY (batch_id, node)
      );

      CREATE TABLE archive_members (
        job_id INTEGER NOT NULL REFERENCES jobs(id),
        path   TEXT NOT NULL,
        size   INTEGER NOT NULL,
        mtime  INTEGER,
        PRIMARY KEY (job_id, path)
      );

      CREATE TABLE inputs (
        hash    TEXT PRIMARY KEY,
        size    INTEGER NOT NULL,
        path    TEXT NOT NULL,              -- relative to the state dir
        created INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'index of attempts whose process may still run',
    // `ended IS NULL` is exactly the attempts that hold resources on their node (assigned,
    // running, or cancelled and not yet reported gone); a node's history is never scanned
    sql: `CREATE INDEX attempts_open ON attempts (node) WHERE ended IS NULL;`,
  },
  {
    version: 3,
    name: 'notifications: outbox, matrix session and rooms',
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
    sql: `
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
`,
  },
  {
    version: 4,
    name: 'scheduling: time limits for sort, admin drain, when each user was last served',
    // time_limit: the job's time limit in seconds (null: none), so a batch with `sort` reads
    //   its queues longest first straight from an index (no limit counts as the longest).
    // nodes.drained: an admin's `distribute drain`; unlike `draining` (the node itself is
    //   stopping), it outlives the node's reconnects until `undrain`.
    // fair_share.last_attempt: the newest attempt placed for the user's jobs — attempt ids
    //   only grow, so it orders users by when they were last served, ties impossible.
    sql: `
      ALTER TABLE jobs ADD COLUMN time_limit REAL;
      UPDATE jobs SET time_limit = json_extract(spec, '$.job.resources.time');
      CREATE INDEX jobs_longest_first ON jobs (state, batch_id, shape_id, ${LONGEST_FIRST} DESC, id);
      ALTER TABLE nodes ADD COLUMN drained INTEGER NOT NULL DEFAULT 0;
      CREATE TABLE fair_share (
        owner        TEXT PRIMARY KEY,
        last_attempt INTEGER NOT NULL
      );
      INSERT INTO fair_share (owner, last_attempt)
        SELECT b.owner, MAX(a.id) FROM attempts a JOIN jobs j ON j.id = a.job_id JOIN batches b ON b.id = j.batch_id GROUP BY b.owner;
    `,
  },
  {
    version: 5,
    name: 'removed batches: what rm deleted, and batch ids never used again',
    // `batches.id` is an INTEGER PRIMARY KEY, which SQLite would hand out again after the
    // newest batch is deleted; nodes remember builds by batch id, so a new batch must never get
    // a removed one's id: queueBatch takes the next id above both tables.
    sql: `
      CREATE TABLE removed_batches (
        id         INTEGER PRIMARY KEY,
        namespace  TEXT NOT NULL,
        name       TEXT NOT NULL,
        owner      TEXT NOT NULL,
        removed    INTEGER NOT NULL,
        removed_by TEXT NOT NULL,
        bytes      INTEGER NOT NULL
      );
    `,
  },
  {
    version: 6,
    name: 'failed results retried, counted apart from lost nodes',
    // failed results (non-zero exit, signal, time limit) requeued under the job's `retries`
    // since a user last requeued it; `losses` counts lost nodes against max_attempts
    sql: `ALTER TABLE jobs ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;`,
  },
  {
    version: 7,
    name: 'node token pins; who holds each input',
    // tokens.pin_*: what a node token lets its hello claim (`token create --cpus --memory
    //   --gpus --capabilities`, head/token-pins.ts); NULL: not pinned. pin_capabilities is a
    //   JSON list.
    // input_holders: the users who proved they have an input's bytes (uploaded them, or own a
    //   batch naming them: filled here from the batches already queued); only they may fetch
    //   it or name it in a batch (head/inputs.ts).
    sql: `
      ALTER TABLE tokens ADD COLUMN pin_cpus INTEGER;
      ALTER TABLE tokens ADD COLUMN pin_memory INTEGER;
      ALTER TABLE tokens ADD COLUMN pin_gpus INTEGER;
      ALTER TABLE tokens ADD COLUMN pin_capabilities TEXT;
      CREATE TABLE input_holders (
        hash TEXT NOT NULL,
        user TEXT NOT NULL,
        PRIMARY KEY (hash, user)
      ) WITHOUT ROWID;
      INSERT OR IGNORE INTO input_holders (hash, user)
        SELECT DISTINCT t.value, b.owner FROM batches b, json_tree(b.spec) t WHERE t.key = 'hash' AND t.type = 'text';
      INSERT OR IGNORE INTO input_holders (hash, user)
        SELECT DISTINCT t.value, b.owner FROM jobs j JOIN batches b ON b.id = j.batch_id, json_tree(j.spec) t
         WHERE t.key = 'hash' AND t.type = 'text';
    `,
  },
  {
    version: 8,
    name: 'what each attempt used, from its result.json',
    // measured by the node (its cgroup); NULL when not measured or for results before this
    sql: `
      ALTER TABLE attempts ADD COLUMN cpu_seconds REAL;
      ALTER TABLE attempts ADD COLUMN peak_memory INTEGER;
      ALTER TABLE attempts ADD COLUMN wall_seconds REAL;
    `,
  },
  {
    version: 9,
    name: 'cluster utilisation samples',
    // one row per connected node per sampling interval (head/usage/sampler.ts), rows older
    // than usage_keep deleted as new ones come: a bounded table; docs/dashboard.md
    sql: `
      CREATE TABLE usage_samples (
        at      INTEGER NOT NULL,   -- start of the interval (epoch ms, a multiple of span_ms)
        node    TEXT NOT NULL,
        span_ms INTEGER NOT NULL,   -- the interval's length
        busy    REAL NOT NULL,      -- cpus held by running jobs, averaged over the interval
        peak    REAL NOT NULL,      -- the most held at one look
        cpus    INTEGER NOT NULL,   -- what the node offers
        PRIMARY KEY (at, node)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 10,
    name: 'a SHA-256 per archived file',
    // the hash of each file member, computed by the head as the upload streamed and checked
    // against the node's own (docs/integrity.md); NULL for links and for results archived before
    sql: `
      ALTER TABLE archive_members ADD COLUMN sha256 TEXT;
    `,
  },
  {
    version: 11,
    name: 'small results in per-batch segment files',
    // where a job's archive lives when it was appended to one of its batch's segment files
    // (head/segments.ts): the segment's path under archive/, the byte range, and the SHA-256 of
    // those bytes (checked on every read). A job without a row has a file of its own.
    sql: `
      CREATE TABLE archive_segments (
        job_id  INTEGER PRIMARY KEY REFERENCES jobs(id),
        segment TEXT NOT NULL,
        offset  INTEGER NOT NULL,
        length  INTEGER NOT NULL,
        sha256  TEXT NOT NULL
      );
      CREATE INDEX archive_segments_segment ON archive_segments (segment, offset);
    `,
  },
  {
    version: 12,
    name: 'allocation queues and their pilots',
    // alloc_queues: what the head remembers of each head.yaml queue across restarts — an
    //   admin's pause (paused = 'admin') or one for failed submissions ('failures'), the
    //   consecutive failures, the last error and when the next submission may go.
    // pilots: one row per submitted pilot, named `<queue>-<job id>`; ends_at is its walltime's
    //   end (ms), usable_until what the scheduler counts as its time left (ends_at less a margin).
    sql: `
      CREATE TABLE alloc_queues (
        name          TEXT PRIMARY KEY,
        paused        TEXT CHECK (paused IN ('admin', 'failures')),
        failures      INTEGER NOT NULL DEFAULT 0,
        last_error    TEXT,
        last_error_at INTEGER,
        retry_at      INTEGER
      );
      CREATE TABLE pilots (
        node         TEXT PRIMARY KEY,
        queue        TEXT NOT NULL,
        job_id       TEXT NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('pending', 'running', 'ended')),
        submitted    INTEGER NOT NULL,
        connected    INTEGER,
        ends_at      INTEGER,
        usable_until INTEGER,
        ended        INTEGER,
        end_reason   TEXT
      );
      CREATE INDEX pilots_live ON pilots (queue) WHERE state <> 'ended';
    `,
  },
  {
    version: 13,
    name: 'job dependencies (after:) and the finalize step',
    // jobs.blocked: a queued job that waits for others (not a candidate for the scheduler;
    //   the partial index keeps its queue reads free of the waiting ones).
    // jobs.finalize: the batch's finalize step, which waits for every other job to end.
    // jobs.cancelled_by: the dependency whose failure or cancellation cancelled this job, so
    //   a retry brings it back.
    // job_deps: job_id waits for dep_id to end done.
    sql: `
      ALTER TABLE jobs ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE jobs ADD COLUMN finalize INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE jobs ADD COLUMN cancelled_by INTEGER;
      CREATE INDEX jobs_ready ON jobs (batch_id, shape_id, id) WHERE state = 'queued' AND blocked = 0;
      CREATE INDEX jobs_blocked ON jobs (batch_id) WHERE blocked = 1;
      CREATE TABLE job_deps (
        job_id INTEGER NOT NULL REFERENCES jobs(id),
        dep_id INTEGER NOT NULL REFERENCES jobs(id),
        PRIMARY KEY (job_id, dep_id)
      ) WITHOUT ROWID;
      CREATE INDEX job_deps_dep ON job_deps (dep_id);
    `,
  },
];
