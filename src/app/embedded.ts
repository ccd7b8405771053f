/**
 * The embedded composition root: SQLite + pack files in the data directory, nothing else to
 * install. The only module that knows both the core and the concrete adapters.
 */
import { openArchiveKeyring, openDatabaseKey } from './archive-keys.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BlobStore } from '../core/ports/blob-store.js';
import type { DispatchArchive } from './dispatch-archive.js';
import type { MessageParser } from '../core/ports/message-parser.js';
import type { Logger } from '../core/ports/logger.js';
import type { MessageBus } from '../core/ports/message-bus.js';
import type { DeliveryAdmin } from '../core/ports/delivery-admin.js';
import type { MessageStore } from '../core/ports/message-store.js';
import type { ResponseLedger } from '../core/ports/response-ledger.js';
import type { Clock } from '../core/ports/clock.js';
import type { MailboxSource, SourceRuntime } from '../core/ports/mailbox-source.js';
import type { TlsMemory } from '../core/connection/tls-downgrade.js';
import type { SyncStateStore } from '../core/ports/sync-state-store.js';
import type { TokenStore } from '../core/ports/token-store.js';
import type { AuditLog } from '../core/ports/audit-log.js';
import type { HoldStore } from '../core/ports/hold-store.js';
import { createHeldAmong, type HeldAmong } from '../core/holds/held-among.js';
import type { ArchiveIndexCheck, BlobScanner } from '../core/ports/archive-check.js';
import type { Principal } from '../core/access/principal.js';
import type { RetentionStore } from '../core/ports/retention-store.js';
import type { IndexProgress, SearchRebuild } from '../core/ports/search-rebuild.js';
import { verifyToken } from './tokens.js';
import { randomInt } from 'node:crypto';
// The blob store and the bus are imported by the app that uses them (createEmbeddedApp), not
// here: `search` opens only the store (openStoreApp) and must not pay for loading them (ADR 0039).
import type { FsBlobStore } from '../adapters/blob-fs/index.js';
import type { ArchiveKeyring } from './archive-keys.js';
import type { CompressSchedule, CompressTotals } from '../core/archive/compress-stage.js';
import { createSqliteStore, lockDataDir, takeReclaimLock, type DataDirLock, type ReclaimLock, type SqliteStore } from '../adapters/store-sqlite/index.js';
import { makePrivateDirSync, tightenTree } from '../adapters/fs-node/private-files.js';
import { MailsluiceError } from '../core/errors/index.js';
import { JsonlLogger, connectionLogLevel, type LogSink } from '../adapters/logger-jsonl/index.js';
import { systemClock } from '../adapters/clock-system/index.js';
import type { Config, ConnectionConfig } from '../config/loader.js';
import { ByteBudget, DEFAULT_IN_FLIGHT_BYTES } from '../core/memory/byte-budget.js';
import { guardTls } from './tls-guard.js';
import { reclaimSerial, type ReclaimDeps, type ReclaimSpaceResult } from './reclaim-space.js';
import type { ReclaimTotals } from '../core/archive/pack-reclaim.js';
import { toParsedRecord } from '../core/message/parsed-record.js';

/** Builds a connection's mailbox source, guarded against a STARTTLS downgrade (ADR 0016). */
export type SourceMaker = (cfg: ConnectionConfig, logger: Logger, runtime?: SourceRuntime) => MailboxSource;

/**
 * Everything a command needs, built once, typed by the ports it is used through: a second
 * composition root (another store or blob backend) builds the same shape from other adapters.
 */
