import type { NtlmLoginInfo } from './imap-ntlm.js';
import type { OAuthLoginInfo } from './imap-oauth.js';
import type { ImapFlow } from 'imapflow';
import type { ImapWire } from './imap-wire.js';
import type { Candidate, FetchedMessage, MailboxSource, ResponseOutcome, ResponseRequest, SourceRuntime, SourceSession } from '../../core/ports/mailbox-source.js';
import type { Logger } from '../../core/ports/logger.js';
import { MailsluiceError } from '../../core/errors/index.js';
import { ownsItsMemory } from '../../core/ports/blob-store.js';
import { IMAP_TUNING, type ImapSourceConfig } from './imap-source-config.js';
import { resumeBody } from './imap-resume.js';
import { imapErrorContext } from './imap-error-map.js';
import { firstAbove, toSequenceSets } from './imap-sequence-sets.js';
import { ImapSessionOpener, type OpenedSession } from './imap-session.js';
import { ImapServerActions } from './imap-server-actions.js';
import { applyResponses } from './imap-responses.js';
import { ChangeWaiter } from './imap-wait.js';
import { peerCertificateExpiry } from '../tls-node/tls-peer-certificate.js';

/** A body that arrived whole, as the pieces it came in. */
async function* pieces(parts: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield p;
}

/**
 * The IMAP mailbox source. imapflow connects, negotiates TLS, authenticates and SELECTs; the
 * session is then driven by {@link ImapWire} (ADR 0009). A fresh instance per connect: a closed
 * session is never reused, and the supervisor builds a new source (ARCHITECTURE "Known sharp
 * edges").
 */
export class ImapSource implements MailboxSource {
  /** Server actions run on a second session, so the server's expunge work overlaps the next fetch. */
  readonly concurrentActions = true;
  /** Whether the main session runs over TLS (known after connect). */
  tlsInUse: boolean | undefined;
  /** When the server's certificate expires (known after a TLS connect). */
  certificateExpiresAt: number | undefined;
  /** imapflow, from connect until the mailbox is open and the socket handed to the wire. */
  private client: ImapFlow | null = null;
  private main: OpenedSession | null = null;
  /** The second session (same mailbox) that runs STORE / UID EXPUNGE / MOVE. */
  private action: OpenedSession | null = null;
  private actionOpening: Promise<OpenedSession> | null = null;
  private session: SourceSession | null = null;
  private capabilities = new Set<string>();
  /** Opens the sessions and maps their failures. */
  private readonly sessions: ImapSessionOpener;
  /** The delete policy (applyServerAction, flush, markFailed). */
  private readonly actions: ImapServerActions;
  /** IDLE or polling between cycles (waitForChange). */
  private readonly waiter: ChangeWaiter;
  /** What the last listing's SEARCH found, ascending; later cycles take from it (see listCandidates). */
  private searched: number[] = [];
  private warnedNoIdle = false;
  private closed = false;

  constructor(
    private readonly cfg: ImapSourceConfig,
    private readonly logger: Logger,
    private readonly runtime: SourceRuntime = {},
  ) {
    this.sessions = new ImapSessionOpener(cfg, logger, runtime, imapErrorContext(cfg));
    const hasCap = (name: string): boolean => this.capabilities.has(name);
    this.actions = new ImapServerActions({
      cfg,
      logger,
      host: cfg.host,
      hasCap,
      onAction: (commands) => this.onAction(commands),
      wrap: (err) => this.wrap(err),
      wrapMarkSeen: (err, count) => this.sessions.wrapMarkSeen(err, count),
    });
    this.waiter = new ChangeWaiter({ cfg, logger, hasCap, isClosed: () => this.closed, mainWire: () => this.main?.wire });
  }

  private get where(): string {
    return this.sessions.where;
  }

  private get w(): ImapWire {
    if (!this.main || this.closed || !this.main.wire.usable) throw new MailsluiceError('SOURCE_NETWORK', `connection to ${this.where} is not open`);
    return this.main.wire;
  }

  private wrap(err: unknown): MailsluiceError {
    return this.sessions.wrap(err);
  }

  private hasCap(name: string): boolean {
    return this.capabilities.has(name);
  }

  /** Who the NTLM login was (auth ntlm, after {@link connect}), for test-connection's sentence. */
  get ntlmLogin(): NtlmLoginInfo | undefined {
    return this.sessions.ntlmLogin;
  }

