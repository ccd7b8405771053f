/**
 * The scale-out composition root (issue 20, item 5): a worker on the cluster's PostgreSQL
 * (metadata, search, buses, leases), S3 bucket (raw messages) and the worker's own `dataDir`
 * (logs, the control socket, the probe and URL keys). It builds the same app shape as
 * `embedded.ts` from the scale-out adapters, and the connection leases that decide which of the
 * configured connections this worker drains: every commit is fenced by its lease's token and
 * every server action checked against the lease, so a worker that lost one (paused, cut off)
 * neither commits nor deletes after another took over.
 *
 * What this build does not do in scale-out yet, each refused or said in the log rather than
 * done half: encryption at rest (the keyring lives in one worker's dataDir), the background
 * scrub and the reclaim of purged space (no S3 scanner), `drain` and the commands that open an
 * embedded archive. The index stage of every worker follows every committed message (ADR 0052).
 */
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import type { Config, ConnectionConfig } from '../config/loader.js';
import type { ScaleOutConfig } from '../config/scale-out-schema.js';
import { MailsluiceError } from '../core/errors/index.js';
import type { CommitFence, ConnectionLeases } from '../core/ports/connection-leases.js';
import type { MailboxSource } from '../core/ports/mailbox-source.js';
import type { MessageStore } from '../core/ports/message-store.js';
import type { MessageParser } from '../core/ports/message-parser.js';
import { createHeldAmong } from '../core/holds/held-among.js';
import { emptyCompressTotals } from '../core/archive/compress-stage.js';
import { ByteBudget, DEFAULT_IN_FLIGHT_BYTES } from '../core/memory/byte-budget.js';
import { JsonlLogger, connectionLogLevel, type LogSink } from '../adapters/logger-jsonl/index.js';
import { systemClock } from '../adapters/clock-system/index.js';
import { dataPaths, lazyParser, loadSourceMaker, takeDataDir, TAKERS, type EmbeddedApp, type EmbeddedOptions, type SourceMaker } from './embedded.js';
import { verifyToken } from './tokens.js';
import { LeaseKeeper, workerName, type GrantedLease } from './lease-keeper.js';
import type { ConnectionOwnership } from './pipeline.js';

/** A worker's app: the embedded shape, and the leases that say which connections it drains. */
export interface ScaleOutApp extends EmbeddedApp {
  /** This worker's name in the lease table and on its claims. */
  readonly worker: string;
  /** The connections this worker holds, for the pipeline (`ConnectionOwnership`); started by {@link startLeases}. */
  readonly ownership: LeasedConnections;
  /** The cluster's lease table (PostgreSQL). */
  readonly leases: ConnectionLeases;
}

/**
 * The pipeline's view of the keeper's leases: a connection is held while its lease runs; the
 * keeper's run of a lease ends once the pipeline stopped the connection's runners (told by
 * `stopped`), so the lease is released only after its last fenced commit.
 */
export class LeasedConnections implements ConnectionOwnership {
  /** The connections held, by name, with their lease's token. */
  private readonly held = new Map<string, number>();
  /** Connections given up whose runners the pipeline is stopping: told by `stopped`. */
  private readonly stopping = new Map<string, () => void>();
  private readonly listeners = new Set<() => void>();
  private ended = false;
  private keeper: LeaseKeeper | null = null;