export interface EmbeddedApp {
  /**
   * The configuration running now: the file as read at the start, and after each time it was
   * applied again (`PipelineRun.reload`) the one applied, with the settings that wait for a
   * restart still at their running values. Read it when it is used, not once.
   */
  readonly config: Config;
  /** Makes `next` the running configuration (`PipelineRun.reload`, after it applied it). */
  setConfig(next: Config): void;
  store: MessageStore;
  blobs: BlobStore;
  /** Deferred compression of what the drain staged raw, done by the blob store itself (ADR 0018). */
  compactBlobs(schedule: CompressSchedule, signal?: AbortSignal): Promise<CompressTotals>;
  /**
   * Reclaims the space of dead records in sealed packs (ADR 0036): what a purge calls after it
   * deleted rows. Packs more than a quarter dead are rewritten, packs with no live record
   * deleted; crash-safe at every step. Nothing done (zeros) when a backup or verify held the
   * packs for 30 s.
   */
  reclaimSpace(): Promise<ReclaimSpaceResult>;
  /**
   * `keys encrypt-existing` (ADR 0033, 0036): rewrites every pack still holding a live record in
   * clear, encrypted; resumable. `ARCHIVE_KEY_INVALID`-free: needs encryption on (the caller checks).
   */
  encryptExisting(onProgress?: ReclaimDeps['onProgress']): Promise<ReclaimTotals>;
  /** The archive's master key when the raw store is encrypted (ADR 0033), for the dispatcher thread's store; else null. */
  readonly archiveMasterKey?: Uint8Array | null;
  /** The key of the archive's SQLite databases (ADR 0035), for the threads that open them; null while they are in clear. */
  readonly databaseKey?: Uint8Array | null;
  /** The archive as the dispatcher thread opens it on connections of its own (ADR 0007): plain data, cloned into the thread. */
  dispatchArchive(): DispatchArchive;
  /** The buses: the `deliveries` table of the same database. */
  bus: MessageBus & DeliveryAdmin;
  /** The server responses of finished deliveries, which the connection runners apply (the same table). */
  responses: ResponseLedger;
  /** Per connection, whether its server offered STARTTLS (kept in the archive; ADR 0016). */
  tls: TlsMemory;
  /** The API tokens, kept as hashes (ADR 0022). */
  tokens: TokenStore;
  /** The append-only, hash-chained audit log (ADR 0022). */
  audit: AuditLog;
  /** The legal holds (docs/legal-hold.md). */
  holds: HoldStore;
  /**
   * For the given message ids, the active holds that keep each (by id or by query match): what
   * the purge asks before it removes anything (`core/holds/held-among.ts`).
   */
  heldAmong: HeldAmong;
  /** What `verify` and the scrub read (ADR 0031): the index side, and a scanner of the blob store (one per scan). */
  archiveCheck: {
    index: ArchiveIndexCheck;
    scanner(): BlobScanner;
    /**
     * Holds the packs as they are (`reclaim.lock` shared, ADR 0036) while a whole scan is held
     * against the catalogue: no reclaim run deletes a pack meanwhile. Null when a run held them
     * for `waitMs`.
     */
    holdPacks?(waitMs: number): Promise<ReclaimLock | null>;
  };
  /** What the purge reads and removes of the metadata (docs/retention.md). */
  retention: RetentionStore;
  /**
   * The full-text index's rebuild from the raw messages (ADR 0041): what the re-index job reads
   * and writes, and `indexProgress()`, whether search answers from an index being rebuilt (x of y).
   */
  searchRebuild: SearchRebuild & { indexProgress(): Promise<IndexProgress> };
  /** The principal an `Authorization` header's bearer token stands for, or null (unknown, revoked, malformed). */
  verifyToken(bearer: string): Promise<Principal | null>;
  /** In [0, 1), for back-off jitter. */
  random: () => number;
  logger: Logger;
  /** The level of the service's own log on stderr (threads with a logger of their own use it too). */
  stderrLevel: 'debug' | 'info' | 'warn' | 'error';
  /** The parser is started lazily: commands that do not parse never start worker threads. */
  parser(): MessageParser;
  connectionLogger(c: ConnectionConfig): Logger;
  connectionLogFile(name: string): string;
  createSource: SourceMaker;
  clock: Clock;
  /**
   * The one budget of message bytes held in memory at once, shared by the drain's buffered
   * bodies, the parse and the API's attachment reads (ADR 0017).
   */
  budget: ByteBudget;
  close(): Promise<void>;
}

/** Paths inside the data directory. */
export function dataPaths(dataDir: string): { db: string; blobs: string; logs: string } {
  return { db: join(dataDir, 'archive.db'), blobs: join(dataDir, 'blobs'), logs: join(dataDir, 'logs') };
}

/** Options of {@link createEmbeddedApp}. */
export interface EmbeddedOptions {
  /** Where the service's own log goes besides connection logs (default stderr at warn). */
  stderrLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Open the archive read-only (the reading commands beside a running service). */
  readonly?: boolean;
  /**
   * The command that takes from the mailboxes (`start`, `drain`): the app makes the data
   * directory if there is none, holds its lock for the app's life (a second holder fails with
   * `DATA_DIR_LOCKED`), and makes it and its files private. Without a holder the archive must
   * exist already (`ARCHIVE_NOT_FOUND`): nothing is created for a mistyped `dataDir`.
   */
  holder?: 'start' | 'drain' | 'import' | 'audit prune' | 'verify --repair' | 'keys rotate' | 'keys encrypt-existing' | 'purge' | 'reindex';
}

