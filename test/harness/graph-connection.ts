/**
 * A Graph connection of the configuration against the Graph simulator, validated by the one
 * schema (so the tests build the source exactly as `start` would), for the Graph source's tests.
 */
import { stringify } from 'yaml';
import { checkConfigText, type ConnectionConfig } from '../../src/config/loader.js';
import { accessTokensFor } from '../../src/app/access-tokens.js';
import { JsonlLogger } from '../../src/adapters/logger-jsonl/index.js';
import type { Logger } from '../../src/core/ports/logger.js';
import type { SourceRuntime } from '../../src/core/ports/mailbox-source.js';
import { GRAPH_CLIENT_ID, GRAPH_CLIENT_SECRET, GRAPH_MAILBOX, GRAPH_TENANT, type GraphSimulator } from './graph-simulator.js';

/** The YAML object of a connection to `sim`'s default mailbox (the app's secret unless `graph` says otherwise). */
export function graphConnectionInput(sim: GraphSimulator, extra: Record<string, unknown> = {}, graph: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'journal',
    protocol: 'graph',
    graph: { tenant: GRAPH_TENANT.id, clientId: GRAPH_CLIENT_ID, clientSecret: GRAPH_CLIENT_SECRET, mailbox: GRAPH_MAILBOX, authority: sim.url, endpoint: sim.url, scope: 'https://graph.microsoft.com/.default', ...graph },
    tls: { verify: true, ca: sim.ca },
    pollIntervalMs: 50,
    ...extra,
  };
}

/** The validated connection settings of {@link graphConnectionInput}; throws with the problems when invalid. */
export function graphConnection(sim: GraphSimulator, extra: Record<string, unknown> = {}, graph: Record<string, unknown> = {}): ConnectionConfig {
  const { config, problems } = checkConfigText(stringify({ connections: [graphConnectionInput(sim, extra, graph)] }));
  if (!config) throw new Error(JSON.stringify(problems));
  return config.connections[0]!;
}

/** What the composition root hands a Graph source: a token source of its own for `conn` (not the process-wide shared one). */
export function graphRuntime(conn: ConnectionConfig, logger: Logger = new JsonlLogger([]), extra: SourceRuntime = {}): SourceRuntime {
  return { ...extra, accessTokens: accessTokensFor(conn, logger, true)! };
}
