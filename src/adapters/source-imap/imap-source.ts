import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import { ImapWire } from './imap-wire.js';
import { ImapCommandError, ImapConnectionError } from './imap-wire-errors.js';
import { flagList, quoteMailbox } from './imap-command-text.js';
import type { Candidate, FetchedMessage, MailboxSource, ResponseOutcome, ResponseRequest, SourceRuntime, SourceSession } from '../../core/ports/mailbox-source.js';
import type { Logger } from '../../core/ports/logger.js';
import { MailsluiceError } from '../../core/errors/index.js';
import { ownsItsMemory } from '../../core/ports/blob-store.js';
import { IMAP_TUNING, type ImapSourceConfig } from './imap-source-config.js';
import { mapImapError, type ImapErrorContext } from './imap-error-map.js';
import { resumeBody } from './imap-resume.js';

/** Compresses sorted UIDs into an IMAP sequence set ("1:5,7,9:12"). */
export function toSequenceSet(uids: readonly number[]): string {
  return sequenceRanges(uids).join(',');
}

/**
 * `uids` as IMAP sequence sets of at most `maxChars` characters each, ascending. A command line
 * must stay short enough for any server (RFC 7162 section 4 advises clients to keep lines within
 * 8,192 octets), and the set of scattered UIDs (`unseenOnly` skipping seen mail, or batches merged
 * behind a slow expunge) can be far longer than its count suggests.
 */
export function toSequenceSets(uids: readonly number[], maxChars: number = IMAP_TUNING.maxSequenceSetChars): string[] {
  const sets: string[] = [];
  let current = '';
  for (const r of sequenceRanges(uids)) {
    if (current !== '' && current.length + 1 + r.length > maxChars) {
      sets.push(current);
      current = '';
    }
    current = current === '' ? r : `${current},${r}`;
  }
  if (current !== '') sets.push(current);
  return sets;
}

/** Ascending `n` and `n:m` ranges of `uids`. */
function sequenceRanges(uids: readonly number[]): string[] {
  const sorted = [...uids].sort((a, b) => a - b);
  const parts: string[] = [];
  let start = sorted[0];
  let prev = start;
  for (let i = 1; i <= sorted.length; i++) {
    const u = sorted[i];
    if (u !== undefined && prev !== undefined && u === prev + 1) {
      prev = u;
      continue;
    }
    if (start !== undefined && prev !== undefined) parts.push(start === prev ? String(start) : `${start}:${prev}`);
    start = u;
    prev = u;
  }
  return parts;
}

async function* pieces(parts: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const p of parts) yield p;
}

/** The index of the first element of ascending `sorted` above `value`. */
function firstAbove(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}


/** Builds imapflow's options from the connection settings. */
export function imapFlowOptions(cfg: ImapSourceConfig, silenceLimitMs: number = IMAP_TUNING.silenceLimitMs): ImapFlowOptions {
  const implicitTls = cfg.security === 'tls';
  const tls: Record<string, unknown> = {
    rejectUnauthorized: cfg.tls.verify,
    minVersion: cfg.tls.minVersion,
  };
  if (cfg.tls.ca) tls.ca = cfg.tls.ca;
  if (cfg.tls.clientCert) tls.cert = cfg.tls.clientCert;
  if (cfg.tls.clientKey) tls.key = cfg.tls.clientKey;
  if (cfg.tls.pfx) tls.pfx = Buffer.from(cfg.tls.pfx, 'base64');
  if (cfg.tls.passphrase) tls.passphrase = cfg.tls.passphrase;
  if (cfg.tls.servername) tls.servername = cfg.tls.servername;
  const options: ImapFlowOptions = {
    host: cfg.host,
    port: implicitTls ? cfg.tlsPort : cfg.port,
    secure: implicitTls,
    // imapflow: true = STARTTLS required, false = never, undefined = when offered.
    doSTARTTLS: cfg.security === 'starttls' ? true : cfg.security === 'none' ? false : undefined,
    tls,
    logger: false,
    connectionTimeout: cfg.connectTimeoutMs || IMAP_TUNING.noTimeoutMs,
    greetingTimeout: cfg.connectTimeoutMs || IMAP_TUNING.noTimeoutMs,
    // Login and SELECT run under imapflow: the same bound on silence as ImapWire's commands.
    socketTimeout: cfg.dataTimeoutMs || silenceLimitMs || IMAP_TUNING.noTimeoutMs,
    // imapflow only opens the session; ImapWire drives it after SELECT (ADR 0009), so imapflow
    // must not IDLE, compress or ENABLE extensions that would change the answers ImapWire reads.
    disableAutoIdle: true,
    disableCompression: true,
    disableAutoEnable: true,
    clientInfo: { name: 'mailsluice' },
  } as ImapFlowOptions;
  if (cfg.auth.type !== 'none') {
    const auth: Record<string, unknown> = { user: cfg.auth.username ?? '' };
    if (cfg.auth.type === 'xoauth2') auth.accessToken = cfg.auth.accessToken;
    else auth.pass = cfg.auth.password ?? '';
    // "Disable plain auth": the IMAP LOGIN command instead of AUTHENTICATE PLAIN (Exchange bug).
    if (cfg.auth.disablePlain) auth.loginMethod = 'LOGIN';
    (options as { auth?: unknown }).auth = auth;
  }
  return options;
}

