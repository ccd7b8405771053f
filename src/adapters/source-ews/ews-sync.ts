/**
 * The EWS listing by SyncFolderItems (ADR 0047), for a folder whose items stay where they are
 * (`leave`, `mark-seen` without `unseenOnly`): each cycle asks what changed since the durable
 * sync state, not for the whole folder, and the state advances as `core/connection/sync-cursor.ts`
 * decides (only past pages whose new items are all settled). A state the server refuses
 * (ErrorInvalidSyncStateData: the folder was recreated, the mailbox moved, the state expired) is
 * dropped with a warning and the folder synchronised in full, what was archived before filtered
 * by `settled`.
 */
import type { Candidate } from '../../core/ports/mailbox-source.js';
import type { Logger } from '../../core/ports/logger.js';
import type { SyncStateStore } from '../../core/ports/sync-state-store.js';
import { oldestFirst, walkSyncPages } from '../../core/connection/sync-cursor.js';
import { responseCode, responseMessages, type EwsClient } from './ews-client.js';
import { syncFolderItems, type EwsFolderRef } from './ews-soap.js';
import { EWS_TUNING } from './ews-source-config.js';
import { child, type XmlNode } from './ews-xml.js';

/** What a sync listing needs besides the client. */
export interface EwsSyncListing {
  client: EwsClient;
  folder: EwsFolderRef;
  states: SyncStateStore;
  /** The connection and the folder setting the state is kept under. */
  connection: string;
  mailbox: string;
  limit: number;
  settled: (keys: string[]) => Promise<Set<string>>;
  logger: Logger;
  /** The archive key of an item id (`ews:<ItemId>`). */
  keyOf: (itemId: string) => string;
}

/** One new item of a SyncFolderItems page. */
interface Created {
  key: string;
  size: number;
  /** DateTimeReceived in ms, NaN when the server sent none. */
  received: number;
}

/** One SyncFolderItems answer: its state, whether it was the last page, the items it created; or the refusal of the state. */
type SyncAnswer = { state: string; last: boolean; created: Created[]; changes: number } | { refused: { code: string; text: string } };

/**
 * Lists at most `limit` items not settled, from the durable state on, oldest first within what
 * this listing found (DateTimeReceived; the server's order across listings, see the README).
 * Writes the state forward as the policy allows; drops it when the server refuses it.
 */
export async function listBySync(l: EwsSyncListing): Promise<Candidate[]> {
  const pageSize = Math.max(1, Math.min(EWS_TUNING.syncPageSize, l.limit));
  let refusal = { code: '', text: '' };
  const found = await walkSyncPages<Created>({
    states: l.states,
    connection: l.connection,
    folder: l.mailbox,
    limit: l.limit,
    settled: l.settled,
    page: async (state) => {
      const answer = await syncPage(l, state, pageSize);
      if ('refused' in answer) {
        refusal = answer.refused;
        return { refused: answer.refused.code };
      }
      return { state: answer.state, last: answer.last, items: answer.created, changes: answer.changes };
    },
    restarting: (code) =>
      l.logger.warn('the EWS server refused the stored synchronisation state of the folder; it is dropped and the folder synchronised in full (what was archived already is skipped)', { mailbox: l.mailbox, code }),
    refusedForGood: () => l.client.responseError('SyncFolderItems', refusal.code, refusal.text),
  });
  return oldestFirst(found).map((c) => ({ key: c.key, size: c.size }));
}

/** One SyncFolderItems page from `state`. */
async function syncPage(l: EwsSyncListing, state: string | undefined, max: number): Promise<SyncAnswer> {
  const m = responseMessages(await l.client.call('SyncFolderItems', syncFolderItems(l.folder, state, max)))[0];
  const { code, text } = m ? responseCode(m) : { code: 'no response message', text: '' };
  if (code === 'ErrorInvalidSyncStateData') return { refused: { code, text } };
  if (code !== 'NoError') throw l.client.responseError('SyncFolderItems', code, text);
  const next = child(m, 'SyncState')?.text.trim() ?? '';
  if (next === '') throw l.client.responseError('SyncFolderItems', 'no SyncState in the answer', '');
  const created: Created[] = [];
  const changes = child(m, 'Changes')?.children ?? [];
  // Update, ReadFlagChange and Delete concern items met before (or gone): nothing to take.
  for (const change of changes) {
    if (change.name !== 'Create') continue;
    const item = change.children[0];
    const id = child(item, 'ItemId')?.attrs.Id;
    if (id) created.push(createdOf(l.keyOf(id), item));
  }
  // Absent means true, as for FindItem: a server that does not say has nothing more.
  return { state: next, last: child(m, 'IncludesLastItemInRange')?.text.trim() !== 'false', created, changes: changes.length };
}

function createdOf(key: string, item: XmlNode | undefined): Created {
  return { key, size: Number(child(item, 'Size')?.text ?? 0) || 0, received: Date.parse(child(item, 'DateTimeReceived')?.text ?? '') };
}
