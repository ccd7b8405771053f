/**
 * Schema migrations of the embedded store, applied in order; `user_version` records how many
 * ran. A migration is never edited once released: add a new one.
 */
import { SEARCH_META_DDL } from './fts-version.js';

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    ref TEXT NOT NULL,
    stored_size INTEGER NOT NULL,
    size INTEGER NOT NULL
  ) WITHOUT ROWID;

  -- One row per connection and content hash: the same bytes taken again (a UIDVALIDITY reset,
  -- a POP3 server that renumbered) are recognised and never archived twice.
  CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    connection TEXT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    size INTEGER NOT NULL,
    mailbox TEXT NOT NULL,
    uid_validity INTEGER NOT NULL,
    uid INTEGER,
    uidl TEXT,
    taken_at INTEGER NOT NULL,
    parse_state INTEGER NOT NULL DEFAULT 0, -- 0 waiting, 1 parsed, 2 unparsable
    parse_error TEXT,
    from_addr TEXT,
    to_addrs TEXT,
    subject TEXT,
    date TEXT,
    message_id TEXT,
    has_attachments INTEGER,
    attributes TEXT,
    UNIQUE (connection, sha256)
  );
  CREATE INDEX messages_unparsed ON messages(id) WHERE parse_state = 0;
  CREATE INDEX messages_date ON messages(date);

  -- Every server identity a message was taken under; action_state 0 = server action pending,
  -- 1 = done, 2 = superseded (UIDVALIDITY changed before the action ran).
  CREATE TABLE source_keys (
    connection TEXT NOT NULL,
    source_key TEXT NOT NULL,
    message_id INTEGER NOT NULL REFERENCES messages(id),
    mailbox TEXT NOT NULL,
    uid_validity INTEGER NOT NULL,
    uid INTEGER,
    uidl TEXT,
    action_state INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (connection, source_key)
  ) WITHOUT ROWID;
  CREATE INDEX source_keys_pending ON source_keys(connection, mailbox, uid_validity) WHERE action_state = 0;

  CREATE TABLE mailbox_state (
    connection TEXT NOT NULL,
    mailbox TEXT NOT NULL,
    uid_validity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL,
    PRIMARY KEY (connection, mailbox)
  ) WITHOUT ROWID;
  `,
  // 1: blobs staged raw on the drain's critical path (refs 'stage-…', STAGING_REF_PREFIX in
  // core/ports/blob-store.ts) are found by the compress stage through this partial index; it
  // holds only staged rows, so commits of compressed blobs do not pay for it.
  `
  CREATE INDEX blobs_staged ON blobs(ref) WHERE ref LIKE 'stage-%';
  `,
  // 2: the buses (docs/adr/0006-outbox-and-buses.md). One row per message and route that takes
  // it, inserted in the transaction that saves the message's parse result; id
  // '<connection>.<route>.<message id>'. state: pending → done | dead (dead → pending on replay).
  // step: the next scenario action to run; attempts: tries of that step. lease_until: claimed by
  // a dispatcher until then (embedded mode clears every claim at start).
  `
  CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id),
    connection TEXT NOT NULL,
    route TEXT NOT NULL,
    bus INTEGER NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
    lease_until INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    response TEXT,
    created_at INTEGER NOT NULL,
    done_at INTEGER
  ) WITHOUT ROWID;
  -- A lane's claim: the first pending delivery of each (connection, route) pair of a bus.
  CREATE INDEX deliveries_lane ON deliveries(bus, connection, route, message_id) WHERE state = 'pending';
  CREATE INDEX deliveries_route ON deliveries(route, state, message_id);
  `,
  // 3: bifurcated Exchange journal reports (docs/journal-reports.md, "Bifurcation"). Set by
  // saveParsed for an unwrapped report only: journal_original is the original's Message-ID,
  // journal_sender the envelope's Sender (lowercase), the key under which reports of one original
  // merge; merged_into points a later report at the first one (the primary), which carries the
  // merged envelope. The partial index holds journal rows only, so other mail does not pay for it.
  `
  ALTER TABLE messages ADD COLUMN journal_original TEXT;
  ALTER TABLE messages ADD COLUMN journal_sender TEXT;
  ALTER TABLE messages ADD COLUMN merged_into INTEGER REFERENCES messages(id);
  CREATE INDEX messages_journal ON messages(connection, journal_original) WHERE journal_original IS NOT NULL;
  `,
  // Server responses applied by the connection (core/archive/apply-responses.ts). A finished
  // delivery with a `response` is pending until `response_result` is set: 'applied',
  // 'not-applicable' (the message is no longer there under its UID) or 'failed' (the server
  // refused), with `response_note` saying why and `response_at` when. A replay clears all three
  // with the response. The partial index holds only the pending ones, so the runner's look
  // before every cycle costs nothing when there are none.
  `
  ALTER TABLE deliveries ADD COLUMN response_result TEXT CHECK (response_result IN ('applied', 'not-applicable', 'failed'));
  ALTER TABLE deliveries ADD COLUMN response_note TEXT;
  ALTER TABLE deliveries ADD COLUMN response_at INTEGER;
  CREATE INDEX deliveries_responses ON deliveries(connection, message_id) WHERE response IS NOT NULL AND response_result IS NULL;
  `,
  // The bus's parse barrier (bus-sqlite/sqlite-bus.ts): the first unparsed message of one connection, asked
  // on every claim. Without (connection, id) SQLite walked the connection's whole
  // UNIQUE(connection, sha256) index per pending delivery: 770 ms per claim at 1,600 pending.
  `
  CREATE INDEX messages_unparsed_by_connection ON messages(connection, id) WHERE parse_state = 0;
  `,
  // The bodies of a message that routes take ({ TextBody, HtmlBody } as JSON), saved with its
  // parse result: re-parsing every routed message for its bodies doubled the parse work of a
  // drain with a webhook route. Other messages keep none (the full-text index has the text).
  `
  ALTER TABLE messages ADD COLUMN bodies TEXT;
  `,
  // A message's saved bodies are dropped once none of its deliveries is pending (bus-sqlite/sqlite-bus.ts):
  // the question "any pending delivery of this message?" needs an index by message.
  `
  CREATE INDEX deliveries_pending_by_message ON deliveries(message_id) WHERE state = 'pending';
  `,
  // Since ADR 0011 the dispatcher thread is handed the bodies in memory (or parses the message
  // again), so nothing writes or reads messages.bodies any more: what an older version left there
  // goes, and so does the index that only served dropping it. The column stays: dropping it
  // would rewrite the whole messages table at the first start after an upgrade.
  `
  UPDATE messages SET bodies = NULL WHERE bodies IS NOT NULL;
  DROP INDEX IF EXISTS deliveries_pending_by_message;
  `,
  // An attempt recorded started before its action runs (bus-sqlite/sqlite-bus.ts attemptsStarted), cleared
  // by every outcome: one still set at the next claim is an attempt whose process died, counted
  // as failed, so a message that kills its runner is dead-lettered after maxAttempts.
  `
  ALTER TABLE deliveries ADD COLUMN started INTEGER NOT NULL DEFAULT 0;
  `,
  // API tokens and the audit log (docs/adr/0022-tokens-and-audit-chain.md). A token is kept as
  // the SHA-256 of its secret only, found by that hash. The audit log is append-only: the triggers
  // refuse every UPDATE and DELETE, whoever asks (the port has no way to ask); the hash chain
  // (core/audit/audit-chain.ts) finds a change made after dropping them. audit_head keeps the
  // last record's place, written in the append's transaction, so a removed last record is found.
  // IF NOT EXISTS: a test (or an operator) that winds user_version back runs this again.
  `
  CREATE TABLE IF NOT EXISTS api_tokens (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'auditor', 'admin')),
    hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    who TEXT NOT NULL,
    origin TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log(at);
  CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
  );
  `,
  // The audit log's retention (docs/adr/0029-audit-retention.md). audit_checkpoint (one row):
  // where the live chain starts after the oldest records moved to a sealed file in
  // dataDir/audit-archive; it only goes forward and is never removed. audit_prune_guard: a row
  // the move inserts and deletes again inside its own transaction (so no other connection ever
  // sees it); the DELETE trigger lets a row go only while that row exists and only up to both its
  // bound and the checkpoint already recorded. Everything else is refused as before.
  // IF EXISTS / IF NOT EXISTS: a test (or an operator) that winds user_version back runs this again.
  `
  CREATE TABLE IF NOT EXISTS audit_checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    file TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS audit_prune_guard (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    up_to INTEGER NOT NULL
  );
  DROP TRIGGER IF EXISTS audit_log_no_delete;
  CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    WHEN NOT EXISTS (
      SELECT 1 FROM audit_prune_guard g JOIN audit_checkpoint c ON c.id = 1
      WHERE g.id = 1 AND OLD.seq <= g.up_to AND OLD.seq <= c.seq
    )
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER IF NOT EXISTS audit_checkpoint_forward BEFORE UPDATE ON audit_checkpoint
    WHEN NEW.seq <= OLD.seq
    BEGIN SELECT RAISE(ABORT, 'the audit checkpoint only moves forward'); END;
  CREATE TRIGGER IF NOT EXISTS audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint
    BEGIN SELECT RAISE(ABORT, 'the audit checkpoint is never removed'); END;
  `,
  // The throughput of recent minutes (issue 15, the console's chart, ArchiveReader.takenPerBucket):
  // the messages taken in a window counted from this index alone (it covers connection and size),
  // not from the rows, whose attributes make reading them cost about ten times more. Measured on
  // 60,000 rows committed in batches of 500: about 6 µs per row inserted with it and without (the
  // key grows with the time, so it is appended to); the hour's count 16 ms instead of some 150 ms
  // reading the rows. IF NOT EXISTS: a test that winds user_version back runs this again.
  `
  CREATE INDEX IF NOT EXISTS messages_taken ON messages(taken_at, connection, size);
  `,
  // Legal holds (issue 16, item 4; docs/legal-hold.md). A hold is never deleted and, once placed,
  // only its release is ever written (once): the triggers refuse the rest, whoever asks. `ids` is
  // a JSON array of message ids. messages_merged finds the journal reports merged into a message
  // (a hold's query matches a primary through them, as search does); partial, so the drain's rows
  // that are no merged report cost it nothing. IF NOT EXISTS: a test that winds user_version back
  // runs this again.
  `
  CREATE TABLE IF NOT EXISTS legal_holds (
    name TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    query TEXT,
    ids TEXT NOT NULL DEFAULT '[]',
    placed_by TEXT NOT NULL,
    placed_at INTEGER NOT NULL,
    released_by TEXT,
    released_at INTEGER,
    release_reason TEXT
  ) WITHOUT ROWID;
  CREATE TRIGGER IF NOT EXISTS legal_holds_no_delete BEFORE DELETE ON legal_holds
    BEGIN SELECT RAISE(ABORT, 'legal holds are kept for the record'); END;
  CREATE TRIGGER IF NOT EXISTS legal_holds_release_only BEFORE UPDATE ON legal_holds
    WHEN OLD.released_at IS NOT NULL OR NEW.name IS NOT OLD.name OR NEW.reason IS NOT OLD.reason OR NEW.query IS NOT OLD.query
      OR NEW.ids IS NOT OLD.ids OR NEW.placed_by IS NOT OLD.placed_by OR NEW.placed_at IS NOT OLD.placed_at
    BEGIN SELECT RAISE(ABORT, 'a legal hold is only ever released, once'); END;
  CREATE INDEX IF NOT EXISTS messages_merged ON messages(merged_into) WHERE merged_into IS NOT NULL;
  `,
  // Retention's purge (docs/retention.md, store-sqlite/sqlite-retention.ts). source_keys_message:
  // a purged message's source keys found by message (the table's key is (connection, source_key));
  // ids only grow, so each take appends at the index's right edge. purged_keys: the source keys of
  // purged messages, which lookupTaken and lookupSettled still answer, so a message left on the
  // server (POP3 leave, a folder listed again) is not taken back after its purge. purged_search:
  // the ids whose full-text rows (search.db, written by its own thread) are still to be removed,
  // inserted in the purge's transaction and emptied once search.db committed their removal, so a
  // crash between the two commits is finished by the next open of the store or the next purge.
  // purged_blobs: the hashes whose catalogue row a purge removed; their records stay in the packs
  // until compaction rewrites them, and verify must not call them orphans (nor --repair index them
  // again: a purged message would come back).
  `
  CREATE INDEX IF NOT EXISTS source_keys_message ON source_keys(message_id);
  CREATE TABLE IF NOT EXISTS purged_keys (
    connection TEXT NOT NULL,
    source_key TEXT NOT NULL,
    PRIMARY KEY (connection, source_key)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS purged_search (id INTEGER PRIMARY KEY);
  CREATE TABLE IF NOT EXISTS purged_blobs (sha256 TEXT PRIMARY KEY) WITHOUT ROWID;
  `,
  // A search the full-text index drives checks each match's row for the query's other terms (a
  // merged report's primary, dates, the attachment flag, the connection; ADR 0042): this index
  // holds just those, so a match costs a probe of a small B-tree instead of the table's rows,
  // which the attributes make kilobytes long (~4x fewer pages read a match).
  `
  CREATE INDEX IF NOT EXISTS messages_hit_filter ON messages(id, merged_into, date, has_attachments, connection);
  `,
  // Sources' synchronisation cursors (core/ports/sync-state-store.ts, ADR 0047): EWS's
  // SyncFolderItems state, Graph's delta link, one per connection and folder, opaque to us. A
  // source whose items stay on the server lists from it only what changed since, instead of the
  // whole folder every cycle. Rows of a connection removed from the configuration stay, as its
  // source keys do: a connection of that name again resumes (or the server refuses the state, and
  // a full sync filtered by the source keys follows). IF NOT EXISTS: a test that winds
  // user_version back runs this again.
  `
  CREATE TABLE IF NOT EXISTS sync_state (
    connection TEXT NOT NULL,
    folder TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (connection, folder)
  ) WITHOUT ROWID;
  `,
];

/**
 * The full-text index lives in its own database file (`search.db`), written by its own thread:
 * tokenising a body costs ~150 µs per small message, which must not run on the main thread, and
 * a separate file means those writes never wait for (or hold up) the drain's commits.
 */
export const SEARCH_MIGRATIONS: readonly string[] = [
  `
  CREATE VIRTUAL TABLE messages_fts USING fts5(
    subject, addresses, body, attachments,
    content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2'
  );
  `,
  // The index's own facts (fts-version.ts): the version its rows were written at, and a
  // re-index's progress (core/archive/reindex.ts), written with the rows they describe.
  SEARCH_META_DDL,
  // The query language's index (issue 17; docs/search.md): a column per field a term can name
  // (sender, to_rcpt, cc_rcpt, bcc_rcpt: core/message/parsed-record.ts searchAddressesOf, a
  // journal envelope included) and `stems`, the word forms of subject, body and attachment names
  // (stem-node/word-forms.ts) that a bare word also matches. Contentless as before (a purge deletes rows).
  // The old table's rows cannot be split into the new columns, so they go with it: the new table
  // starts empty and search_meta's version is removed: rows of an older build, which the re-index
  // from the raw messages (core/archive/reindex.ts) brings up to SEARCH_INDEX_VERSION
  // (fts-version.ts); a new archive with nothing indexed is recorded as current when it opens.
  // Until the re-index has run, text terms find only what was parsed since.
  `
  CREATE VIRTUAL TABLE messages_search USING fts5(
    subject, sender, to_rcpt, cc_rcpt, bcc_rcpt, body, attachments, stems,
    content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2'
  );
  DROP TABLE messages_fts;
  DELETE FROM search_meta WHERE key = 'version';
  `,
];
