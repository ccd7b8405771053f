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