/** The session an action or drain runs on: ImapWire over a socket imapflow opened and SELECTed. */
interface OpenedSession {
  wire: ImapWire;
  uidValidity: number;
  exists: number;
  /** The mailbox's PERMANENTFLAGS (undefined when the server sent none). */
  permanentFlags: Set<string> | undefined;
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
  /** imapflow, from connect until the mailbox is open and the socket handed to the wire. */
  private client: ImapFlow | null = null;
  private main: OpenedSession | null = null;
  /** The second session (same mailbox) that runs STORE / UID EXPUNGE / MOVE. */
  private action: OpenedSession | null = null;
  private actionOpening: Promise<OpenedSession> | null = null;
  private session: SourceSession | null = null;
  private capabilities = new Set<string>();
  private readonly ctx: ImapErrorContext & { mailbox: string };
  /** Flagged \Deleted, waiting for UID EXPUNGE (expungeEvery). */
  private pendingExpunge: Candidate[] = [];
  /** What the last listing's SEARCH found, ascending; later cycles take from it (see listCandidates). */
  private searched: number[] = [];
  /** When a listing last found mail (see IMAP_TUNING.idleLingerMs). */
  private lastFoundAt = 0;
  private warnedNoUidplus = false;
  private warnedNoIdle = false;
  private changed = false;
  private closed = false;
  private wake: (() => void) | null = null;
  /** The last error imapflow emitted (e.g. its socket timeout), to name the cause of a closed connection. */
  private lastClientError: unknown;

  constructor(
    private readonly cfg: ImapSourceConfig,
    private readonly logger: Logger,
    private readonly runtime: SourceRuntime = {},
  ) {
    this.ctx = {
      host: cfg.host,
      port: cfg.security === 'tls' ? cfg.tlsPort : cfg.port,
      mailbox: cfg.mailbox,
      ...(cfg.auth.username !== undefined ? { username: cfg.auth.username } : {}),
      authNone: cfg.auth.type === 'none',
    };
  }

  private get where(): string {
    return `${this.ctx.host}:${this.ctx.port}`;
  }

  private get w(): ImapWire {
    if (!this.main || this.closed || !this.main.wire.usable) throw new MailsluiceError('SOURCE_NETWORK', `connection to ${this.where} is not open`);
    return this.main.wire;
  }

  private wrap(err: unknown): MailsluiceError {
    // imapflow reports a socket timeout (or TLS/socket error) through its 'error' event and then
    // fails the running command with a generic "Connection not available"; name the real cause
    // (e.g. SOURCE_DATA_TIMEOUT) instead of a bare SOURCE_NETWORK.
    const code = (err as { code?: string } | null)?.code;
    if (this.lastClientError !== undefined && (code === 'NoConnection' || code === 'EConnectionClosed') && !(err instanceof ImapConnectionError)) {
      return mapImapError(this.lastClientError, this.ctx);
    }
    return mapImapError(err, this.ctx);
  }