/**
 * Throws `ARCHIVE_NOT_FOUND` unless `config.dataDir` holds an archive: the commands that only
 * read it (or write beside its holder) never create one where a mistyped path points.
 */
export function assertArchiveExists(config: Config): void {
  if (existsSync(dataPaths(config.dataDir).db)) return;
  throw new MailsluiceError(
    'ARCHIVE_NOT_FOUND',
    `no archive in ${config.dataDir} (no archive.db there): check dataDir in ${config.file}; an archive is made by the first drain or start`,
  );
}

/**
 * Takes the data directory for `command`: made 0700 if missing, locked for this process, and
 * tightened (directories 0700, files 0600) when an older version or an operator left it readable
 * by others, which the log says.
 */
export async function takeDataDir(dir: string, command: string, logger: Logger): Promise<DataDirLock> {
  try {
    makePrivateDirSync(dir);
  } catch (err) {
    throw new MailsluiceError('STORE_WRITE_FAILED', `cannot create the data directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  const lock = lockDataDir(dir, command);
  try {
    const changed = await tightenTree(dir);
    if (changed.length > 0) {
      const first = changed[0]!;
      logger.warn('data directory was readable by other users; tightened to owner only (directories 0700, files 0600)', {
        dataDir: dir,
        changed: changed.length,
        example: `${first.path} was ${first.from.toString(8).padStart(4, '0')}`,
      });
    }
  } catch (err) {
    // Files another user owns cannot be changed by us: say so, and run as before.
    logger.warn('could not tighten the permissions of the data directory', { dataDir: dir, error: (err as NodeJS.ErrnoException).code ?? String(err) });
  }
  return lock;
}

/** Commands that hold the data directory but, like a reading command, never make an archive. */
const HOLDERS_OF_AN_EXISTING_ARCHIVE: ReadonlySet<EmbeddedOptions['holder']> = new Set(['audit prune', 'verify --repair', 'keys rotate', 'keys encrypt-existing', 'purge', 'reindex']);

/** What {@link openArchive} opened: the lock (when held), the keyring, the databases' key and the metadata store. */
interface OpenedArchive {
  lock: DataDirLock | null;
  keyring: ArchiveKeyring;
  databaseKey: Uint8Array | null;
  store: SqliteStore;
}

/**
 * The data directory held when `options.holder` says so, then the key and the metadata store;
 * the lock released again when either fails. The one place both apps open the archive (the
 * whole app with its blob store, and the store app of `search`): the same checks in the same
 * order for both.
 */
async function openArchive(config: Config, options: EmbeddedOptions, logger: JsonlLogger): Promise<OpenedArchive> {
  const paths = dataPaths(config.dataDir);
  // Never an embedded archive in dataDir for a scale-out configuration: its archive is elsewhere.
  if (config.mode === 'scale-out') throw new MailsluiceError('CONFIG_INVALID', `${config.file || 'the configuration'}: mode is scale-out, whose archive is in PostgreSQL and S3; this command works on an embedded archive only`);
  if (!options.holder || HOLDERS_OF_AN_EXISTING_ARCHIVE.has(options.holder)) assertArchiveExists(config);
  const lock = options.holder ? await takeDataDir(config.dataDir, options.holder, logger) : null;
  try {
    // The key first: a wrong or missing one stops the command before it reads or takes anything.
    const keyring = await openArchiveKeyring(config);
    const databaseKey = await openDatabaseKey(keyring, config.dataDir, options.holder !== undefined, logger);
    const store = createSqliteStore({ file: paths.db, key: databaseKey, ...(options.readonly ? { readonly: true } : {}) });
    return { lock, keyring, databaseKey, store };
  } catch (err) {
    lock?.release();
    throw err;
  }
}

/** The blob store of an opened archive; the store and the lock closed again when it fails. */
async function openBlobs(config: Config, opened: OpenedArchive, blobFs: typeof import('../adapters/blob-fs/index.js')): Promise<FsBlobStore> {
  try {
    return await blobFs.createFsBlobStore({ directory: dataPaths(config.dataDir).blobs, keyring: opened.keyring });
  } catch (err) {
    try {
      await opened.store.close();
    } finally {
      opened.lock?.release();
    }
    throw err;
  }
}

/**
 * The app of a command that reads the metadata store and appends to the audit log, and nothing
 * else (`search`): the archive opened as {@link createEmbeddedApp} opens it (the same key check
 * first, the same store), without the blob store, the bus, the parser or the sources, whose
 * modules it never loads (issue 17, ADR 0039).
 */
export interface StoreApp {
  readonly config: Config;
  store: MessageStore;
  /** The append-only, hash-chained audit log (ADR 0022). */
  audit: AuditLog;
  /** `indexProgress()`: whether search answers from an index being rebuilt (ADR 0041). */
  searchRebuild: Pick<SearchRebuild & { indexProgress(): Promise<IndexProgress> }, 'indexProgress'>;
  clock: Clock;
  logger: Logger;
  close(): Promise<void>;
}

/** Opens the {@link StoreApp} of an existing archive: read-only beside a running service, or read-write (`readonly: false`) to append the audit record. */
export async function openStoreApp(config: Config, options: Pick<EmbeddedOptions, 'readonly' | 'stderrLevel'> = {}): Promise<StoreApp> {
  const logger = new JsonlLogger([{ level: options.stderrLevel ?? 'warn', stream: process.stderr }]);
  const { store } = await openArchive(config, options, logger);
  return { config, store, audit: store.audit, searchRebuild: store.searchRebuild, clock: systemClock, logger, close: () => store.close() };
}

/** The parser adapter's module (postal-mime and the character set tables of its libraries). */
export type ParserModule = typeof import('../adapters/parser-postal-mime/index.js');

/**
 * The message parser, its module imported on the first parse unless `preloaded` (most commands
 * never parse, and `search` must start in a fraction of a second: issue 17); its worker threads
 * start on the first parse as before.
 */
export function lazyParser(preloaded: ParserModule | null): MessageParser {
  let real: Promise<MessageParser> | null = null;
  // The index stage's parser: the bytes it parses were read back from the archive for this
  // parse only, so a large one moves to the worker instead of being copied (~0.4 s of the main
  // thread's time on the mixed set's 278 MB).
  const load = (): Promise<MessageParser> =>
    (real ??= (preloaded ? Promise.resolve(preloaded) : import('../adapters/parser-postal-mime/index.js')).then((m) => m.createPostalMimeParser({ transferRaw: true })));
  return {
    parse: async (raw, totalSize) => (await load()).parse(raw, totalSize),
    async parseToRecord(raw, totalSize) {
      const p = await load();
      return p.parseToRecord ? p.parseToRecord(raw, totalSize) : toParsedRecord(await p.parse(raw, totalSize));
    },
    async close() {
      if (real) await (await real).close();
    },
  };
}

/**
 * The commands that take from the mailboxes (ADR 0014): only their apps load the sources'
 * libraries (IMAP, POP3), and they load the parser's module at the start too, as every command
 * did before (ADR 0039): they parse what they take, and the first messages are not held back
 * by the import.
 */
export const TAKERS: ReadonlySet<EmbeddedOptions['holder']> = new Set(['start', 'drain']);

/**
 * The app's `createSource`: for `start` and `drain` the source factory, imported here (the
 * mailbox libraries are the largest part of the code a command would otherwise load for
 * nothing); for every other command one that says it does not take from mailboxes.
 */
export async function loadSourceMaker(holder: EmbeddedOptions['holder']): Promise<(store: TlsMemory & { syncState: SyncStateStore }) => SourceMaker> {
  if (!TAKERS.has(holder)) {
    return () => (c) => {
      throw new MailsluiceError('INTERNAL', `connection ${c.name}: this command opened the archive without the mailbox sources (only start and drain take from mailboxes)`);
    };
  }
  const { createSource } = await import('./source-factory.js');
  // Every session guarded against a STARTTLS downgrade, remembered in archive.db (ADR 0016), and
  // handed the archive's sync states (ADR 0047) unless its maker brought its own.
  return (store) => (c, l, runtime) => guardTls(c, l, store, createSource, { syncState: store.syncState, ...runtime });
}

/** Builds the embedded app for a validated config. */
export async function createEmbeddedApp(config: Config, options: EmbeddedOptions = {}): Promise<EmbeddedApp> {
  const paths = dataPaths(config.dataDir);
  const stderrLevel = options.stderrLevel ?? 'warn';
  const logger = new JsonlLogger([{ level: stderrLevel, stream: process.stderr }]);
  // The modules first, before anything is opened (imported here, not at the top: see the imports).
  const [sourcesOver, parserModule, blobFs, busSqlite] = await Promise.all([
    loadSourceMaker(options.holder),
    TAKERS.has(options.holder) ? import('../adapters/parser-postal-mime/index.js') : null,
    import('../adapters/blob-fs/index.js'),
    import('../adapters/bus-sqlite/index.js'),
  ]);
  const opened = await openArchive(config, options, logger);
  const { lock, store, databaseKey } = opened;
  const blobs = await openBlobs(config, opened, blobFs);
  const createSource = sourcesOver(store);
  // A reader whose ref went stale (its pack rewritten since, ADR 0036) asks the catalogue again.
  blobs.setRelocator((sha256) => store.blobRefs.refOf(sha256));
  const reclaimDeps = (): ReclaimDeps => ({ catalogue: store.blobRefs, rewriter: new blobFs.FsPackRewriter(blobs, logger), clock: systemClock, logger });
  let parser: MessageParser | null = null;
  const logFile = (name: string): string => join(paths.logs, `${name}.log`);
  let running = config;
  return {
    get config() {
      return running;
    },
    setConfig(next) {
      running = next;
    },
    store,
    blobs,
    compactBlobs: (schedule, signal) => blobs.compact(schedule, logger, signal),
    async reclaimSpace() {
      const t = await reclaimSerial(config.dataDir, reclaimDeps(), 'space');
      return { packsRewritten: t?.packsRewritten ?? 0, bytesBefore: t?.bytesBefore ?? 0, bytesAfter: t?.bytesAfter ?? 0 };
    },
    async encryptExisting(onProgress) {
      // The command holds the data directory: no writer commits late, no staging redirect is needed by a commit to come.
      const t = await reclaimSerial(config.dataDir, { ...reclaimDeps(), quietMs: 0, redirectKeepMs: 0, ...(onProgress ? { onProgress } : {}) }, 'encrypt');
      if (!t) throw new MailsluiceError('PACKS_BUSY', 'a backup, verify or the scrub is reading the packs: run keys encrypt-existing again when it has finished');
      return t;
    },
    archiveMasterKey: blobs.keyring?.masterKey ?? null,
    databaseKey,
    dispatchArchive: () => ({
      kind: 'embedded',
      dbFile: paths.db,
      blobsDir: paths.blobs,
      ...(blobs.keyring?.masterKey ? { archiveKey: { dataDir: config.dataDir, master: new Uint8Array(blobs.keyring.masterKey) } } : {}),
      ...(databaseKey ? { dbKey: new Uint8Array(databaseKey) } : {}),
    }),
    bus: busSqlite.createSqliteBus(store.connection()),
    responses: busSqlite.createSqliteResponseLedger(store.connection()),
    tls: store,
    tokens: store.tokens,
    audit: store.audit,
    holds: store.holds,
    heldAmong: createHeldAmong(store.holds),
    archiveCheck: { index: store.check, scanner: () => new blobFs.FsBlobScanner(blobs), holdPacks: (waitMs) => takeReclaimLock(config.dataDir, 'shared', waitMs) },
    retention: store.retention,
    searchRebuild: store.searchRebuild,
    verifyToken: (bearer) => verifyToken(store.tokens, systemClock, bearer),
    random: () => randomInt(0, 1_000_000) / 1_000_000,
    logger,
    stderrLevel,
    parser: () => (parser ??= lazyParser(parserModule)),
    connectionLogFile: logFile,
    connectionLogger(c) {
      const level = connectionLogLevel(c.logging);
      const rotation = { maxBytes: Math.round(config.logging.maxFileMb * 1024 * 1024), keep: config.logging.keepFiles };
      const extra: LogSink[] = level ? [{ level, file: logFile(c.name), rotation }] : [];
      return logger.with(extra, { connection: c.name });
    },
    createSource,
    clock: systemClock,
    budget: new ByteBudget(DEFAULT_IN_FLIGHT_BYTES),
    async close() {
      try {
        await parser?.close();
        await store.close();
      } finally {
        lock?.release();
      }
    },
  };
}
