/**
 * The `drain` use case: every selected connection drained until nothing is left to take, while
 * the index stage parses behind it and the dispatcher runs the routes (with the HTTP API serving
 * attachment references while a webhook route runs); returns when all are done. The pipeline
 * itself is `pipeline.ts`'s, run `once`; this file selects what to drain and sums it up.
 */
import { MailsluiceError } from '../core/errors/index.js';
import { DRAIN_RETRY_HORIZON_MS, runPipeline, type PipelineProgress, type PipelineResult } from './pipeline.js';
import type { EmbeddedApp } from './embedded.js';
import type { DeliveryCounts } from '../core/ports/delivery-admin.js';
import type { ConnectionStatus } from '../core/connection/connection-runner.js';
import type { RouteConfig } from '../config/schema.js';

export { DRAIN_RETRY_HORIZON_MS };

/** The summary `drain --json` prints. */
export interface DrainSummary {
  /**
   * Per connection, its runner's counts as they ended (see `ConnectionStatus`): `failed`, messages
   * that could not be archived and were set aside, left on the server flagged `\Seen` (only with
   * `unseenOnly`; docs/pipeline.md, stages 5 and 6); `setAside`, messages whose transfer broke
   * session after session with no progress, left on the server untouched (ADR 0015); `responses`,
   * server responses of finished deliveries this drain applied, found not applicable, or that
   * failed (docs/pipeline.md, stage 13).
   */
  connections: Record<
    string,
    Pick<ConnectionStatus, 'taken' | 'bytes' | 'actioned' | 'failed' | 'setAside' | 'cycles' | 'responses'> & {
      state: string;
      error?: { code: string; message: string };
      /** The connection's credentials crossed unencrypted (ADR 0016). */
      warning?: string;
    }
  >;
  taken: number;
  bytes: number;
  /** Messages set aside over all connections; when not 0, `drain` exits non-zero (MESSAGES_NOT_ARCHIVED). */
  failed: number;
  /** Messages whose transfer never got through, over all connections (see `connections[].setAside`); also a non-zero exit. */
  setAside: number;
  parsed: number;
  unparsable: number;
  /** Milliseconds until every mailbox was empty (all taken messages committed and actioned). */
  mailboxEmptyMs: number;
  /**
   * Milliseconds until everything was parsed and indexed (searchable, and routed): "fully
   * processed" in issue 2's sense. Compression and the deliveries are timed apart.
   */
  indexedMs: number;
  /**
   * Deferred compression, after the mailboxes were empty: large bodies staged raw by this (or an
   * earlier) drain, rewritten compressed; emptied staging containers deleted. It follows the
   * parse queue (it waits while messages wait to be parsed); `ms` runs from the mailbox being
   * empty until it is done.
   */
  compressed: { blobs: number; rawBytes: number; stagedBytes: number; storedBytes: number; containersDeleted: number; failed: number; ms: number };
  /**
   * Per route of the drained connections: deliveries `delivered` (every step done) and `dead`
   * (dead-lettered) by this drain, `retries` (failed attempts it scheduled again), and `failed`:
   * deliveries still pending when it exited, waiting for a retry later than
   * {@link DRAIN_RETRY_HORIZON_MS} (the next drain or the service takes them up).
   */
  routes: Record<string, { delivered: number; dead: number; retries: number; failed: number }>;
  /** Milliseconds until every delivery was done, dead or left for later. */
  deliveredMs: number;
}

/** What a drain has done so far, reported twice a second while it runs. */
export type DrainProgress = PipelineProgress;

/** Options of {@link drainAll}. */
export interface DrainOptions {
  connection?: string;
  onProgress?: (p: DrainProgress) => void;
  signal?: AbortSignal;
}

/** Drains the selected enabled connections once; rejects with the first connection's final error. */
export async function drainAll(app: EmbeddedApp, options: DrainOptions = {}): Promise<DrainSummary> {
  const selected = app.config.connections.filter((c) => (options.connection ? c.name === options.connection : c.enabled));
  if (options.connection && selected.length === 0) {
    throw new MailsluiceError('CONNECTION_UNKNOWN', `no connection named "${options.connection}" in ${app.config.file || 'the configuration'}`);
  }
  if (selected.length === 0) {
    throw new MailsluiceError(
      'NOTHING_TO_DRAIN',
      `no connection is enabled in ${app.config.file || 'the configuration'}: set enabled: true on one, or name one with --connection NAME`,
    );
  }
  const names = new Set(selected.map((c) => c.name));
  const routes = app.config.routes.filter((r) => names.has(r.connection) && r.enabled);
  const result = await runPipeline(app, {
    mode: 'once',
    connections: selected,
    routes,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const summary = summarizeRun(result, routes, await app.bus.counts());
  if (result.failure !== undefined) {
    const err = result.failure as MailsluiceError;
    (err as { summary?: DrainSummary }).summary = summary;
    throw err;
  }
  return summary;
}

/** The summary of a drain's run: per connection, per route (with the deliveries still pending), and the times (`import`'s too). */
export function summarizeRun(result: PipelineResult, routes: readonly RouteConfig[], counts: DeliveryCounts): DrainSummary {
  const { at, index } = result;
  const summary: DrainSummary = {
    connections: {},
    taken: 0,
    bytes: 0,
    failed: 0,
    setAside: 0,
    parsed: index.parsed,
    unparsable: index.unparsable,
    mailboxEmptyMs: at.empty - at.started,
    indexedMs: at.indexed - at.started,
    compressed: { ...result.compressed, ms: at.compressed - at.empty },
    routes: {},
    deliveredMs: at.delivered - at.started,
  };
  for (const r of routes) {
    const t = result.dispatched.routes[r.name] ?? { delivered: 0, dead: 0, retries: 0 };
    summary.routes[r.name] = { ...t, failed: counts[r.name]?.pending ?? 0 };
  }
  for (const s of result.statuses) {
    summary.connections[s.name] = {
      taken: s.taken,
      bytes: s.bytes,
      actioned: s.actioned,
      failed: s.failed,
      setAside: s.setAside,
      cycles: s.cycles,
      state: s.state,
      responses: { ...s.responses },
      ...(s.lastError && s.state === 'error' ? { error: { code: s.lastError.code, message: s.lastError.message } } : {}),
      ...(s.plaintextCredentials ? { warning: s.plaintextCredentials } : {}),
    };
    summary.taken += s.taken;
    summary.bytes += s.bytes;
    summary.failed += s.failed;
    summary.setAside += s.setAside;
  }
  return summary;
}
