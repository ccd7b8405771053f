/**
 * The one connection to `archive.db` the store's roles share (drain ledger, parse queue, search
 * index, archive reader, and the bus on the same connection): opening and migrating it, the
 * statement cache, and the transactions that skip their own fsync.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensurePrivateFileSync, makePrivateDirSync } from '../fs-node/private-files.js';
import { MailsluiceError } from '../../core/errors/index.js';
import { MIGRATIONS, SEARCH_MIGRATIONS } from './sqlite-schema.js';
import { migrateWithBackup, refuseNewerSchema } from './sqlite-upgrade.js';
import { openSearchDb, sweepPurgedSearch } from './fts-writer-worker.js';
import { recordVersionOfNewIndex } from './fts-version.js';
import { mapSqliteError } from './sqlite-error-map.js';
import { pragma, retain, userVersion } from '../sqlite-node/sqlite-retain.js';
import { enterWalMode } from '../sqlite-node/sqlite-wal.js';
import type { SqliteStoreOptions } from './sqlite-store-config.js';
import { preferIncrementalVacuum } from './sqlite-compact.js';
import { attachDatabase, keyDatabase, type DatabaseKey } from './sqlite-cipher.js';

/** A prepared statement of the shared connection. */
export type Stmt = Database.Statement<unknown[], unknown>;

/**
 * The embedded metadata database: WAL with `synchronous=FULL`, so a commit that returned
 * survives a power cut (ARCHITECTURE "Known sharp edges").
 */
export class SqliteConnection {
  readonly db: Database.Database;
  /** `search.db` beside `archive.db`: the full-text index, attached as `s`. */
  readonly searchFile: string;
  /** This connection's `synchronous` setting. */
  readonly synchronous: 'full' | 'normal';
  readonly waitForLocks: 'block' | 'yield';
  /** Whether the journal columns exist (false only for an older database opened read-only). */
  readonly journalColumns: boolean;
  /** The databases' key (ADR 0035), or null: in clear. */
  readonly key: DatabaseKey;
  /** Whether `search.db` is attached as `s` (not for a read-only open of an archive without one). */
  readonly searchAttached: boolean;
  private readonly stmts: Record<string, Stmt> = {};
  private readonly tables = new Set<string>();