  /** The bound on a silent server (with `dataTimeoutMs` 0) and the warning interval. */
  private get silence(): { limitMs: number; warnEveryMs: number } {
    return this.runtime.silence ?? { limitMs: IMAP_TUNING.silenceLimitMs, warnEveryMs: IMAP_TUNING.silenceWarnEveryMs };
  }

  private hasCap(name: string): boolean {
    return this.capabilities.has(name);
  }

  /** A new imapflow client with this connection's settings; its errors are kept to name a later failure. */
  private newClient(logger?: ImapFlowOptions['logger']): ImapFlow {
    const client = new ImapFlow({ ...imapFlowOptions(this.cfg, this.silence.limitMs), ...(logger ? { logger } : {}) });
    // An 'error' without a listener would crash the process; the next command reports it instead.
    client.on('error', (err: unknown) => {
      this.lastClientError = err;
      this.logger.debug('imap client error', { error: String((err as Error)?.message ?? err) });
    });
    return client;
  }

  /**
   * SELECTs the mailbox on a connected imapflow client and hands its socket to a new ImapWire.
   * The client is spent afterwards (imapflow marks it unusable and detaches its handlers).
   */
  private async select(client: ImapFlow): Promise<OpenedSession> {
    let mb;
    try {
      mb = await client.mailboxOpen(this.cfg.mailbox);
    } catch (err) {
      const e = err as { serverResponseCode?: string; responseText?: string };
      if (e.serverResponseCode === 'NONEXISTENT' || /doesn't exist|does not exist|unknown mailbox|not found/i.test(e.responseText ?? '')) {
        throw new MailsluiceError('SOURCE_MAILBOX_NOT_FOUND', `mailbox ${JSON.stringify(this.cfg.mailbox)} does not exist on ${this.where}`, { cause: err });
      }
      throw this.wrap(err);
    }
    const { readSocket, writeSocket } = client.unbind();
    const { limitMs, warnEveryMs } = this.silence;
    const wire = new ImapWire(
      readSocket,
      {
        dataTimeoutMs: this.cfg.dataTimeoutMs,
        where: this.where,
        silenceLimitMs: limitMs,
        warnEveryMs,
        onSilence: (ms, command) => {
          const verb = /^(UID \S+|\S+)/.exec(command)?.[1] ?? command;
          this.logger.warn(`no data from the server for ${Math.round(ms / 1000)} s during ${verb}`, { command: verb, silentMs: ms, limitMs: this.cfg.dataTimeoutMs || limitMs });
        },
      },
      writeSocket,
    );
    return { wire, uidValidity: Number(mb.uidValidity), exists: mb.exists, permanentFlags: mb.permanentFlags };
  }

  /** Connects and authenticates without opening the mailbox (used by test-connection). */
  async connect(): Promise<void> {
    const client = this.newClient();
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
  }

