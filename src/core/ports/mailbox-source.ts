/**
 * The mailbox-source port: lists and streams messages and applies server-side actions.
 * It does not parse, route or store (ARCHITECTURE.md).
 */
import type { AccessTokenSource } from './access-token-source.js';
import type { ServerResponse } from './scenario-action.js';
import type { SyncStateStore } from './sync-state-store.js';

/** A message on the server that may be taken. */
export interface Candidate {
  /** Stable identity on the server: `imap:<mailbox>:<uidvalidity>:<uid>` or `pop3:<uidl>`. */
  key: string;
  /** IMAP UID, when the protocol has one. */
  uid?: number;
  /** POP3 UIDL, when the protocol has one. */
  uidl?: string;
  /** Size the server announces, in bytes (0 when unknown). */
  size: number;
}

/** What a session learned on open. */
export interface SourceSession {
  /** The mailbox drained (IMAP) or "" (POP3). */
  mailbox: string;
  /** IMAP UIDVALIDITY of the mailbox, 0 when not applicable. */
  uidValidity: number;
  /** Messages in the mailbox when it was opened. */
  exists: number;
  /** Server capabilities, upper-case. */
  capabilities: string[];
}

/** One fetched message: its body must be read to the end before the next is yielded. */
export interface FetchedMessage {
  candidate: Candidate;
  /** The raw bytes exactly as the server sent them, in chunks. */
  body: AsyncIterable<Uint8Array>;
  /**
   * True when the body is already whole in memory, so it may be stored while later messages are
   * fetched; a streamed body (false) must be consumed before the next message is asked for.
   */
  buffered: boolean;
  /**
   * The body's length in bytes when it is whole in memory (`buffered`), so the drain can bound
   * the bytes it holds in flight; optional (unknown for streamed bodies).
   */
  bytes?: number;
  /**
   * True when the body's memory belongs to this message alone (not a view into a shared read
   * buffer), so the store may take it over instead of copying it (`BlobWriter.put`'s `owned`).
   */
  owned?: boolean;
}

/** One scenario response to apply to one message of the open mailbox. */
export interface ResponseRequest {
  /** The caller's handle for it (the delivery id), echoed in its outcome. */
  id: string;
  /** The candidate key the message was taken under (`imap:…`, `ews:<ItemId>`). */
  key: string;
  /**
   * The message's UID, under the UIDVALIDITY of this session; present whenever the source
   * addresses responses by UID (`responsesBy` 'uid', IMAP).
   */
  uid?: number;
  response: ServerResponse;
}

/** How applying one response ended. */
export interface ResponseOutcome {
  id: string;
  /**
   * `applied`: done on the server. `not-applicable`: the message is not in the mailbox (any
   * more), so there is nothing to apply it to. `failed`: the server refused it (a folder that does
   * not exist, a flag the mailbox does not accept).
   */
  outcome: 'applied' | 'not-applicable' | 'failed';
  /** Why, for `not-applicable` and `failed`. */
  reason?: string;
}

/**
 * What a connection's runner remembers across its sessions about transfers that broke off
 * (`core/archive/partial-transfer.ts`, ADR 0015), handed to each fresh source: a source that can
 * resume a message (IMAP) keeps the bytes it received and asks for the rest next time; every
 * source says which message a session broke during, so one that never gets through is set aside.
 */
export interface TransferMemory {
  /** The bytes of `key` received in earlier sessions, in order, if any were kept. */
  resumable(key: string): { parts: readonly Uint8Array[]; bytes: number } | undefined;
  /** Appends bytes of `key` just received (memory the caller no longer touches); false when over the bound (all of it dropped). */
  keep(key: string, chunk: Uint8Array): boolean;
  /** The session broke while `key` was being transferred; `size` is its size when known (0: unknown). */
  interrupted(key: string, size?: number): void;
  /** `key` arrived whole, vanished or cannot be resumed: what was kept of it is dropped. */
  forget(key: string): void;
}

/**
 * How long a command may wait on a silent server when the operator set no `dataTimeoutMs` (0),
 * and how often a warning is logged while it waits; the IMAP and POP3 sources' tunables
 * (`IMAP_TUNING`, `POP3_TUNING`) take these. Five minutes is far beyond any healthy pause of a
 * server under load (Dovecot answers a FETCH of a 100 MB message in well under a second on a
 * LAN; a busy Exchange may pause for tens of seconds), yet a connection that went silent for good
 * (a NAT that dropped its state, a stalled proxy) no longer hangs a drain forever; a warning
 * every 30 s says what is waiting long before that.
 */
export const SERVER_SILENCE = { limitMs: 5 * 60 * 1000, warnEveryMs: 30 * 1000 } as const;

