/**
 * The PostgreSQL store's migrations, in order, each applied once (`PostgresConnection.migrate`).
 * The tables follow archive.db's (store-sqlite/sqlite-schema.ts) column for column where a role
 * is built, so `migrate --to scale-out` is a copy, not a translation. Times are milliseconds since
 * the epoch in `bigint`, as in SQLite; ids are `bigint` identities (commit order within a worker;
 * across workers, the order in which the sequence handed them out).
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the drain ledger, the parse queue, the outbox's deliveries, sync states, tokens, the audit log.
  `
  CREATE TABLE blobs (
    sha256 text PRIMARY KEY,
    ref text NOT NULL,
    stored_size bigint NOT NULL,
    size bigint NOT NULL
  );
  CREATE TABLE messages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection text NOT NULL,
    sha256 text NOT NULL REFERENCES blobs(sha256),
    size bigint NOT NULL,
    mailbox text NOT NULL,
    uid_validity bigint NOT NULL,
    uid bigint,
    uidl text,
    taken_at bigint NOT NULL,
    parse_state smallint NOT NULL DEFAULT 0, -- 0 waiting, 1 parsed, 2 unparsable
    parse_error text,
    from_addr text,
    to_addrs text,
    subject text,
    date text,
    message_id text,
    has_attachments boolean,
    attributes text,
    journal_original text,
    journal_sender text,
    merged_into bigint REFERENCES messages(id),
    UNIQUE (connection, sha256)
  );
  CREATE INDEX messages_unparsed ON messages (id) WHERE parse_state = 0;
  CREATE INDEX messages_unparsed_by_connection ON messages (connection, id) WHERE parse_state = 0;
  CREATE INDEX messages_journal ON messages (connection, journal_original) WHERE journal_original IS NOT NULL;
  CREATE INDEX messages_taken ON messages (taken_at) INCLUDE (connection, size);

  -- Every server identity a message was taken under; action_state 0 = server action pending,
  -- 1 = done, 2 = superseded (UIDVALIDITY changed before the action ran).
  CREATE TABLE source_keys (
    connection text NOT NULL,
    source_key text NOT NULL,
    message_id bigint NOT NULL REFERENCES messages(id),
    mailbox text NOT NULL,
    uid_validity bigint NOT NULL,
    uid bigint,
    uidl text,
    action_state smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (connection, source_key)
  );
  CREATE INDEX source_keys_pending ON source_keys (connection, mailbox, uid_validity) WHERE action_state = 0;

  CREATE TABLE mailbox_state (
    connection text NOT NULL,
    mailbox text NOT NULL,
    uid_validity bigint NOT NULL,
    last_uid bigint NOT NULL,
    PRIMARY KEY (connection, mailbox)
  );

  -- The outbox (ADR 0006): written in the transaction that marks a message parsed; bus-sqlite's
  -- columns, so the NATS relay (issue 20, item 3) reads the same rows: it publishes each new
  -- row with Nats-Msg-Id = id and records that it did (a column it adds in its own migration).
  CREATE TABLE deliveries (
    id text PRIMARY KEY,
    message_id bigint NOT NULL REFERENCES messages(id),
    connection text NOT NULL,
    route text NOT NULL,
    bus integer NOT NULL,
    step integer NOT NULL DEFAULT 0,
    attempts integer NOT NULL DEFAULT 0,
    next_at bigint NOT NULL,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
    lease_until bigint NOT NULL DEFAULT 0,
    last_error text,
    response text,
    created_at bigint NOT NULL,
    done_at bigint
  );
  CREATE INDEX deliveries_lane ON deliveries (bus, connection, route, message_id) WHERE state = 'pending';

  CREATE TABLE sync_state (
    connection text NOT NULL,
    folder text NOT NULL,
    -- bytea, not text: a source's state is opaque and may hold U+0000, which text refuses.
    state bytea NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (connection, folder)
  );

  CREATE TABLE api_tokens (
    name text PRIMARY KEY,
    role text NOT NULL,
    hash text NOT NULL UNIQUE,
    created_at bigint NOT NULL,
    last_used_at bigint
  );

  CREATE TABLE audit_log (
    seq bigint PRIMARY KEY,
    at bigint NOT NULL,
    who text NOT NULL,
    origin text NOT NULL,
    action text NOT NULL,
    detail text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL
  );
  CREATE INDEX audit_log_at ON audit_log (at);
  CREATE TABLE audit_head (id integer PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, hash text NOT NULL);
  CREATE TABLE audit_checkpoint (
    id integer PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL,
    hash text NOT NULL,
    file text NOT NULL,
    file_sha256 text NOT NULL,
    at bigint NOT NULL
  );
  -- Append-only, as in SQLite: no UPDATE, and no DELETE but a retention move's, which sets the
  -- transaction-local mailsluice.audit_prune_up_to to its checkpoint (ADR 0029).
  CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF TG_OP = 'DELETE' AND OLD.seq <= coalesce(nullif(current_setting('mailsluice.audit_prune_up_to', true), '')::bigint, 0) THEN
      RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
  END $$;
  CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
  `,
  // 2: legal holds, retention's purge, the archive check (ADR 0050, "The remaining roles").
  // legal_holds as archive.db's, `ids` a bigint[]; a trigger keeps every hold and lets only its
  // release be written, once. purged_keys: source keys of purged messages, still answered as taken
  // so a message left on the server is not taken again. purged_blobs: hashes whose catalogue row a
  // purge removed (verify must not call their records orphans). The indexes: a deleted message is
  // checked against every table that refers to it, and PostgreSQL does not index a referencing
  // column by itself (without them each purged message was a scan of deliveries, source_keys and
  // messages); messages_sha256 answers "which messages hold these bytes" (holds, the purge's
  // shared-blob check, verify) without a scan, which UNIQUE (connection, sha256) cannot (no skip scan).
  // The response columns are bus-sqlite's (a delivery with a response is busy until applied);
  // IF NOT EXISTS, as the response ledger on PostgreSQL may add them too.
  `
  CREATE TABLE legal_holds (
    name text PRIMARY KEY,
    reason text NOT NULL,
    query text,
    ids bigint[] NOT NULL DEFAULT '{}',
    placed_by text NOT NULL,
    placed_at bigint NOT NULL,
    released_by text,
    released_at bigint,
    release_reason text
  );
  CREATE FUNCTION legal_holds_release_only() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'legal holds are kept for the record'; END IF;
    IF OLD.released_at IS NOT NULL OR NEW.name IS DISTINCT FROM OLD.name OR NEW.reason IS DISTINCT FROM OLD.reason
       OR NEW.query IS DISTINCT FROM OLD.query OR NEW.ids IS DISTINCT FROM OLD.ids OR NEW.placed_by IS DISTINCT FROM OLD.placed_by
       OR NEW.placed_at IS DISTINCT FROM OLD.placed_at THEN
      RAISE EXCEPTION 'a legal hold is only ever released, once';
    END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER legal_holds_kept BEFORE UPDATE OR DELETE ON legal_holds FOR EACH ROW EXECUTE FUNCTION legal_holds_release_only();

  CREATE TABLE purged_keys (
    connection text NOT NULL,
    source_key text NOT NULL,
    PRIMARY KEY (connection, source_key)
  );
  CREATE TABLE purged_blobs (sha256 text PRIMARY KEY);

  CREATE INDEX source_keys_message ON source_keys (message_id);
  CREATE INDEX deliveries_message ON deliveries (message_id);
  CREATE INDEX messages_merged ON messages (merged_into) WHERE merged_into IS NOT NULL;
  CREATE INDEX messages_sha256 ON messages (sha256);

  ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS response_result text CHECK (response_result IN ('applied', 'not-applicable', 'failed'));
  ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS response_note text;
  ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS response_at bigint;
  `,
  // 3: the buses on PostgreSQL (adapters/bus-postgres, ADR 0052): bus-sqlite's later columns
  // (an attempt started, the response's result) and the claim's holder, so several workers share
  // the deliveries; the partial index the response ledger reads, as archive.db's.
  `
  ALTER TABLE deliveries
    ADD COLUMN started boolean NOT NULL DEFAULT false,
    ADD COLUMN claimed_by text,
    ADD COLUMN IF NOT EXISTS response_result text CHECK (response_result IN ('applied', 'not-applicable', 'failed')),
    ADD COLUMN IF NOT EXISTS response_note text,
    ADD COLUMN IF NOT EXISTS response_at bigint;
  CREATE INDEX deliveries_responses ON deliveries (connection, message_id) WHERE response IS NOT NULL AND response_result IS NULL;
  `,
  // 4: the JetStream relay (adapters/bus-nats, ADR 0052): when a delivery was published to the
  // stream; the relay reads the committed rows still without it.
  `
  ALTER TABLE deliveries ADD COLUMN relayed_at bigint;
  CREATE INDEX deliveries_unrelayed ON deliveries (message_id) WHERE relayed_at IS NULL;
  `,
  // 5: connection leases with fencing tokens (ADR 0053): one row per leased key, tokens from one
  // sequence (they only grow, across keys), expiry on the server's clock; the workers' heartbeats;
  // the token each message row was committed under (null: committed without a lease).
  `
  CREATE SEQUENCE lease_tokens;
  CREATE TABLE connection_leases (
    key text PRIMARY KEY,
    holder text NOT NULL,
    token bigint NOT NULL,
    expires_at timestamptz NOT NULL
  );
  CREATE TABLE lease_workers (
    worker text PRIMARY KEY,
    expires_at timestamptz NOT NULL
  );
  ALTER TABLE messages ADD COLUMN lease_token bigint;
  `,
  // 6 (ADR 0051): full-text search, one tsvector a message (postgres-search-rows.ts says its
  // lexemes), written by the parse save in its transaction; removed with its message.
  `
  CREATE TABLE message_search (
    id bigint PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    doc tsvector NOT NULL
  );
  CREATE INDEX message_search_doc ON message_search USING gin (doc);
  -- Whether any report is merged (search then lists a match's primary) is answered by migration 2's messages_merged.
  -- The index's build state (postgres-search-rebuild.ts): the version its rows were written at and
  -- a rebuild's progress, written with the rows they describe.
  CREATE TABLE search_meta (key text PRIMARY KEY, value text NOT NULL);
  `,
];
