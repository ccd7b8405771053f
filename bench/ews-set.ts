/**
 * The `ews` data set (issue 18, "What good looks like": an EWS drain of the mixed set on loopback
 * keeps up with the simulator). No Exchange runs here: the server is the test harness's EWS
 * simulator (test/harness/ews-simulator.ts) in this process, schema checks off, Basic
 * authentication (a header, no handshake, for the raw client and mailsluice alike). Its own raw
 * rate is measured with `raw-ews-client.ts` (FindItem, GetItem batches with MimeContent,
 * DeleteItem HardDelete, two requests in flight), then `mailsluice drain` of the same messages
 * (simulator-set.ts). What this says of a real Exchange: only that mailsluice's own EWS work is
 * not the limit; a real server's rate is unknown here.
 */
import { startEwsSimulator } from '../test/harness/ews-simulator.js';
import { EWS_USER as USER, ewsConnectionInput } from '../test/harness/ews-connection.js';
import type { RawEwsInput } from './raw-ews-client.js';
import { simulatorRuns } from './simulator-set.js';
import type { Row } from './report.js';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const RAW_CLIENT = join(dirname(fileURLToPath(import.meta.url)), 'raw-ews-client.js');
/** Items per GetItem of the raw client (mailsluice uses its own tunables). */
const RAW_BATCH = 50;

/** The ews set's rows: raw fetch-only, raw drain, mailsluice mailbox-empty, indexed and process, on `count` mixed messages. */
export async function ewsRuns(count: number): Promise<{ rows: Row[]; bytes: number }> {
  const sim = await startEwsSimulator({ users: [{ ...USER }], auth: ['Basic'], validate: false });
  const username = `${USER.domain}\\${USER.username}`;
  try {
    return await simulatorRuns({
      name: 'ews',
      rawClient: RAW_CLIENT,
      rawEnv: 'MAILSLUICE_BENCH_RAW_EWS',
      rawInput: (mode): RawEwsInput => ({ url: sim.url, username, password: USER.password, ca: sim.ca, mode, batch: RAW_BATCH, lanes: 2 }),
      rawRows: {
        fetch: 'raw-ews-fetch-only',
        drain: 'raw-ews-fetch-delete',
        fetchNote: `FindItem pages, GetItem ${RAW_BATCH} at a time with MimeContent, 2 in flight; first request to last answer`,
        drainNote: 'as fetch-only, each batch then DeleteItem HardDelete',
      },
      add: (m) => void sim.add('Inbox', m),
      left: () => sim.items('Inbox').length,
      connection: () => ewsConnectionInput(sim, { auth: { type: 'basic', username, password: USER.password }, deletePolicy: 'delete-and-expunge' }),
    }, count);
  } finally {
    await sim.stop();
  }
}