  constructor(options: SqliteStoreOptions) {
    this.synchronous = options.synchronous ?? 'full';
    this.key = options.key ?? null;
    try {
      if (!options.readonly) {
        // 0600 before SQLite makes it 0644 (less the umask); its -wal and -shm take this mode.
        makePrivateDirSync(dirname(options.file));
        ensurePrivateFileSync(options.file);
      }
      this.db = new Database(options.file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
      keyDatabase(this.db, options.file, this.key);
      this.waitForLocks = options.waitForLocks ?? 'block';
      // Opening waits for locks whatever the policy: a `yield` connection (the dispatcher's
      // thread) opened while the drain commits got SQLITE_BUSY from its first statements, and the
      // service stopped ("dispatcher failed"): the data-dir test's flake, seen in CI.
      pragma(this.db, 'busy_timeout = 10000');
      this.searchFile = join(dirname(options.file), 'search.db');
      if (!options.readonly) {
        // Before anything writes the new file's first page (journal_mode = WAL does): a new archive
        // frees pages without a VACUUM (ADR 0037, the databases' space). No effect on an existing file.
        preferIncrementalVacuum(this.db);
        enterWalMode(this.db);
        pragma(this.db, this.synchronous === 'normal' ? 'synchronous = NORMAL' : 'synchronous = FULL');
        pragma(this.db, 'foreign_keys = ON');
        migrateWithBackup(this.db, options.file, MIGRATIONS);
        if (!this.attachReadySearchDb()) {
          const search = openSearchDb(this.searchFile, this.key);
          try {
            // A new index is at this build's version; one with older rows is rebuilt (fts-version.ts).
            // In one IMMEDIATE transaction: its look and its insert are one step for processes that
            // open a new archive at the same moment (else two both saw no version and the second's
            // insert failed, UNIQUE constraint: the sqlite-store test's flake).
            search.transaction(() => recordVersionOfNewIndex(search, () => retain(this.db.prepare('SELECT 1 FROM messages WHERE parse_state <> 0 LIMIT 1')).get() !== undefined)).immediate();
          } finally {
            search.close();
          }
        }
        // A purge's full-text removal a crash interrupted, finished before any id is taken again.
        sweepPurgedSearch(this.db, this.searchFile, this.key);
      }
      // The file exists from the moment a first start or drain creates it (empty, 0600) until
      // its first migration commits: no archive to read yet.
      if (options.readonly) refuseNewerSchema(this.db, options.file, MIGRATIONS.length);
      if (options.readonly && userVersion(this.db) === 0) {
        throw new MailsluiceError('ARCHIVE_NOT_FOUND', `${options.file} holds no archive yet (a first start or drain is creating it; try again in a moment)`);
      }
      // An older database opened read-only is not migrated: search and stats then do without.
      this.journalColumns = (pragma(this.db, 'table_info(messages)') as Array<{ name: string }>).some((c) => c.name === 'merged_into');
      // Queries join the index in search.db with the messages here.
      this.searchAttached = !options.readonly || existsSync(this.searchFile);
      if (this.searchAttached && !this.attached('s')) attachDatabase(this.db, this.searchFile, 's', this.key);
      // `yield`: no busy timeout from here on; the bus retries asynchronously (SqliteBus).
      if (this.waitForLocks === 'yield') pragma(this.db, 'busy_timeout = 0');
    } catch (err) {
      if (err instanceof MailsluiceError) throw err;
      throw mapSqliteError(err, `opening ${options.file}`);
    }
  }

  /**
   * Attaches `search.db` as `s` and answers true when it is already what `openSearchDb` and
   * `recordVersionOfNewIndex` would make it (the file there, migrated to this build, in WAL mode,
   * its index version recorded): then their own connection to it, opened and closed again at every
   * read-write open, would change nothing, and is skipped (a few ms of each `search` process,
   * issue 17, ADR 0039). Otherwise detaches it again and answers false: they do their work first.
   */
  private attachReadySearchDb(): boolean {
    if (!existsSync(this.searchFile)) return false;
    attachDatabase(this.db, this.searchFile, 's', this.key);
    const one = (sql: string): unknown => Object.values((pragma(this.db, sql)[0] as Record<string, unknown> | undefined) ?? {})[0];
    const ready =
      Number(one('s.user_version')) === SEARCH_MIGRATIONS.length &&
      String(one('s.journal_mode')).toLowerCase() === 'wal' &&
      retain(this.db.prepare("SELECT 1 FROM s.search_meta WHERE key = 'version'")).get() !== undefined;
    if (!ready) retain(this.db.prepare('DETACH DATABASE s')).run();
    return ready;
  }

  /** Whether a database is attached as `alias`. */
  private attached(alias: string): boolean {
    return (pragma(this.db, 'database_list') as Array<{ name: string }>).some((d) => d.name === alias);
  }

  /**
   * Every statement comes from here and lives as long as the connection, never left to the
   * garbage collector: better-sqlite3 12 on Node 24.19+ aborts the process when an idle GC
   * finalizes a Statement (its ObjectWrap destructor runs without a JS context; see
   * docs/dependencies.md). The few dynamic SQL texts (search, list filters) are bounded.
   */
  stmt(sql: string): Stmt {
    let s = this.stmts[sql];
    if (!s) {
      s = this.db.prepare(sql);
      this.stmts[sql] = s;
    }
    return s;
  }

  /**
   * Runs `fn` (a transaction) under `synchronous = NORMAL`: its commit is not fsynced, and the next
   * FULL commit's fsync of the WAL persists it (the WAL is replayed in order, so no later commit
   * survives a power cut without it). For writes a power cut may undo because they are redone
   * anyway; an fsync each also held the write lock, which the dispatcher's thread waits for.
   */
  withoutFsync<T>(fn: () => T): T {
    if (this.synchronous !== 'full') return fn();
    this.stmt('PRAGMA synchronous = NORMAL').run();
    try {
      return fn();
    } finally {
      this.stmt('PRAGMA synchronous = FULL').run();
    }
  }

  /**
   * Whether table `name` exists: an older archive opened read-only is not migrated, and its
   * readers answer "nothing yet" for what a later migration adds. A table found stays found.
   */
  hasTable(name: string): boolean {
    if (this.tables.has(name)) return true;
    const found = this.stmt("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
    if (found) this.tables.add(name);
    return found;
  }

  /** Closes the database; `keep` (the bus and other holders of statements) stays reachable with it. */
  close(keep: unknown[] = []): void {
    if (this.db.open) this.db.close();
    // Closed statements are still ObjectWraps: kept reachable so no GC ever finalizes one.
    retain([this.db, this.stmts, ...keep]);
  }
}
