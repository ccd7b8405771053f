/**
 * The `import` use case: an mbox file, a Maildir or a folder of `.eml` files drained into the
 * archive by the same pipeline as `drain` (`pipeline.ts`, run `once`), with the files source
 * (`adapters/source-files`) in place of a mail server. So an import has every guarantee a drain
 * has: raw bytes fsynced before the commit, dedup by source key and content hash, group commit,
 * a watermark it resumes from after a kill, parse and full-text index behind it (journal reports
 * unwrapped there), and routes only as chosen. Its messages are archived under the connection
 * `import:<label>`, which no configured connection can be named (system names have no `:`), so
 * they are found by where they came from (`search --connection import:<label>`) and never mix
 * with a mailbox's watermark. ADR 0040.
 */
import { resolve } from 'node:path';
import { MailsluiceError } from '../core/errors/index.js';
import type { ConnectionConfig } from '../config/loader.js';
import type { RouteConfig } from '../config/schema.js';
import { createFilesSource, detectFormat, type FilesFormat, type ImportProblem, type MboxVariant } from '../adapters/source-files/index.js';
import { runPipeline, type PipelineProgress } from './pipeline.js';
import type { EmbeddedApp, SourceMaker } from './embedded.js';
import type { DrainSummary } from './drain.js';
import { summarizeRun } from './drain.js';

export type { ImportProblem, FilesFormat, MboxVariant };

/** What `import` reads and how it archives it. */
export interface ImportOptions {
  /** The mbox file, Maildir, `.eml` folder or `.eml` file (relative to the working directory). */
  path: string;
  /** Where the mail came from: the archive's connection becomes `import:<label>`. */
  label: string;
  /** The shape of `path`; guessed when not given (`detectFormat`). */
  format?: FilesFormat;
  /** How an mbox's `From ` lines were quoted (default mboxrd). */
  mbox?: MboxVariant;
  /** A configured route to run on the imported messages; none: archived and indexed, routed nowhere. */
  route?: string;
  onProgress?: (p: ImportProgress) => void;
  /** Told of each item that is not a message, as it is met. */
  onProblem?: (p: ImportProblem) => void;
  signal?: AbortSignal;
}

/** What an import has done so far (twice a second). */
export interface ImportProgress {
  /** Messages in the source (the listing at the start). */
  total: number;
  pipeline: PipelineProgress;
}

/** The summary `import --json` prints: the drain's, and what the import read and skipped. */
export interface ImportSummary extends DrainSummary {
  connection: string;
  path: string;
  format: FilesFormat;
  /** Messages the source held when it was read (items skipped included). */
  total: number;
  /** Items that are not messages, each by file and byte offset; not imported. */
  problems: ImportProblem[];
}

/** The prefix of an import's connection name; a configured name cannot hold `:`. */
export const IMPORT_CONNECTION_PREFIX = 'import:';

/** Checks `label` (a system name: Latin letters, digits, `_`) and returns the connection it makes. */
export function importConnectionName(label: string): string {
  if (!/^[A-Za-z0-9_]{1,64}$/.test(label)) {
    throw new MailsluiceError('CLI_USAGE', `--label must be 1 to 64 Latin letters, digits or _ (it names the source in the archive as ${IMPORT_CONNECTION_PREFIX}<label>), not ${JSON.stringify(label)}`);
  }
  return IMPORT_CONNECTION_PREFIX + label;
}

/**
 * The settings the runner reads for the import's one "connection": a single folder (the path),
 * any time, no credentials, the server action `leave`, large cycles (listing files is cheap, and
 * each cycle is one watermark step).
 */
function importConnection(name: string, path: string): ConnectionConfig {
  const c = {
    name,
    protocol: 'imap',
    enabled: true,
    logging: 'errors',
    host: 'localhost',
    port: 0,
    tlsPort: 0,
    security: 'none',
    tls: {},
    auth: { type: 'none' },
    mailbox: path,
    folders: [path],
    schedule: 'any-time',
    pollIntervalMs: 60_000,
    maxMessagesPerCycle: 5000,
    unseenOnly: false,
    idle: false,
    deletePolicy: 'leave',
  };
  return c as unknown as ConnectionConfig;
}

/** The route `name` of the configuration, retargeted to the import's connection (enabled: it was asked for by name). */
function importRoute(app: EmbeddedApp, name: string, connection: string): RouteConfig {
  const route = app.config.routes.find((r) => r.name === name);
  if (!route) throw new MailsluiceError('ROUTE_UNKNOWN', `no route named "${name}" in ${app.config.file || 'the configuration'}`);
  return { ...route, connection, enabled: true };
}

/** Imports `options.path` once; rejects with the runner's final error (the summary attached, as `drain`'s). */
export async function importMail(app: EmbeddedApp, options: ImportOptions): Promise<ImportSummary> {
  const connection = importConnectionName(options.label);
  const path = resolve(options.path);
  const format = options.format ?? (await detectFormat(path));
  const routes = options.route ? [importRoute(app, options.route, connection)] : [];
  const problems: ImportProblem[] = [];
  let total = 0;
  const createSource: SourceMaker = (_cfg, logger) => {
    const source = createFilesSource(
      {
        path,
        format,
        ...(options.mbox ? { mbox: options.mbox } : {}),
        onProblem: (p) => {
          // A session after a failure meets an item again: told once.
          if (problems.some((q) => q.file === p.file && q.offset === p.offset)) return;
          problems.push(p);
          options.onProblem?.(p);
        },
      },
      logger,
    );
    const open = source.open.bind(source);
    source.open = async () => {
      const session = await open();
      total = session.exists;
      return session;
    };
    return source;
  };
  const result = await runPipeline(app, {
    mode: 'once',
    connections: [importConnection(connection, path)],
    routes,
    extraRoutes: routes,
    createSource,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: (p: PipelineProgress) => options.onProgress!({ total, pipeline: p }) } : {}),
  });
  const summary: ImportSummary = { ...summarizeRun(result, routes, await app.bus.counts()), connection, path, format, total, problems };
  if (result.failure !== undefined) {
    const err = result.failure as MailsluiceError;
    (err as { summary?: ImportSummary }).summary = summary;
    throw err;
  }
  return summary;
}