  /** How the OAuth2 login went (auth xoauth2 / oauthbearer, after {@link connect}), for test-connection's sentence. */
  get oauthLogin(): OAuthLoginInfo | undefined {
    return this.sessions.oauthLogin;
  }

  /** Connects and authenticates without opening the mailbox (used by test-connection). */
  async connect(): Promise<void> {
    const client = this.sessions.newClient();
    this.client = client;
    try {
      await client.connect();
    } catch (err) {
      client.close();
      this.client = null;
      throw this.wrap(err);
    }
    this.capabilities = new Set([...client.capabilities.keys()].map((k) => k.toUpperCase()));
    this.tlsInUse = client.secureConnection;
    // After STARTTLS imapflow's `socket` is the upgraded TLS socket.
    this.certificateExpiresAt = peerCertificateExpiry((client as unknown as { socket?: unknown }).socket);
  }

  async open(): Promise<SourceSession> {
    if (!this.client) await this.connect();
    const client = this.client!;
    let opened: OpenedSession;
    try {
      opened = await this.sessions.select(client);
    } catch (err) {
      client.close();
      throw err;
    } finally {
      this.client = null;
    }
    this.main = opened;
    opened.wire.onExists = () => this.waiter.signal();
    opened.wire.onClose = () => {
      this.closed = true;
      this.waiter.signal();
    };
    this.session = {
      mailbox: this.cfg.mailbox,
      uidValidity: opened.uidValidity,
      exists: opened.exists,
      capabilities: [...this.capabilities],
    };
    if (this.cfg.idle && !this.hasCap('IDLE') && !this.warnedNoIdle) {
      this.logger.warn(`server does not offer IDLE: polling every ${this.cfg.pollIntervalMs} ms (pollIntervalMs) instead`);
      this.warnedNoIdle = true;
    }
    this.actions.warnAtOpen();
    return this.session;
  }

  /**
   * Starts opening the action session while the first messages are fetched and committed: the
   * server action is a drain's slowest stage (Dovecot's expunge), and opening the session on its
   * first use held the first UID EXPUNGE back by a login and SELECT (130–180 ms on loopback) for
   * every drain. Only once mail is found, so an idle connection holds one session, not two. A
   * failure here is left for the first real use to report (act() tries again).
   */
  private openActionEarly(): void {
    if (this.cfg.deletePolicy === 'leave' || this.action?.wire.usable || this.actionOpening) return;
    this.act().catch((err: unknown) => this.logger.debug('action session not opened early', { error: String((err as Error)?.message ?? err) }));
  }

  /** The action session, opened on first use with the same settings and mailbox. */
  private async act(): Promise<OpenedSession> {
    if (this.action?.wire.usable) return this.action;
    this.actionOpening ??= (async () => {
      const client = this.sessions.newClient();
      let opened: OpenedSession;
      try {
        await client.connect();
        opened = await this.sessions.select(client);
      } catch (err) {
        client.close();
        throw err;
      }
      // Opened early (openActionEarly) and the source closed meanwhile: nothing may use it now.
      if (this.closed) {
        await opened.wire.logout(IMAP_TUNING.logoutTimeoutMs);
        throw new MailsluiceError('SOURCE_NETWORK', `connection to ${this.where} was closed while its action session opened`);
      }
      // UIDs are only meaningful under the UIDVALIDITY the candidates were listed with.
      if (this.session && opened.uidValidity !== this.session.uidValidity) {
        opened.wire.destroy();
        throw new MailsluiceError('SOURCE_PROTOCOL', `UIDVALIDITY of ${JSON.stringify(this.cfg.mailbox)} changed during the session; server actions postponed to the next session`);
      }
      this.action = opened;
      return opened;
    })().finally(() => {
      this.actionOpening = null;
    });
    return this.actionOpening;
  }

  /**
   * Runs commands on the action session after a NOOP: a session acts only on the messages in its
   * own view, and a message that arrived since its last command is not in it yet; without the
   * NOOP, STORE / UID EXPUNGE of such a UID would answer OK and do nothing.
   */
  private async onAction(commands: string[]): Promise<void> {
    const a = await this.act();
    await a.wire.sequence(['NOOP', ...commands]);
  }