/** What a source gets from the runner that builds it, besides the connection's settings. */
export interface SourceRuntime {
  /** The runner's memory of broken transfers (kept across its sessions). */
  transfers?: TransferMemory;
  /**
   * Silence a command may wait through when the operator set no `dataTimeoutMs` (0), and how
   * often a warning is logged meanwhile; the adapters' own tunables when not given.
   */
  silence?: { limitMs: number; warnEveryMs: number };
  /**
   * OAuth2 logins (auth xoauth2 / oauthbearer): where the tokens come from. Absent: the adapter's
   * own for the connection's settings, shared by its sessions (ADR 0045).
   */
  accessTokens?: AccessTokenSource;
  /**
   * Where a source whose items stay on the server keeps its synchronisation cursor (EWS
   * SyncFolderItems, ADR 0047), advanced as `core/connection/sync-cursor.ts` decides. Absent: the
   * source lists the whole folder every cycle and asks `settled`, as before.
   */
  syncState?: SyncStateStore;
}

/** What the connection does on the server with a message after it is committed. */
export type ServerActionKind = 'delete-and-expunge' | 'delete' | 'mark-seen' | 'move' | 'leave';

/** An adapter for one mailbox of one connection; a fresh instance per connect. */
export interface MailboxSource {
  /**
   * True when `applyServerAction`/`flush` may run while the next `listCandidates`/`fetch` is
   * under way (IMAP: on a second session), so the server's expunge work overlaps the next fetch.
   * False for protocols that are strictly one command at a time (POP3).
   */
  readonly concurrentActions: boolean;
  /**
   * After `open`: whether the session runs over TLS (implicit or STARTTLS), which the STARTTLS
   * downgrade protection remembers (`core/connection/tls-downgrade.ts`); undefined when unknown.
   */
  readonly tlsInUse?: boolean;
  /**
   * After `open` over TLS: when the certificate the server presented expires (ms since the
   * epoch), for the `certificate-expiry` alert; undefined without TLS or when unknown.
   */
  readonly certificateExpiresAt?: number;
  /** Connects, authenticates and opens the mailbox. */
  open(signal?: AbortSignal): Promise<SourceSession>;
  /**
   * Lists at most `limit` messages that may be taken, oldest first. `after` is the watermark of
   * this mailbox (every UID up to it was committed); sources without UIDs ignore it and instead
   * ask `settled` which keys were taken and actioned already (POP3 `leave` keeps every message on
   * the server, so without it the limit would fill with old mail forever).
   */
  listCandidates(limit: number, after?: { uidValidity: number; lastUid: number }, settled?: (keys: string[]) => Promise<Set<string>>): Promise<Candidate[]>;
  /** Streams the raw bytes of the given messages in order; one vanished message is skipped. */
  fetch(candidates: Candidate[]): AsyncIterable<FetchedMessage>;
  /**
   * Applies the delete policy to committed messages (flag, expunge, move, DELE, …) and returns
   * those whose action is complete on the server; the rest complete at a later call or `flush`.
   */
  applyServerAction(candidates: Candidate[]): Promise<Candidate[]>;
  /** Completes deferred actions (IMAP: UID EXPUNGE; POP3: QUIT) and returns the candidates completed. */
  flush(): Promise<Candidate[]>;
  /**
   * Flags messages that could not be archived so that this source's listing no longer offers
   * them (IMAP with `unseenOnly`: `\Seen`), instead of offering them again every cycle. They stay
   * on the server and get no server action. Optional: a source whose listing cannot skip
   * messages by a flag (POP3) leaves it out, and a failure to archive then fails the cycle.
   */
  markFailed?(candidates: Candidate[]): Promise<void>;
  /**
   * Applies scenario responses (flags to add, a folder to move to) to messages still in the
   * mailbox, as UID sets grouped by identical flags and by folder: every flag first, then the
   * moves. Returns one outcome per request. A message that is not there (any more) is
   * `not-applicable`, a refusal of the server `failed`; it throws only when the session fails, and
   * the caller then tries them all again later (adding flags is idempotent; a message moved
   * already is gone, so not applicable). Optional: POP3 has no flags or folders.
   */
  applyResponses?(requests: ResponseRequest[]): Promise<ResponseOutcome[]>;
  /**
   * How `applyResponses` finds a message: by its UID under the session's UIDVALIDITY (`uid`, the
   * default: IMAP), or by the candidate key alone (`key`: EWS, whose ItemIds name an item
   * wherever it is). The core only hands over requests the source can address.
   */
  readonly responsesBy?: 'uid' | 'key';
  /** Waits until the server signals new mail (IDLE) or `ms` pass; resolves early on abort. */
  waitForChange(ms: number, signal?: AbortSignal): Promise<void>;
  /** Closes the connection; safe to call twice. */
  close(): Promise<void>;
}