  holds(connection: string): boolean {
    return this.held.has(connection);
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stopped(connection: string): void {
    this.stopping.get(connection)?.();
  }

  /** The fence of `connection`'s commits: its token while the keeper still trusts the lease, else null. */
  fence(connection: string): CommitFence | null {
    return this.keeper?.fence(connection) ?? null;
  }

  /** Starts the keeper, which calls back for each lease granted. */
  start(keeper: (run: (lease: GrantedLease) => Promise<void>) => LeaseKeeper): void {
    this.keeper = keeper((lease) => this.run(lease));
    this.keeper.start();
  }

  /** Stops the keeper once the pipeline has stopped: every lease released (a clean stop). */
  async stop(): Promise<void> {
    this.ended = true;
    for (const done of this.stopping.values()) done();
    await this.keeper?.stop({ release: true });
  }

  private notify(): void {
    for (const l of this.listeners) l();
  }

  /** A granted lease: held until its signal aborts, then given up once its runners stopped. */
  private async run(lease: GrantedLease): Promise<void> {
    this.held.set(lease.key, lease.token);
    this.notify();
    if (!lease.signal.aborted) await new Promise<void>((resolve) => lease.signal.addEventListener('abort', () => resolve(), { once: true }));
    // The pipeline tells `stopped` once the runners ended; after the service stopped nobody will.
    const ended = this.ended ? Promise.resolve() : new Promise<void>((resolve) => this.stopping.set(lease.key, resolve));
    this.held.delete(lease.key);
    this.notify();
    await ended;
    this.stopping.delete(lease.key);
  }
}

/**
 * `target` with some methods replaced: every other member read from `target` itself, its
 * methods bound to it, so state the object keeps (a session, a pool) stays in one place.
 */
function decorate<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(t, key) {
      if (Object.prototype.hasOwnProperty.call(overrides, key)) return (overrides as Record<PropertyKey, unknown>)[key];
      const v = Reflect.get(t, key, t) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

/** The message store the runners commit through: each group commit fenced by its connection's lease. */
function fencedStore(store: MessageStore, leases: LeasedConnections): MessageStore {
  return decorate(store, {
    commitTaken: (records, watermark) => {
      const connection = watermark?.connection ?? records[0]?.connection;
      if (connection === undefined) return store.commitTaken(records, watermark);
      const fence = leases.fence(connection);
      if (!fence) return Promise.reject(lostLease(connection));
      return store.commitTaken(records, watermark, fence);
    },
  });
}

function lostLease(connection: string): MailsluiceError {
  return new MailsluiceError('LEASE_LOST', `connection ${connection}: this worker no longer holds its lease (another worker took it over); nothing was committed or deleted`);
}

/** A source whose server actions run only while this worker still holds the connection's lease. */
function fencedSource(source: MailboxSource, connection: string, leases: LeasedConnections): MailboxSource {
  const guard = (): void => {
    if (!leases.fence(connection)) throw lostLease(connection);
  };
  return decorate(source, {
    applyServerAction: async (candidates) => {
      guard();
      return source.applyServerAction(candidates);
    },
    flush: async () => {
      guard();
      return source.flush();
    },
    ...(source.applyResponses
      ? {
          applyResponses: async (requests: Parameters<NonNullable<MailboxSource['applyResponses']>>[0]) => {
            guard();
            return source.applyResponses!(requests);
          },
        }
      : {}),
  });
}

/** Refuses what scale-out mode cannot do yet, before anything is opened. */
function assertSupported(config: Config, options: EmbeddedOptions): ScaleOutConfig {
  const s = config.scaleOut;
  if (!s) throw new MailsluiceError('CONFIG_INVALID', `${config.file}: mode scale-out needs the scaleOut section`);
  if (options.holder !== 'start') {
    throw new MailsluiceError('CLI_USAGE', `mode is scale-out: ${options.holder ?? 'this command'} is not available on a cluster in this build; run mailsluice start (a worker)`);
  }
  if (config.archiveEncryption) {
    throw new MailsluiceError('CONFIG_INVALID', 'archive.encryption is not available in scale-out mode yet: its keyring lives in one worker\u2019s dataDir, which the other workers cannot read');
  }
  return s;
}

/** Builds a scale-out worker's app for a validated config with `mode: scale-out` (`start` only). */
export async function createScaleOutApp(config: Config, options: EmbeddedOptions = {}): Promise<ScaleOutApp> {
  const s = assertSupported(config, options);
  const stderrLevel = options.stderrLevel ?? 'warn';
  const logger = new JsonlLogger([{ level: stderrLevel, stream: process.stderr }]);
  const paths = dataPaths(config.dataDir);
  const [sourcesOver, parserModule, pg, s3, pgBus] = await Promise.all([
    loadSourceMaker(options.holder),
    TAKERS.has(options.holder) ? import('../adapters/parser-postal-mime/index.js') : null,
    import('../adapters/store-postgres/index.js'),
    import('../adapters/blob-s3/index.js'),
    import('../adapters/bus-postgres/index.js'),
  ]);
  const lock = await takeDataDir(config.dataDir, 'start', logger);
  const worker = workerName();
  let store: Awaited<ReturnType<typeof pg.createPostgresStore>> | null = null;
  try {
    store = await pg.createPostgresStore(s.postgres);
    const blobs = await s3.openS3BlobStore(s.s3);
    const db = store;
    const ownership = new LeasedConnections();
    const guarded = sourcesOver({ tlsOffered: (n) => db.tls.tlsOffered(n), setTlsOffered: (n, v) => db.tls.setTlsOffered(n, v), syncState: db.syncState });
    const createSource: SourceMaker = (c, l, runtime) => fencedSource(guarded(c, l, runtime), c.name, ownership);
    // No scanner of the bucket yet: the scrub would fail every pass, so it is off, and said so.
    const running: Config = { ...config, archive: { ...config.archive, scrub: { ...config.archive.scrub, enabled: false } } };
    if (config.archive.scrub.enabled) logger.info('scale-out: the background scrub of the archive is not available yet (no scanner of the bucket); it is off');
    return scaleOutApp({ config: running, logger, stderrLevel, store, blobs, bus: pgBus.createPostgresBus({ db: store.connection, workerId: worker }), responses: pgBus.createPostgresResponseLedger({ db: store.connection, workerId: worker }), createSource, ownership, worker, parser: lazyParser(parserModule), logs: paths.logs, s, lock });
  } catch (err) {
    await store?.close().catch(() => undefined);
    lock.release();
    throw err;
  }
}

/** What {@link scaleOutApp} assembles. */
interface ScaleOutParts {
  config: Config;
  logger: JsonlLogger;
  stderrLevel: NonNullable<EmbeddedOptions['stderrLevel']>;
  store: import('../adapters/store-postgres/index.js').PostgresStore;
  blobs: import('../adapters/blob-s3/index.js').S3BlobStore;
  bus: EmbeddedApp['bus'];
  responses: EmbeddedApp['responses'];
  createSource: SourceMaker;
  ownership: LeasedConnections;
  worker: string;
  parser: MessageParser;
  logs: string;
  s: ScaleOutConfig;
  lock: { release(): void };
}

/** The app object: the ports as the embedded app has them, from the scale-out adapters. */
function scaleOutApp(p: ScaleOutParts): ScaleOutApp {
  const { store, logger } = p;
  let running = p.config;
  const logFile = (name: string): string => join(p.logs, `${name}.log`);
  const notOnS3 = (what: string): MailsluiceError => new MailsluiceError('CLI_USAGE', `${what} is not available in scale-out mode yet`);
  return {
    get config() {
      return running;
    },
    setConfig(next) {
      running = next;
    },
    worker: p.worker,
    ownership: p.ownership,
    leases: store.leases,
    store: fencedStore(store, p.ownership),
    blobs: p.blobs,
    // S3 objects are written compressed or not at all: nothing is staged for a later pass.
    compactBlobs: async () => emptyCompressTotals(),
    async reclaimSpace() {
      logger.warn('scale-out: the space of purged messages in the bucket is not reclaimed yet (their rows are gone; their objects stay)');
      return { packsRewritten: 0, bytesBefore: 0, bytesAfter: 0 };
    },
    encryptExisting: () => Promise.reject(notOnS3('keys encrypt-existing')),
    archiveMasterKey: null,
    databaseKey: null,
    dispatchArchive: () => ({ kind: 'scale-out', postgres: p.s.postgres, s3: p.s.s3, workerId: p.worker }),
    bus: p.bus,
    responses: p.responses,
    tls: store.tls,
    tokens: store.tokens,
    audit: store.audit,
    holds: store.holds,
    heldAmong: createHeldAmong(store.holds),
    archiveCheck: {
      index: store.check,
      scanner: () => {
        throw notOnS3('reading the bucket back (verify, scrub)');
      },
    },
    retention: store.retention,
    searchRebuild: store.searchRebuild,
    verifyToken: (bearer) => verifyToken(store.tokens, systemClock, bearer),
    random: () => randomInt(0, 1_000_000) / 1_000_000,
    logger,
    stderrLevel: p.stderrLevel,
    parser: () => p.parser,
    connectionLogFile: logFile,
    connectionLogger(c: ConnectionConfig) {
      const level = connectionLogLevel(c.logging);
      const rotation = { maxBytes: Math.round(running.logging.maxFileMb * 1024 * 1024), keep: running.logging.keepFiles };
      const extra: LogSink[] = level ? [{ level, file: logFile(c.name), rotation }] : [];
      return logger.with(extra, { connection: c.name, worker: p.worker });
    },
    createSource: p.createSource,
    clock: systemClock,
    budget: new ByteBudget(DEFAULT_IN_FLIGHT_BYTES),
    async close() {
      try {
        await p.parser.close();
        p.blobs.close();
        await store.close();
      } finally {
        p.lock.release();
      }
    },
  };
}

/** The keeper of `app`'s leases over the enabled connections of its running configuration. */
export function startLeases(app: ScaleOutApp): void {
  app.ownership.start((run) => new LeaseKeeper({ leases: app.leases, worker: app.worker, keys: () => app.config.connections.filter((c) => c.enabled).map((c) => c.name), run, clock: app.clock, logger: app.logger.child({ component: 'leases' }) }));
}
