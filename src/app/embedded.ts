/**
 * The embedded composition root: SQLite + pack files in the data directory, nothing else to
 * install. The only module that knows both the core and the concrete adapters.
 */
import { join } from 'node:path';
import type { BlobStore } from '../core/ports/blob-store.js';
import type { MessageParser } from '../core/ports/message-parser.js';
import type { Logger } from '../core/ports/logger.js';
import type { MessageBus } from '../core/ports/message-bus.js';
import { randomInt } from 'node:crypto';
import { createFsBlobStore } from '../adapters/blob-fs/index.js';
import { createSqliteStore, type SqliteStore } from '../adapters/store-sqlite/index.js';
import { createPostalMimeParser } from '../adapters/parser-postal-mime/index.js';
import { JsonlLogger, connectionLogLevel, type LogSink } from '../adapters/logger-jsonl/index.js';
import { systemClock } from '../adapters/clock-system/index.js';
import type { Config, ConnectionConfig } from '../config/loader.js';
import { createSource } from './source-factory.js';
import { guardTls } from './tls-guard.js';

/** Everything a command needs, built once. */
export interface EmbeddedApp {
  config: Config;
  store: SqliteStore;
  blobs: BlobStore;
  /** The buses: the `deliveries` table of the same database. */
  bus: MessageBus;
  /** In [0, 1), for back-off jitter. */
  random: () => number;
  logger: JsonlLogger;
  /** The level of the service's own log on stderr (threads with a logger of their own use it too). */
  stderrLevel: 'debug' | 'info' | 'warn' | 'error';
  /** The parser is started lazily: commands that do not parse never start worker threads. */
  parser(): MessageParser;
  connectionLogger(c: ConnectionConfig): Logger;
  connectionLogFile(name: string): string;
  createSource: typeof createSource;
  clock: typeof systemClock;
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
  readonly?: boolean;
}

/** Builds the embedded app for a validated config. */
export async function createEmbeddedApp(config: Config, options: EmbeddedOptions = {}): Promise<EmbeddedApp> {
  const paths = dataPaths(config.dataDir);
  const store = createSqliteStore({ file: paths.db, ...(options.readonly ? { readonly: true } : {}) });
  const blobs = await createFsBlobStore({ directory: paths.blobs });
  const stderrLevel = options.stderrLevel ?? 'warn';
  const logger = new JsonlLogger([{ level: stderrLevel, stream: process.stderr }]);
  let parser: MessageParser | null = null;
  const logFile = (name: string): string => join(paths.logs, `${name}.log`);
  return {
    config,
    store,
    blobs,
    bus: store.bus(),
    random: () => randomInt(0, 1_000_000) / 1_000_000,
    logger,
    stderrLevel,
    // The index stage's parser: the bytes it parses were read back from the archive for this
    // parse only, so a large one moves to the worker instead of being copied (~0.4 s of the main
    // thread's time on the mixed set's 278 MB).
    parser: () => (parser ??= createPostalMimeParser({ transferRaw: true })),
    connectionLogFile: logFile,
    connectionLogger(c) {
      const level = connectionLogLevel(c.logging);
      const extra: LogSink[] = level ? [{ level, file: logFile(c.name) }] : [];
      return logger.with(extra, { connection: c.name });
    },
    // Every session guarded against a STARTTLS downgrade, remembered in archive.db (ADR 0016).
    createSource: (c, l) => guardTls(c, l, store, createSource),
    clock: systemClock,
    async close() {
      await parser?.close();
      await store.close();
    },
  };
}