  async open(): Promise<SourceSession> {
    if (!this.client) await this.connect();
    const client = this.client!;
    let opened: OpenedSession;
    try {
      opened = await this.select(client);
    } catch (err) {
      client.close();
      throw err;
    } finally {
      this.client = null;
    }
    this.main = opened;
    opened.wire.onExists = () => this.signal();
    opened.wire.onClose = () => {
      this.closed = true;
      this.signal();
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
    if (this.cfg.deletePolicy === 'delete-and-expunge' && !this.hasCap('UIDPLUS')) {
      this.logger.warn('server lacks UIDPLUS: messages are flagged \\Deleted but never expunged, because a plain EXPUNGE could remove messages mailsluice did not archive');
      this.warnedNoUidplus = true;
    }
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
      const client = this.newClient();
      let opened: OpenedSession;
      try {
        await client.connect();
        opened = await this.select(client);
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
      this.lastFoundAt = Date.now();
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
    if (candidates.length === 0) return [];
    const sets = toSequenceSets(candidates.map((c) => c.uid!));
    try {
      switch (this.cfg.deletePolicy) {
        case 'leave':
          return candidates;
        case 'mark-seen':
          await this.onAction(sets.map((set) => `UID STORE ${set} +FLAGS.SILENT (\\Seen)`));
          return candidates;
        case 'delete':
          await this.onAction(sets.map((set) => `UID STORE ${set} +FLAGS.SILENT (\\Deleted)`));
          return candidates;
        case 'move': {
          for (const set of sets) {
            const refused = await this.moveUids(set, this.cfg.moveTo!);
            if (refused !== null) throw new MailsluiceError('SOURCE_PROTOCOL', `moving messages to ${JSON.stringify(this.cfg.moveTo)} failed on ${this.ctx.host}: ${refused}`);
          }
          return candidates;
        }
        case 'delete-and-expunge': {
          if (!this.hasCap('UIDPLUS')) {
            await this.onAction(sets.map((set) => `UID STORE ${set} +FLAGS.SILENT (\\Deleted)`));
            if (!this.warnedNoUidplus) this.logger.warn('server lacks UIDPLUS: flagged \\Deleted only');
            this.warnedNoUidplus = true;
            return candidates;
          }
          this.pendingExpunge.push(...candidates);
          const n = this.cfg.expungeEvery;
          if (n === 0) return []; // expunged at the end of the cycle (flush)
          const done: Candidate[] = [];
          while (this.pendingExpunge.length >= n) done.push(...(await this.expunge(this.pendingExpunge.splice(0, n))));
          // What stays pending is flagged now, so the count "flagged deleted" is what N bounds.
          if (this.pendingExpunge.length) await this.onAction(toSequenceSets(this.pendingExpunge.map((c) => c.uid!)).map((set) => `UID STORE ${set} +FLAGS.SILENT (\\Deleted)`));
          return done;
        }
      }
    } catch (err) {
      throw this.wrap(err);
    }
  }

  /**
   * Moves messages to `folder`: `UID MOVE`; without MOVE, `UID COPY`, flag `\Deleted` and
   * `UID EXPUNGE` (under UIDPLUS); without either, COPY and flag `\Deleted` only, since a plain
   * EXPUNGE would remove others' mail. Returns null when done, else the server's reason (nothing
   * was removed from this mailbox then).
   */
  private async moveUids(set: string, folder: string): Promise<string | null> {
    const target = quoteMailbox(folder);
    const verb = this.hasCap('MOVE') ? 'MOVE' : 'COPY';
    try {
      await this.onAction([`UID ${verb} ${set} ${target}`]);
      if (verb === 'MOVE') return null;
    } catch (err) {
      if (err instanceof ImapCommandError) return refusal(err, `UID ${verb} to ${JSON.stringify(folder)}`, this.ctx.host);
      throw err;
    }
    if (this.hasCap('UIDPLUS')) {
      await this.onAction([`UID STORE ${set} +FLAGS.SILENT (\\Deleted)`, `UID EXPUNGE ${set}`]);
    } else {
      await this.onAction([`UID STORE ${set} +FLAGS.SILENT (\\Deleted)`]);
      this.logger.warn('server has neither MOVE nor UIDPLUS: messages copied and flagged \\Deleted, not expunged');
    }
    return null;
  }

  /**
   * Applies scenario responses on the action session. One `UID FETCH (FLAGS)` finds which
   * messages are still here; then one `UID STORE +FLAGS.SILENT` per distinct set of flags, and
   * one move per folder (after the flags, so a moved message carries them). A message the
   * connection's delete policy flagged `\Deleted` has that flag taken off just before its move,
   * so it does not arrive in the folder marked for removal (put back if the move is refused).
   * Flags the mailbox does not accept (PERMANENTFLAGS) fail rather than being dropped silently.
   */
  async applyResponses(requests: ResponseRequest[]): Promise<ResponseOutcome[]> {
    if (requests.length === 0) return [];
    const failures = new Map<string, string[]>();
    const fail = (ids: readonly string[], reason: string): void => {
      for (const id of ids) failures.set(id, [...(failures.get(id) ?? []), reason]);
    };
    const notApplicable = new Map<string, string>();
    const mailbox = JSON.stringify(this.cfg.mailbox);
    try {
      const a = await this.act();
      const uids = [...new Set(requests.map((r) => r.uid))];
      const [, fetched] = await a.wire.sequence(['NOOP', `UID FETCH ${toSequenceSet(uids)} (UID FLAGS)`]);
      const flagsOf = fetched!.flags ?? new Map<number, string[]>();
      const present = requests.filter((r) => {
        if (flagsOf.has(r.uid)) return true;
        notApplicable.set(r.id, `UID ${r.uid} is no longer in ${mailbox}`);
        return false;
      });

      // Flags, grouped by identical (normalised) sets.
      const permanent = a.permanentFlags;
      // \Recent belongs to the server (RFC 3501): no client can set it, whatever PERMANENTFLAGS say.
      const accepted = (flag: string): boolean =>
        flag.toLowerCase() !== '\\recent' && (!permanent || permanent.has('\\*') || [...permanent].some((p) => p.toLowerCase() === flag.toLowerCase()));
      const flagGroups = new Map<string, { flags: string[]; requests: ResponseRequest[] }>();
      for (const r of present) {
        const flags = [...new Set(r.response.addFlags ?? [])].sort();
        if (flags.length === 0) continue;
        const key = JSON.stringify(flags);
        const g = flagGroups.get(key) ?? { flags, requests: [] };
        g.requests.push(r);
        flagGroups.set(key, g);
      }
      for (const g of flagGroups.values()) {
        const ids = g.requests.map((r) => r.id);
        const refusedFlags = g.flags.filter((f) => !accepted(f));
        if (refusedFlags.length > 0) {
          fail(ids, `${mailbox} does not accept the flag${refusedFlags.length === 1 ? '' : 's'} ${refusedFlags.join(' ')} (not in its PERMANENTFLAGS, or \\Recent, which only the server sets)`);
          continue;
        }
        try {
          await a.wire.run(`UID STORE ${toSequenceSet([...new Set(g.requests.map((r) => r.uid))])} +FLAGS.SILENT ${flagList(g.flags)}`);
        } catch (err) {
          if (!(err instanceof ImapCommandError)) throw err;
          fail(ids, refusal(err, `UID STORE +FLAGS ${flagList(g.flags)}`, this.ctx.host));
        }
      }

      // Moves, grouped by folder, in the order of their first request; a message moved by one
      // is gone for the next.
      const moved = new Map<number, string>();
      const moveGroups = new Map<string, ResponseRequest[]>();
      for (const r of present) {
        if (r.response.moveTo === undefined) continue;
        moveGroups.set(r.response.moveTo, [...(moveGroups.get(r.response.moveTo) ?? []), r]);
      }
      for (const [folder, group] of moveGroups) {
        const here = group.filter((r) => {
          const to = moved.get(r.uid);
          if (to === undefined) return true;
          notApplicable.set(r.id, `UID ${r.uid} was moved to ${JSON.stringify(to)} by another response`);
          return false;
        });
        if (here.length === 0) continue;
        const set = toSequenceSet([...new Set(here.map((r) => r.uid))]);
        const keepsDeleted = (r: ResponseRequest): boolean => (r.response.addFlags ?? []).some((f) => f.toLowerCase() === '\\deleted');
        const unflag = [...new Set(here.filter((r) => !keepsDeleted(r) && flagsOf.get(r.uid)!.some((f) => f.toLowerCase() === '\\deleted')).map((r) => r.uid))];
        if (unflag.length > 0) await a.wire.run(`UID STORE ${toSequenceSet(unflag)} -FLAGS.SILENT (\\Deleted)`);
        const refused = await this.moveUids(set, folder);
        if (refused === null) {
          for (const r of here) moved.set(r.uid, folder);
          continue;
        }
        fail(
          here.map((r) => r.id),
          refused,
        );
        if (unflag.length > 0) await a.wire.run(`UID STORE ${toSequenceSet(unflag)} +FLAGS.SILENT (\\Deleted)`);
      }
    } catch (err) {
      throw this.wrap(err);
    }
    return requests.map((r): ResponseOutcome => {
      const na = notApplicable.get(r.id);
      if (na !== undefined) return { id: r.id, outcome: 'not-applicable', reason: na };
      const f = failures.get(r.id);
      if (f !== undefined) return { id: r.id, outcome: 'failed', reason: f.join('; ') };
      return { id: r.id, outcome: 'applied' };
    });
  }

  /** Flags and UID EXPUNGEs exactly these messages (UIDPLUS), never a plain EXPUNGE. */
  private async expunge(cands: Candidate[]): Promise<Candidate[]> {
    if (cands.length === 0) return [];
    await this.onAction(toSequenceSets(cands.map((c) => c.uid!)).flatMap((set) => [`UID STORE ${set} +FLAGS.SILENT (\\Deleted)`, `UID EXPUNGE ${set}`]));
    return cands;
  }

  async flush(): Promise<Candidate[]> {
    const pending = this.pendingExpunge;
    if (pending.length === 0) return [];
    this.pendingExpunge = [];
    try {
      return await this.expunge(pending);
    } catch (err) {
      this.pendingExpunge = pending;
      throw this.wrap(err);
    }
  }

  /**
   * Flags messages that could not be archived `\Seen` (`UID STORE +FLAGS.SILENT (\Seen)` on the
   * action session), so the `unseenOnly` listing skips them from now on. A refused STORE is an
   * error: a message left unflagged would be offered again.
   */
  async markFailed(candidates: Candidate[]): Promise<void> {
    if (candidates.length === 0) return;
    try {
      await this.onAction(toSequenceSets(candidates.map((c) => c.uid!)).map((set) => `UID STORE ${set} +FLAGS.SILENT (\\Seen)`));
    } catch (err) {
      if (err instanceof ImapCommandError) {
        throw new MailsluiceError('SOURCE_PROTOCOL', `flagging ${candidates.length} message${candidates.length === 1 ? '' : 's'} \\Seen failed on ${this.where}: ${err.responseText}`, { cause: err });
      }
      throw this.wrap(err);
    }
  }

  private signal(): void {
    this.changed = true;
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /**
   * Waits for new mail: with `idle` (and the server's IDLE), in IDLE, re-armed every
   * {@link IMAP_TUNING.idleRearmMs} and never longer than the safety poll, because servers are
   * known to stop notifying silently; otherwise (or if IDLE is refused) for `ms`. Right after a
   * listing found mail, `idle` polls briefly instead ({@link IMAP_TUNING.idleLingerMs}).
   */
  async waitForChange(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.cfg.idle && Date.now() - this.lastFoundAt < IMAP_TUNING.idleLingerMs) {
      await this.sleep(Math.min(ms, IMAP_TUNING.lingerPollMs), signal);
      this.changed = false;
      return;
    }
    // With IDLE the safety poll bounds the wait; a server without IDLE is polled as if idle were
    // off (the runner asks for "until a change" when idle is on).
    const wait = this.cfg.idle ? Math.min(ms, this.hasCap('IDLE') ? this.cfg.idleSafetyPollMs : this.cfg.pollIntervalMs) : ms;
    const until = Date.now() + wait;
    while (!this.changed && !this.closed && !signal?.aborted) {
      const left = until - Date.now();
      if (left <= 0) break;
      let idling: { stop: () => Promise<void> } | null = null;
      if (this.cfg.idle && this.hasCap('IDLE') && this.main?.wire.usable) {
        try {
          idling = await this.main.wire.idle();
        } catch (err) {
          // Refused or the session broke: sleep instead; the next command reports a broken session.
          this.logger.debug('IDLE failed; polling instead', { error: String((err as Error)?.message ?? err) });
        }
      }
      await this.sleep(idling ? Math.min(left, IMAP_TUNING.idleRearmMs) : left, signal);
      if (idling) await idling.stop().catch(() => undefined);
    }
    this.changed = false;
  }

  /** Sleeps `ms`, cut short by new mail, a closed session or `signal`. */
  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.changed || this.closed || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
      signal?.addEventListener('abort', done, { once: true });
    });
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

/** A refused command's reason, as a sentence; `what` names the command as the operator knows it. */
function refusal(err: ImapCommandError, what: string, host: string): string {
  const code = err.serverResponseCode ? ` [${err.serverResponseCode}]` : '';
  return `${what} was refused by ${host}: ${err.responseStatus}${code} ${err.responseText}`.trimEnd();
}

/** Creates an IMAP source for one connection. */
export function createImapSource(cfg: ImapSourceConfig, logger: Logger, runtime?: SourceRuntime): ImapSource {
  return new ImapSource(cfg, logger, runtime);
}