  private key(uid: number): string {
    return `imap:${this.cfg.mailbox}:${this.session?.uidValidity ?? 0}:${uid}`;
  }

  /**
   * The oldest `limit` messages above the watermark. One `UID SEARCH` serves many cycles: a
   * cycle takes the next UIDs of the last search that lie above the watermark (everything at or
   * below it is committed), and a new `NOOP` + `UID SEARCH` runs only when fewer than `limit`
   * are left, so new mail is seen as soon as the backlog is taken. A UID searched but expunged
   * since is simply not returned by the fetch; one committed above a watermark held back by a
   * failure is recognised by its source key (the cycle acts on it instead of fetching it).
   */
  async listCandidates(limit: number, after?: { uidValidity: number; lastUid: number }): Promise<Candidate[]> {
    const lastUid = after && after.uidValidity === this.session?.uidValidity ? after.lastUid : 0;
    let from = firstAbove(this.searched, lastUid);
    if (this.searched.length - from < limit) {
      let found: number[];
      try {
        // NOOP first: a session searches its own view of the mailbox, and NOOP brings in what
        // arrived since the last command, so the search sees the mailbox as it is now.
        const [, search] = await this.w.sequence(['NOOP', `UID SEARCH UID ${lastUid + 1}:* UNDELETED${this.cfg.unseenOnly ? ' UNSEEN' : ''}`]);
        found = search!.search ?? [];
      } catch (err) {
        throw this.wrap(err);
      }
      // "n:*" always includes the highest UID, even one below n (RFC 3501), hence the filter.
      this.searched = found.filter((u) => u > lastUid).sort((a, b) => a - b);
      from = 0;
    }
    const uids = this.searched.slice(from, from + limit);
    if (uids.length > 0) {
      this.waiter.lastFoundAt = Date.now();
      this.openActionEarly();
    }
    // Sizes are not asked for: a large body streams through the bulk FETCH (ImapWire), and the
    // stored size is measured from the bytes themselves.
    return uids.map((uid) => ({ key: this.key(uid), uid, size: 0 }));
  }

  async *fetch(candidates: Candidate[]): AsyncIterable<FetchedMessage> {
    if (candidates.length === 0) return;
    const memory = this.runtime.transfers;
    if (memory) {
      // Messages whose transfer broke off in an earlier session: the rest of each, from where it
      // stopped (ADR 0015), before the others.
      const resumed = candidates.filter((c) => memory.resumable(c.key) !== undefined);
      if (resumed.length > 0) candidates = candidates.filter((c) => memory.resumable(c.key) === undefined);
      for (const c of resumed) {
        let body: AsyncIterable<Uint8Array> | null;
        try {
          body = await resumeBody(this.w, { uid: c.uid!, key: c.key, where: this.where }, memory);
        } catch (err) {
          throw this.wrap(err);
        }
        if (body !== null) yield { candidate: c, body: this.guard(body), buffered: false };
      }
    }
    if (this.cfg.partialFetch) {
      for (const c of candidates) {
        let first: Buffer | null;
        try {
          first = await this.chunk(c.uid!, 0);
        } catch (err) {
          this.brokeDuring(c);
          throw err;
        }
        if (first === null) continue; // vanished
        yield { candidate: c, body: this.guard(this.chunks(c.uid!, first), c), buffered: false };
      }
      return;
    }
    const byUid = new Map(candidates.map((c) => [c.uid!, c]));
    try {
      // One FETCH for the whole cycle (unless its UIDs are too scattered for one line); bodies over the chunking threshold stream through with
      // back-pressure, so none sits whole in memory and no size needs asking first.
      for (const set of toSequenceSets([...byUid.keys()])) {
        for await (const m of this.w.fetch(set, { streamAbove: IMAP_TUNING.streamAboveBytes })) {
          const cand = byUid.get(m.uid);
          byUid.delete(m.uid);
          if (!cand) {
            // Not asked for, or sent twice: let a streaming body pass unread.
            if (m.stream) await m.stream[Symbol.asyncIterator]().return?.();
            continue;
          }
          // Pieces that span their whole memory (socket chunks that were all literal, copies of the
          // edges) are the message's own; a small body is a view into a socket chunk.
          if (m.parts) yield { candidate: cand, body: pieces(m.parts), buffered: true, bytes: m.size, owned: m.parts.every(ownsItsMemory) };
          else yield { candidate: cand, body: this.guard(m.stream, cand), buffered: false };
        }
      }
    } catch (err) {
      // The server answers in UID order: the lowest UID not received is the one the session broke during.
      const next = [...byUid.keys()].sort((a, b) => a - b)[0];
      if (next !== undefined) this.brokeDuring(byUid.get(next)!);
      throw this.wrap(err);
    }
  }

