/**
 * The Graph listing by delta query (ADR 0048, on the durable sync state of ADR 0047), for a
 * folder whose messages stay where they are (`leave`, `mark-seen` without `unseenOnly`): each
 * cycle asks what changed since the durable link, not for the whole folder. The state is the link
 * Graph hands out (a nextLink while a round is walked, the deltaLink at its end), made durable as
 * `core/connection/sync-cursor.ts` decides (only past pages whose messages are all settled). A link
 * Graph no longer knows (410 Gone, SyncStateNotFound: expired, or reset by the service) is dropped
 * with a warning and the folder synchronised in full, what was archived before filtered by
 * `settled`.
 */
import type { Candidate } from '../../core/ports/mailbox-source.js';
import type { Logger } from '../../core/ports/logger.js';
import type { SyncStateStore } from '../../core/ports/sync-state-store.js';
import { oldestFirst, walkSyncPages, type SyncPage } from '../../core/connection/sync-cursor.js';
import type { GraphClient } from './graph-client.js';
import { graphBadAnswer, graphHttpError } from './graph-error-map.js';
import type { GraphFolder } from './graph-folders.js';

/** What a delta listing needs besides the client. */
export interface GraphDeltaListing {
  client: GraphClient;
  folder: GraphFolder;
  states: SyncStateStore;
  /** The connection, and the mailbox and folder the state is kept under. */
  connection: string;
  stateKey: string;
  limit: number;
  settled: (keys: string[]) => Promise<Set<string>>;
  logger: Logger;
  keyOf: (id: string) => string;
}

/** One message a delta page brought (not one removed). */
interface Seen {
  key: string;
  /** receivedDateTime in ms, NaN when absent. */
  received: number;
}


const WHAT = 'the delta listing of the folder';

/** Lists at most `limit` messages not settled from the durable link on, oldest first within what this listing found. */
export async function listByDelta(l: GraphDeltaListing): Promise<Candidate[]> {
  const found = await walkSyncPages<Seen>({
    states: l.states,
    connection: l.connection,
    folder: l.stateKey,
    limit: l.limit,
    settled: l.settled,
    page: (link) => deltaPage(l, link),
    restarting: (code) =>
      l.logger.warn('Microsoft Graph no longer knows the stored delta link of the folder; it is dropped and the folder synchronised in full (what was archived already is skipped)', { folder: l.stateKey, code }),
    refusedForGood: (code) => graphBadAnswer(l.client.ctx, WHAT, `a fresh delta query refused (${code})`),
  });
  return oldestFirst(found).map((s) => ({ key: s.key, size: 0 }));
}

/** One delta page: from `link` (a stored nextLink or deltaLink), or a fresh round. */
async function deltaPage(l: GraphDeltaListing, link: string | undefined): Promise<SyncPage<Seen>> {
  const from = link ?? l.client.mailboxPath(`/mailFolders/${encodeURIComponent(l.folder.id)}/messages/delta?$select=id,receivedDateTime`);
  const res = await l.client.send('GET', from, WHAT);
  const status = res.statusCode ?? 0;
  if (status === 410) {
    const body = (await l.client.readJson(res, WHAT)) as { error?: { code?: unknown } } | undefined;
    return { refused: typeof body?.error?.code === 'string' ? body.error.code : 'HTTP 410' };
  }
  const page = (await l.client.readJson(res, WHAT, status === 200)) as { value?: unknown; '@odata.nextLink'?: unknown; '@odata.deltaLink'?: unknown } | undefined;
  if (status !== 200) throw graphHttpError(l.client.ctx, WHAT, status, page, 'folder');
  if (!Array.isArray(page?.value)) throw graphBadAnswer(l.client.ctx, WHAT, 'no value array');
  const next = page['@odata.nextLink'];
  const delta = page['@odata.deltaLink'];
  const state = typeof next === 'string' ? next : typeof delta === 'string' ? delta : undefined;
  if (state === undefined) throw graphBadAnswer(l.client.ctx, WHAT, 'neither a nextLink nor a deltaLink');
  const items = page.value as Array<{ id?: unknown; receivedDateTime?: unknown; '@removed'?: unknown }>;
  // A removed message left the folder: nothing to take. A changed one met before is settled.
  const seen = items
    .filter((m) => typeof m.id === 'string' && m['@removed'] === undefined)
    .map((m) => ({ key: l.keyOf(m.id as string), received: typeof m.receivedDateTime === 'string' ? Date.parse(m.receivedDateTime) : NaN }));
  return { state, last: typeof next !== 'string', items: seen, changes: items.length };
}
