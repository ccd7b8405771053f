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
import type { EmbeddedApp, SourceMaker } from './embedded.js';

/**
 * One runner per connection and folder (a connection with several folders has a runner, and
 * sessions, per folder, each with the connection's name in the archive), wired to the app's
 * store, blob store, clock and logs; their sources made by `createSource` (the app's, by
 * protocol; `import` hands its files source).
 */
export function createRunners(app: EmbeddedApp, connections: readonly ConnectionConfig[], createSource: SourceMaker = app.createSource): Runner[] {
  return connections.flatMap((c) =>
    c.folders.map(
      (folder) =>
        new ConnectionRunner({
          config: { ...c, mailbox: folder },
          ...(c.folders.length > 1 ? { label: `${c.name}/${folder}` } : {}),
          createSource,
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

/** The routes of `config` as the index stage matches them (their regexes compiled once). */
export function routeMatcher(routes: ConstructorParameters<typeof RouteMatcher>[0]): RouteMatcher {
  return new RouteMatcher(routes, re2jsRegexEngine);
}

/**
 * The index stage as `drain` and `start` run it: the app's store, blobs and logs, enough messages
 * in flight to keep every parser thread fed, yielding while any runner drains (`busy`), routing by
 * `routes()` (read for every message: a reload swaps the matcher, ADR 0024) and, with a
 * dispatcher thread, handing it the bodies (ADR 0011).
 */
export function indexStageDeps(app: EmbeddedApp, parser: MessageParser, busy: () => boolean, routes: () => RouteMatcher, bodies: BodiesSink | undefined): IndexDeps {
  return {
    store: app.store,
    blobs: app.blobs,
    parser,
    logger: app.logger,
    clock: app.clock,
    concurrency: Math.max(2, availableParallelism()) * 8,
    busy,
    get routes() {
      return routes();
    },
    ...(bodies ? { bodies } : {}),
    budget: app.budget,
    // Made here when missing: a probe can only be told from a forged one under the key it was signed with.
    probes: probeVerifier(loadOrCreateProbeKey(app.config.dataDir)),
  };
}
