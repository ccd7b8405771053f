/**
 * Scenario responses over EWS (`EwsSource.applyResponses`): the IMAP-style flags a route's
 * response adds, and the folder it moves to, applied to items by their ItemId. One GetItem (ids
 * and categories) finds which items are still there; then one UpdateItem with an ItemChange per
 * item (IsRead for `\Seen`, the categories for keywords), then one MoveItem per folder (after the
 * flags, so a moved item carries them), each batched by `EWS_TUNING.actionBatch`.
 *
 * Keywords become categories merged into those the item has (read, then set whole): the
 * documents allow AppendToItemField only for "certain properties" and do not list Categories
 * among them, while SetItemField of the merged list works on every version. Other system flags
 * (`\Flagged`, `\Answered`, `\Deleted`, `\Draft`, `\Recent`) have no equivalent in the EWS subset
 * this build speaks (Exchange 2013's `item:Flag` is not in it) and fail, named.
 */
import type { ResponseOutcome, ResponseRequest } from '../../core/ports/mailbox-source.js';
import { groupBy, planExchangeItem } from '../../core/archive/exchange-response-plan.js';
import { ResponseOutcomes } from '../../core/archive/response-outcomes.js';
import { MailsluiceError } from '../../core/errors/index.js';
import type { EwsClient } from './ews-client.js';
import { responseCode, responseMessages } from './ews-client.js';
import { getItemCategories, moveItem, updateItems, type EwsFolderRef, type EwsItemChange } from './ews-soap.js';
import { child, childrenNamed, path } from './ews-xml.js';

/** What applying responses needs of its source. */
export interface EwsResponseHost {
  /** The folder drained (the `mailbox` setting), for sentences. */
  readonly mailbox: string;
  readonly client: EwsClient;
  /** Items per GetItem, UpdateItem and MoveItem. */
  readonly batch: number;
  /** The folder a response's `moveTo` names (cached by the source); throws SOURCE_MAILBOX_NOT_FOUND when there is none. */
  folder(name: string): Promise<EwsFolderRef>;
}

/** A request with the ItemId its key names. */
type ItemRequest = ResponseRequest & { itemId: string };

/** One run: the host, the outcomes, and each present item's categories. */
interface Run {
  host: EwsResponseHost;
  outcomes: ResponseOutcomes;
  categoriesOf: Map<string, string[]>;
  gone: string;
}

function chunks<T>(all: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < all.length; i += n) out.push(all.slice(i, i + n));
  return out;
}

/** Requests by ItemId, in order of first appearance. */
const byItem = (requests: readonly ItemRequest[]): Map<string, ItemRequest[]> => groupBy(requests, (r) => r.itemId);

const ids = (rs: readonly ResponseRequest[]): string[] => rs.map((r) => r.id);

/**
 * Applies scenario responses to the items their keys name. An item that is not there (any more)
 * is `not-applicable`; a refusal of the server, a folder that does not exist or a flag with no
 * EWS equivalent `failed`. Throws only when the session fails (nothing is then reported; the
 * caller tries them all again later: setting IsRead and categories twice changes nothing, and a
 * moved item is gone from the folder).
 */
export async function applyEwsResponses(requests: ResponseRequest[], host: EwsResponseHost): Promise<ResponseOutcome[]> {
  const outcomes = new ResponseOutcomes();
  const run: Run = { host, outcomes, categoriesOf: new Map(), gone: `the item is no longer in ${JSON.stringify(host.mailbox)}` };
  const items: ItemRequest[] = [];
  for (const r of requests) {
    if (r.key.startsWith('ews:') && r.key.length > 4) items.push({ ...r, itemId: r.key.slice(4) });
    else outcomes.skip([r.id], `the message was taken as ${r.key || 'no item'}, not as an EWS item`);
  }
  if (items.length > 0) {
    await findPresent(run, items);
    const present = items.filter((r) => !outcomes.skipped(r.id));
    await setFlags(run, present);
    await moveToFolders(run, present.filter((r) => !outcomes.skipped(r.id)));
  }
  return requests.map((r) => outcomes.of(r));
}

