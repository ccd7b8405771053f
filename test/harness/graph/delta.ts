/**
 * `GET …/mailFolders/{id}/messages/delta` ("message: delta", "Get incremental changes to messages
 * in a folder"): the first round lists the folder's messages as they are, page by page
 * (`Prefer: odata.maxpagesize`, `@odata.nextLink` with a `$skiptoken`), ending with an
 * `@odata.deltaLink` (`$deltatoken`); a later round with that link lists what changed since, a
 * message that left the folder (deleted or moved) as `{"id", "@removed": {"reason": "deleted"}}`.
 * The tokens are opaque and encode the query options, as Graph's do, so the links are followed as
 * given. A token the simulator no longer knows (see `expireAll`) is `410 Gone`, `SyncStateNotFound`.
 */
import { randomBytes } from 'node:crypto';
import { GraphError } from './errors.js';
import type { GraphMailbox } from './mailbox.js';
import { messageJson } from './resources.js';

/** What a skiptoken or deltatoken stands for. */
interface DeltaState {
  mailbox: GraphMailbox;
  folderId: string;
  select: string[] | undefined;
  /** The changes still to list in this round (skiptoken), none for a deltatoken. */
  pending: Array<{ kind: 'changed' | 'removed'; messageId: string }>;
  /** The change sequence the next round starts after. */
  seq: number;
}

/** One page of a delta round. */
export interface DeltaPage { items: Array<Record<string, unknown>>; next: { skiptoken: string } | { deltatoken: string }; pageSize: number }

/** The default page size when no `odata.maxpagesize` is asked for (an assumption: not documented for messages). */
export const DEFAULT_DELTA_PAGE = 10;

/** The delta states of all mailboxes. */
export class DeltaTokens {
  private readonly skip = new Map<string, DeltaState>();
  private readonly delta = new Map<string, DeltaState>();
  /** How many states were dropped by `expireAll`. */
  expired = 0;

  /** Forgets every state, so every link handed out answers 410 (a reset the service may do any time). */
  expireAll(): void {
    this.expired += this.skip.size + this.delta.size;
    this.skip.clear();
    this.delta.clear();
  }

  /** Starts a round: everything in the folder now. */
  start(mailbox: GraphMailbox, folderId: string, select: string[] | undefined): DeltaState {
    return { mailbox, folderId, select, pending: mailbox.messagesIn(folderId).map((m) => ({ kind: 'changed' as const, messageId: m.id })), seq: mailbox.seq };
  }

  /** The state of a `$skiptoken` or `$deltatoken` (a deltatoken starts a new round of changes). */
  resume(kind: 'skiptoken' | 'deltatoken', token: string): DeltaState {
    const s = (kind === 'skiptoken' ? this.skip : this.delta).get(token);
    if (!s) throw new GraphError(410, 'SyncStateNotFound', 'The sync state generation is not found. The delta token is expired and data must be synchronized again.');
    if (kind === 'skiptoken') return s;
    return { ...s, pending: s.mailbox.changesSince(s.folderId, s.seq), seq: s.mailbox.seq };
  }

  /** The next page of a round; the state behind a token never changes, so a link can be retried. */
  page(state: DeltaState, maxPageSize: number): DeltaPage {
    const items: Array<Record<string, unknown>> = [];
    let i = 0;
    for (; i < state.pending.length && items.length < maxPageSize; i++) {
      const c = state.pending[i]!;
      const m = state.mailbox.message(c.messageId);
      if (c.kind === 'removed') items.push({ '@odata.type': '#microsoft.graph.message', id: c.messageId, '@removed': { reason: 'deleted' } });
      // A message that left since the round began is the next round's removal.
      else if (m && m.folderId === state.folderId) items.push({ '@odata.type': '#microsoft.graph.message', ...messageJson(m, state.select) });
    }
    const token = randomBytes(24).toString('base64url');
    if (i < state.pending.length) {
      this.skip.set(token, { ...state, pending: state.pending.slice(i) });
      return { items, next: { skiptoken: token }, pageSize: maxPageSize };
    }
    this.delta.set(token, { ...state, pending: [] });
    return { items, next: { deltatoken: token }, pageSize: maxPageSize };
  }
}