  /**
   * The session broke while `c` was coming: the runner's memory is told, and keeps an (empty)
   * record of it, so the next session resumes it on its own instead of in the bulk FETCH
   * (the bytes of a bulk FETCH's literal are not kept: they arrive whole or not at all).
   */
  private brokeDuring(c: Candidate): void {
    const memory = this.runtime.transfers;
    if (!memory) return;
    if (memory.resumable(c.key) === undefined) memory.keep(c.key, new Uint8Array(0));
    memory.interrupted(c.key);
  }

  /** One `BODY.PEEK[]<offset.length>` chunk of a message; null when the message is gone. */
  private async chunk(uid: number, offset: number): Promise<Buffer | null> {
    try {
      for await (const m of this.w.fetch(String(uid), { streamAbove: Number.POSITIVE_INFINITY, partial: { offset, length: IMAP_TUNING.chunkBytes } })) {
        if (m.uid === uid && m.parts) return m.parts.length === 1 ? m.parts[0]! : Buffer.concat(m.parts, m.size);
      }
    } catch (err) {
      throw this.wrap(err);
    }
    return null;
  }

  /** A message in chunks of {@link IMAP_TUNING.chunkBytes}, one round trip each, starting with `first`. */
  private async *chunks(uid: number, first: Buffer): AsyncIterable<Uint8Array> {
    let body: Buffer | null = first;
    let offset = 0;
    while (body !== null) {
      if (body.length > 0) yield body;
      if (body.length < IMAP_TUNING.chunkBytes) return;
      offset += body.length;
      body = await this.chunk(uid, offset);
    }
  }

  /** Maps a body's failure to a catalogue error; with `c`, a failure tells the memory the session broke during it. */
  private async *guard(stream: AsyncIterable<Uint8Array>, c?: Candidate): AsyncIterable<Uint8Array> {
    try {
      for await (const chunk of stream) yield chunk;
    } catch (err) {
      if (c) this.brokeDuring(c);
      throw this.wrap(err);
    }
  }

  async applyServerAction(candidates: Candidate[]): Promise<Candidate[]> {
    return this.actions.apply(candidates);
  }

  /** Applies scenario responses on the action session (see imap-responses.ts). */
  async applyResponses(requests: ResponseRequest[]): Promise<ResponseOutcome[]> {
    return applyResponses(requests, {
      mailbox: this.cfg.mailbox,
      host: this.cfg.host,
      act: () => this.act(),
      moveUids: (set, folder) => this.actions.moveUids(set, folder),
      wrap: (err) => this.wrap(err),
    });
  }

  async flush(): Promise<Candidate[]> {
    return this.actions.flush();
  }

  /** Flags messages that could not be archived `\Seen`, so the `unseenOnly` listing skips them (see ImapServerActions). */
  async markFailed(candidates: Candidate[]): Promise<void> {
    return this.actions.markFailed(candidates);
  }

  /** Waits for new mail: IDLE or a poll (see ChangeWaiter). */
  async waitForChange(ms: number, signal?: AbortSignal): Promise<void> {
    return this.waiter.waitForChange(ms, signal);
  }

  async close(): Promise<void> {
    this.closed = true;
    const action = this.action;
    this.action = null;
    const main = this.main;
    this.main = null;
    const client = this.client;
    this.client = null;
    client?.close();
    // An action session still opening logs itself out when it sees `closed` (act()).
    const opening = this.actionOpening?.catch(() => undefined);
    await Promise.all([action?.wire.logout(IMAP_TUNING.logoutTimeoutMs), main?.wire.logout(IMAP_TUNING.logoutTimeoutMs), opening]);
  }
}

/** Creates an IMAP source for one connection. */
export function createImapSource(cfg: ImapSourceConfig, logger: Logger, runtime?: SourceRuntime): ImapSource {
  return new ImapSource(cfg, logger, runtime);
}