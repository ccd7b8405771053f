/**
 * The per-run wiring `drain` and `start` share: one runner per connection, and the index stage
 * that follows them.
 */
import { randomInt } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { ConnectionConfig } from '../config/loader.js';
import type { IndexDeps } from '../core/archive/index-stage.js';
import type { MessageParser } from '../core/ports/message-parser.js';
import type { BodiesSink } from '../core/ports/bodies-handoff.js';
import { RouteMatcher } from '../core/routing/route-matcher.js';
import { re2jsRegexEngine } from '../adapters/regex-re2js/index.js';
import { ConnectionRunner } from '../core/connection/connection-runner.js';
import { loadOrCreateProbeKey, probeVerifier } from './probe-key.js';

/** A runner of a configured connection. */
export type Runner = ConnectionRunner<ConnectionConfig>;
import type { EmbeddedApp } from './embedded.js';

/**
 * One runner per connection and folder (a connection with several folders has a runner, and
 * sessions, per folder, each with the connection's name in the archive), wired to the app's
 * store, blob store, clock and logs.
 */
export function createRunners(app: EmbeddedApp, connections: readonly ConnectionConfig[]): Runner[] {
  return connections.flatMap((c) =>
    c.folders.map(
      (folder) =>
        new ConnectionRunner({
          config: { ...c, mailbox: folder },
          ...(c.folders.length > 1 ? { label: `${c.name}/${folder}` } : {}),
          createSource: app.createSource,
          store: app.store,
          blobStore: app.blobs,
          clock: app.clock,
          random: () => randomInt(0, 1_000_000) / 1_000_000,
          logger: c.folders.length > 1 ? app.connectionLogger(c).child({ mailbox: folder }) : app.connectionLogger(c),
          // The responses of finished deliveries, applied by the connection (the deliveries table).
          responses: app.responses,
          budget: app.budget,
        }),
    ),
  );
}

/** The runners of each connection by its name (a connection with several folders has several). */
export function runnersByConnection(runners: readonly Runner[]): Map<string, Runner[]> {
  const out = new Map<string, Runner[]>();
  for (const r of runners) out.set(r.connection, [...(out.get(r.connection) ?? []), r]);
  return out;
}

/**
 * The index stage as `drain` and `start` run it: the app's store, blobs and logs, enough messages
 * in flight to keep every parser thread fed, yielding while any of `runners` drains, routing by
 * the configured routes and, with a dispatcher thread, handing it the bodies (ADR 0011).
 */
export function indexStageDeps(app: EmbeddedApp, parser: MessageParser, runners: readonly Runner[], bodies: BodiesSink | undefined): IndexDeps {
  return {
    store: app.store,
    blobs: app.blobs,
    parser,
    logger: app.logger,
    clock: app.clock,
    concurrency: Math.max(2, availableParallelism()) * 8,
    busy: () => runners.some((r) => r.status.state === 'draining'),
    routes: new RouteMatcher(app.config.routes, re2jsRegexEngine),
    ...(bodies ? { bodies } : {}),
    budget: app.budget,
    // Made here when missing: a probe can only be told from a forged one under the key it was signed with.
    probes: probeVerifier(loadOrCreateProbeKey(app.config.dataDir)),
  };
}
