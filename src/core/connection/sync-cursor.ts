/**
 * When a source's synchronisation cursor may be made durable (ADR 0047): the policy a delta
 * listing (EWS SyncFolderItems, Microsoft Graph delta) follows, whatever the protocol.
 *
 * A listing walks pages: the page asked from state S0 brings some new items and state S1. The
 * durable state may move from S0 to S1 only once every item that page brought is settled (taken,
 * committed and actioned: the drain ledger's `lookupSettled`). Until then the next listing asks
 * from S0 again and the settled look filters what was done meanwhile, so a crash, a failed
 * message or a listing cut at the cycle's limit never loses an item (the cursor never passes one
 * not archived) and never doubles one (what was archived is settled, so not offered again).
 * A state the server refuses (invalid, expired) is dropped and the walk starts over with a full
 * sync, once per listing; the settled look filters what was taken before.
 */

import type { SyncStateStore } from '../ports/sync-state-store.js';

/** What a listing does with one page it was given. */
export interface SyncPageVerdict {
  /** The page's keys to offer now, in the page's order: not settled, not offered before in this listing, at most the room left. */
  take: string[];
  /** The state to make durable now (the store's `put`): every page from the durable state up to this one is settled. */
  advanceTo?: string;
}

/** What to do after the server refused the state a page was asked from. */
export type SyncRejection =
  /** Start over with a full sync; `drop`: a durable state exists and must be dropped first. */
  | { restart: true; drop: boolean }
  /** Give up this listing (the refusal is the cycle's error): a full sync was refused, or a state refused twice in one listing. */
  | { restart: false };

/**
 * One listing's walk over delta pages, from the durable state it started at. Pure: the caller
 * asks the server for each page from {@link from}, the drain ledger which keys are settled, and
 * writes or drops the durable state as told.
 */
export class SyncCursorWalk {
  /** The durable state as this walk last left it (stored, put or dropped). */
  private durable: string | undefined;
  /** The state the next page is asked from. */
  private next: string | undefined;
  /** A page of this walk brought a key not settled: the durable state stays where it is. */
  private held = false;
  private restarted = false;
  /** Keys offered by this listing already (a restart brings the same items again). */
  private readonly offered = new Set<string>();

  /** @param stored the durable state the listing starts from; undefined: a full sync. */
  constructor(stored: string | undefined) {
    this.durable = stored;
    this.next = stored;
  }

  /** The state the next page is to be asked from (undefined: a full sync). */
  get from(): string | undefined {
    return this.next;
  }

  /** Whether the durable state stays behind this walk's pages (a page had keys not settled). */
  get holding(): boolean {
    return this.held;
  }

  /**
   * Takes one page: its new items' keys (in the server's order), which of them are settled, and
   * the state the server handed with it. `room`: how many more keys the listing may offer.
   */
  page(keys: readonly string[], settled: ReadonlySet<string>, state: string, room: number): SyncPageVerdict {
    const take: string[] = [];
    let allSettled = true;
    for (const k of keys) {
      if (settled.has(k)) continue;
      allSettled = false;
      if (take.length < room && !this.offered.has(k)) {
        take.push(k);
        this.offered.add(k);
      }
    }
    this.next = state;
    if (!allSettled) this.held = true;
    if (this.held) return { take };
    this.durable = state;
    return { take, advanceTo: state };
  }

  /** The server refused the state {@link from}: what to do (see {@link SyncRejection}). */
  rejected(): SyncRejection {
    if (this.next === undefined || this.restarted) return { restart: false };
    this.restarted = true;
    const drop = this.durable !== undefined;
    this.durable = undefined;
    this.next = undefined;
    this.held = false;
    return { restart: true, drop };
  }
}

/** One page a source's delta listing got from the server, or the server's refusal of the state it was asked from. */
export type SyncPage<T extends { key: string }> = { state: string; last: boolean; items: T[]; changes: number } | { refused: string };

/** What {@link walkSyncPages} needs of the source and the runner. */
export interface SyncWalkOptions<T extends { key: string }> {
  states: SyncStateStore;
  /** The connection and the folder the state is kept under. */
  connection: string;
  folder: string;
  limit: number;
  settled: (keys: string[]) => Promise<Set<string>>;
  /** Asks the server for the page from `state` (undefined: a full sync). */
  page: (state: string | undefined) => Promise<SyncPage<T>>;
  /** The state was refused and dropped; the walk starts over with a full sync (for the warning). */
  restarting: (code: string) => void;
  /** A full sync refused, or a state refused twice: the cycle's error. */
  refusedForGood: (code: string) => Error;
}

/**
 * One delta listing, whatever the protocol (EWS SyncFolderItems, Graph delta): pages asked from
 * the durable state on, each handed to a {@link SyncCursorWalk}, the state written or dropped as
 * it says, until `limit` items not settled are found or the server has nothing more. Returns the
 * items taken, in the server's order.
 */
export async function walkSyncPages<T extends { key: string }>(o: SyncWalkOptions<T>): Promise<T[]> {
  const walk = new SyncCursorWalk(await o.states.get(o.connection, o.folder));
  const found: T[] = [];
  while (found.length < o.limit) {
    const answer = await o.page(walk.from);
    if ('refused' in answer) {
      const next = walk.rejected();
      if (!next.restart) throw o.refusedForGood(answer.refused);
      if (next.drop) await o.states.drop(o.connection, o.folder);
      o.restarting(answer.refused);
      continue;
    }
    const keys = answer.items.map((c) => c.key);
    const settled = keys.length > 0 ? await o.settled(keys) : new Set<string>();
    const verdict = walk.page(keys, settled, answer.state, o.limit - found.length);
    if (verdict.advanceTo !== undefined) await o.states.put(o.connection, o.folder, verdict.advanceTo);
    const take = new Set(verdict.take);
    for (const c of answer.items) if (take.has(c.key)) found.push(c);
    // An empty page that says more follows would be asked again forever: the next cycle goes on.
    if (answer.last || answer.changes === 0) break;
  }
  return found;
}

/**
 * A delta listing's items oldest first by time received (ms; NaN, unknown, last), the server's
 * order kept among equal times: a delta round comes in the server's order, the drain takes mail
 * oldest first within what one listing found.
 */
export function oldestFirst<T extends { received: number }>(items: readonly T[]): T[] {
  return items
    .map((c, i) => ({ c, i, t: Number.isNaN(c.received) ? Number.POSITIVE_INFINITY : c.received }))
    .sort((a, b) => (a.t === b.t ? a.i - b.i : a.t < b.t ? -1 : 1))
    .map((x) => x.c);
}
