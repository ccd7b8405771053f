/**
 * The `graph` data set (issue 19, "What good looks like": a Graph drain of the mixed set keeps up
 * with the simulator). No tenant can be reached from here: the server is the test harness's Graph
 * simulator (test/harness/graph-simulator.ts) in this process, app-only tokens by client secret.
 * Its own raw rate is measured with `raw-graph-client.ts` (token, list, `/$value` each, `$batch`
 * of `permanentDelete`, two batches in flight), then `mailsluice drain` of the same messages with
 * `delete-and-expunge` (simulator-set.ts). What this says of Exchange Online: only that
 * mailsluice's own Graph work is not the limit; the service's rate and throttling are unknown here.
 */
import { GRAPH_CLIENT_ID, GRAPH_CLIENT_SECRET, GRAPH_MAILBOX, GRAPH_TENANT, startGraphSimulator } from '../test/harness/graph-simulator.js';
import { graphConnectionInput } from '../test/harness/graph-connection.js';
import type { RawGraphInput } from './raw-graph-client.js';
import { simulatorRuns } from './simulator-set.js';
import type { Row } from './report.js';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const RAW_CLIENT = join(dirname(fileURLToPath(import.meta.url)), 'raw-graph-client.js');
/** Messages per `$batch` of deletes: Graph's maximum. */
const RAW_BATCH = 20;

/** The graph set's rows: raw fetch-only, raw drain, mailsluice mailbox-empty, indexed and process, on `count` mixed messages. */
export async function graphRuns(count: number): Promise<{ rows: Row[]; bytes: number }> {
  const sim = await startGraphSimulator();
  try {
    return await simulatorRuns({
      name: 'graph',
      rawClient: RAW_CLIENT,
      rawEnv: 'MAILSLUICE_BENCH_RAW_GRAPH',
      rawInput: (mode): RawGraphInput => ({ url: sim.url, tenant: GRAPH_TENANT.id, clientId: GRAPH_CLIENT_ID, clientSecret: GRAPH_CLIENT_SECRET, mailbox: GRAPH_MAILBOX, ca: sim.ca, mode, batch: RAW_BATCH, lanes: 2 }),
      rawRows: {
        fetch: 'raw-graph-fetch-only',
        drain: 'raw-graph-fetch-delete',
        fetchNote: `token, list 1,000 a page, each /$value whole, ${RAW_BATCH} a batch, 2 batches in flight; first request to last answer`,
        drainNote: `as fetch-only, each batch then one $batch of ${RAW_BATCH} permanentDelete`,
      },
      add: (m) => void sim.add('inbox', m),
      left: () => sim.messages('inbox').length,
      connection: () => graphConnectionInput(sim, { deletePolicy: 'delete-and-expunge' }),
    }, count);
  } finally {
    await sim.stop();
  }
}