/** GetItem of every item (ids and categories): which are still there, and what categories they have. */
async function findPresent(run: Run, items: readonly ItemRequest[]): Promise<void> {
  const { host, outcomes } = run;
  const groups = byItem(items);
  for (const batch of chunks([...groups.keys()], host.batch)) {
    const msgs = responseMessages(await host.client.call('GetItem', getItemCategories(batch)));
    batch.forEach((itemId, k) => {
      const m = msgs[k];
      const { code, text } = m ? responseCode(m) : { code: 'no response message', text: '' };
      const rs = ids(groups.get(itemId)!);
      if (code === 'NoError') {
        const item = path(m, 'Items')?.children[0];
        run.categoriesOf.set(itemId, childrenNamed(child(item, 'Categories'), 'String').map((s) => s.text));
      } else if (code === 'ErrorItemNotFound') outcomes.skip(rs, run.gone);
      else outcomes.fail(rs, `the server refused GetItem: ${code}${text ? ` (${text})` : ''}`);
    });
  }
}

/** One UpdateItem change per item that needs one; requests whose flags have no EWS equivalent fail. */
async function setFlags(run: Run, present: readonly ItemRequest[]): Promise<void> {
  const { host, outcomes } = run;
  const changes: Array<{ change: EwsItemChange; requests: ItemRequest[] }> = [];
  for (const [itemId, rs] of byItem(present)) {
    // The mapping of flags to IsRead and categories is the core's (shared with Graph).
    const plan = planExchangeItem(rs, run.categoriesOf.get(itemId) ?? [], 'EWS');
    for (const { request, reason } of plan.refused) outcomes.fail([request.id], reason);
    if (plan.change) changes.push({ change: { id: itemId, ...plan.change }, requests: plan.applying });
  }
  for (const batch of chunks(changes, host.batch)) {
    const msgs = responseMessages(await host.client.call('UpdateItem', updateItems(batch.map((c) => c.change))));
    batch.forEach((c, k) => {
      const m = msgs[k];
      const { code, text } = m ? responseCode(m) : { code: 'no response message', text: '' };
      if (code === 'ErrorItemNotFound') outcomes.skip(ids(c.requests), run.gone);
      else if (code !== 'NoError') outcomes.fail(ids(c.requests), `the server refused UpdateItem: ${code}${text ? ` (${text})` : ''}`);
    });
  }
}

/** Moves, grouped by folder in the order of their first request; an item moved by one is gone for the next. */
async function moveToFolders(run: Run, present: readonly ItemRequest[]): Promise<void> {
  const { host, outcomes } = run;
  const moved = new Map<string, string>();
  const groups = new Map<string, ItemRequest[]>();
  for (const r of present) {
    if (r.response.moveTo === undefined) continue;
    groups.set(r.response.moveTo, [...(groups.get(r.response.moveTo) ?? []), r]);
  }
  for (const [folder, group] of groups) {
    const here = group.filter((r) => {
      const to = moved.get(r.itemId);
      if (to === undefined) return true;
      outcomes.skip([r.id], `the item was moved to ${JSON.stringify(to)} by another response`);
      return false;
    });
    if (here.length === 0) continue;
    let ref: EwsFolderRef;
    try {
      ref = await host.folder(folder);
    } catch (err) {
      if (!(err instanceof MailsluiceError) || err.code !== 'SOURCE_MAILBOX_NOT_FOUND') throw err;
      outcomes.fail(ids(here), `no folder ${JSON.stringify(folder)} to move to (folders are not created): ${err.message}`);
      continue;
    }
    const items = byItem(here);
    for (const batch of chunks([...items.keys()], host.batch)) {
      const msgs = responseMessages(await host.client.call('MoveItem', moveItem(batch, ref)));
      batch.forEach((itemId, k) => {
        const m = msgs[k];
        const { code, text } = m ? responseCode(m) : { code: 'no response message', text: '' };
        const rs = ids(items.get(itemId)!);
        if (code === 'NoError') moved.set(itemId, folder);
        else if (code === 'ErrorItemNotFound') outcomes.skip(rs, run.gone);
        else outcomes.fail(rs, `the server refused MoveItem to ${JSON.stringify(folder)}: ${code}${text ? ` (${text})` : ''}`);
      });
    }
  }
}
