import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import type { Candidate, FetchedMessage, MailboxSource, ResponseOutcome, ResponseRequest, SourceSession } from '../../core/ports/mailbox-source.js';
import type { Logger } from '../../core/ports/logger.js';
import { MailsluiceError } from '../../core/errors/index.js';
import { IMAP_TUNING, type ImapSourceConfig } from './imap-source-config.js';
import { mapImapError } from './imap-error-map.js';

/** Compresses sorted UIDs into an IMAP sequence set ("1:5,7,9:12"). */
export function toSequenceSet(uids: readonly number[]): string {
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
  return parts.join(',');
}

/**
 * A candidate the listing found over the chunking threshold (or partialFetch is on): `large`;
 * or between the medium and the chunking threshold: `medium` (bulk, in smaller groups).
 */
type LargeCandidate = Candidate & { large?: boolean; medium?: boolean };

/**
 * UID-addressed STOREs with .SILENT: the server then sends no FETCH FLAGS line per message,
 * which imapflow would otherwise parse (a measurable share of the drain's CPU).
 */
const SILENT = { uid: true, silent: true } as { uid: true };

async function* single(buf: Uint8Array): AsyncIterable<Uint8Array> {
  yield buf;
}

/** Builds imapflow's options from the connection settings. */
export function imapFlowOptions(cfg: ImapSourceConfig): ImapFlowOptions {
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
    socketTimeout: cfg.dataTimeoutMs || IMAP_TUNING.noTimeoutMs,
    disableAutoIdle: !cfg.idle,
    maxIdleTime: IMAP_TUNING.idleRearmMs,
    autoIdleDelay: IMAP_TUNING.autoIdleDelayMs,
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

/**
 * The IMAP mailbox source on imapflow. A fresh instance per connect: imapflow cannot reconnect a
 * closed client (ARCHITECTURE "Known sharp edges"), so the supervisor builds a new one.
 */
export class ImapSource implements MailboxSource {
  /** Server actions run on a second session, so the server's expunge work overlaps the next fetch. */
  readonly concurrentActions = true;
  private client: ImapFlow | null = null;
  /** The second session (same mailbox) that runs STORE / UID EXPUNGE / MOVE. */
  private actionClient: ImapFlow | null = null;
  private actionClientOpening: Promise<ImapFlow> | null = null;
  private session: SourceSession | null = null;
  private readonly ctx: { host: string; port: number; mailbox: string; username?: string };
  /** Flagged \Deleted, waiting for UID EXPUNGE (expungeEvery). */
  private pendingExpunge: Candidate[] = [];
  private warnedNoUidplus = false;
  private changed = false;
  private closed = false;
  private wake: (() => void) | null = null;
  /** The last error imapflow emitted (e.g. its socket timeout), to name the cause of a closed connection. */
  private lastClientError: unknown;
  /**
   * The last command the action session's server refused (NO/BAD): imapflow answers a refused
   * STORE/COPY/MOVE with `false` and logs the reason, so the logger below keeps it to name it.
   */
  private lastRefusal: { responseStatus?: string; responseText?: string; serverResponseCode?: string } | undefined;

  constructor(
    private readonly cfg: ImapSourceConfig,
    private readonly logger: Logger,
  ) {
    this.ctx = {
      host: cfg.host,
      port: cfg.security === 'tls' ? cfg.tlsPort : cfg.port,
      mailbox: cfg.mailbox,
      ...(cfg.auth.username !== undefined ? { username: cfg.auth.username } : {}),
    };
  }

  /** The underlying client, for the step-by-step connection test. */
  get imapClient(): ImapFlow | null {
    return this.client;
  }

  private get c(): ImapFlow {
    if (!this.client || this.closed) throw new MailsluiceError('SOURCE_NETWORK', `connection to ${this.ctx.host}:${this.ctx.port} is not open`);
    return this.client;
  }

  /** The action session, opened on first use with the same settings and mailbox. */
  private async act(): Promise<ImapFlow> {
    if (this.actionClient?.usable) {
      // A session acts only on the messages in its own view, and a message that arrived since
      // its last command is not in it yet: without this NOOP, STORE/UID EXPUNGE of such a UID
      // would answer OK and do nothing.
      await this.actionClient.noop();
      return this.actionClient;
    }
    this.actionClientOpening ??= (async () => {
      // Only warn/error/fatal reach this logger (imapflow skips levels without a method): a refused
      // command is logged at warn with its error, whose server text names why.
      const keepRefusal = (entry: unknown): void => {
        const err = (entry as { err?: { responseStatus?: string } } | null)?.err;
        if (err && (err.responseStatus === 'NO' || err.responseStatus === 'BAD')) this.lastRefusal = err;
      };
      const client = new ImapFlow({ ...imapFlowOptions(this.cfg), disableAutoIdle: true, logger: { warn: keepRefusal, error: keepRefusal, fatal: keepRefusal } as unknown as ImapFlowOptions['logger'] });
      client.on('error', (err: unknown) => {
        this.lastClientError = err;
        this.logger.debug('imap action client error', { error: String((err as Error)?.message ?? err) });
      });
      try {
        await client.connect();
        const mb = await client.mailboxOpen(this.cfg.mailbox);
        // UIDs are only meaningful under the UIDVALIDITY the candidates were listed with.
        if (this.session && Number(mb.uidValidity) !== this.session.uidValidity) {
          throw new MailsluiceError('SOURCE_PROTOCOL', `UIDVALIDITY of ${JSON.stringify(this.cfg.mailbox)} changed during the session; server actions postponed to the next session`);
        }
      } catch (err) {
        client.close();
        throw err;
      }
      this.actionClient = client;
      return client;
    })().finally(() => {
      this.actionClientOpening = null;
    });
    return this.actionClientOpening;
  }

  private wrap(err: unknown): MailsluiceError {
    // imapflow reports a socket timeout (or TLS/socket error) through its 'error' event and then
    // fails the running command with a generic "Connection not available"; name the real cause
    // (e.g. SOURCE_DATA_TIMEOUT) instead of a bare SOURCE_NETWORK.
    const code = (err as { code?: string } | null)?.code;
    if (this.lastClientError !== undefined && (code === 'NoConnection' || code === 'EConnectionClosed')) {
      return mapImapError(this.lastClientError, this.ctx);
    }
    return mapImapError(err, this.ctx);
  }

  private hasCap(name: string): boolean {
    return this.client?.capabilities.has(name) ?? false;
  }

  /** Connects and authenticates without opening the mailbox (used by test-connection). */
  async connect(): Promise<void> {
    const client = new ImapFlow(imapFlowOptions(this.cfg));
    this.client = client;
    // An 'error' without a listener would crash the process; the next command reports it instead.
    client.on('error', (err: unknown) => {
      this.lastClientError = err;
      this.logger.debug('imap client error', { error: String((err as Error)?.message ?? err) });
    });
    client.on('exists', () => this.signal());
    client.on('close', () => {
      this.closed = true;
      this.signal();
    });
    try {
      await client.connect();
    } catch (err) {
      throw this.wrap(err);
    }
  }

  async open(): Promise<SourceSession> {
    if (!this.client) await this.connect();
    let mb;
    try {
      mb = await this.c.mailboxOpen(this.cfg.mailbox);
    } catch (err) {
      const e = err as { serverResponseCode?: string; responseText?: string };
      if (e.serverResponseCode === 'NONEXISTENT' || /doesn't exist|does not exist|unknown mailbox|not found/i.test(e.responseText ?? '')) {
        throw new MailsluiceError('SOURCE_MAILBOX_NOT_FOUND', `mailbox ${JSON.stringify(this.cfg.mailbox)} does not exist on ${this.ctx.host}:${this.ctx.port}`, { cause: err });
      }
      throw this.wrap(err);
    }
    this.session = {
      mailbox: this.cfg.mailbox,
      uidValidity: Number(mb.uidValidity),
      exists: mb.exists,
      capabilities: [...this.c.capabilities.keys()].map((k) => k.toUpperCase()),
    };
    if (this.cfg.deletePolicy === 'delete-and-expunge' && !this.hasCap('UIDPLUS')) {
      this.logger.warn('server lacks UIDPLUS: messages are flagged \\Deleted but never expunged, because a plain EXPUNGE could remove messages mailsluice did not archive');
      this.warnedNoUidplus = true;
    }
    return this.session;
  }

  private key(uid: number): string {
    return `imap:${this.cfg.mailbox}:${this.session?.uidValidity ?? 0}:${uid}`;
  }

  async listCandidates(limit: number, after?: { uidValidity: number; lastUid: number }): Promise<Candidate[]> {
    const lastUid = after && after.uidValidity === this.session?.uidValidity ? after.lastUid : 0;
    const query: Record<string, unknown> = { uid: `${lastUid + 1}:*`, deleted: false };
    if (this.cfg.unseenOnly) query.seen = false;
    let uids: number[];
    const large = new Set<number>();
    const medium = new Set<number>();
    try {
      // A session searches its own view of the mailbox; NOOP brings in what arrived since the
      // last command, so a cycle sees the mailbox as it is now.
      await this.c.noop();
      const found = await this.c.search(query, { uid: true });
      // "n:*" always includes the highest UID, even one below n (RFC 3501), hence the filter.
      uids = (found || []).filter((u) => u > lastUid).sort((a, b) => a - b).slice(0, limit);
      if (uids.length > 0 && !this.cfg.partialFetch) {
        const over = await this.c.search({ uid: toSequenceSet(uids), larger: IMAP_TUNING.mediumAboveBytes }, { uid: true });
        if (over && over.length > 0) {
          const big = await this.c.search({ uid: toSequenceSet(over), larger: IMAP_TUNING.chunkedAboveBytes }, { uid: true });
          for (const u of big || []) large.add(u);
          for (const u of over) if (!large.has(u)) medium.add(u);
        }
      }
    } catch (err) {
      throw this.wrap(err);
    }
    // Sizes are not asked for: the chunked/bulk choice only needs "large or not", and the stored
    // size is measured from the bytes themselves.
    return uids.map((uid) => ({
      key: this.key(uid),
      uid,
      size: 0,
      ...(large.has(uid) || this.cfg.partialFetch ? { large: true } : medium.has(uid) ? { medium: true } : {}),
    }));
  }

  async *fetch(candidates: Candidate[]): AsyncIterable<FetchedMessage> {
    const bulk = candidates.filter((c) => !(c as LargeCandidate).large && !(c as LargeCandidate).medium);
    const medium = candidates.filter((c) => (c as LargeCandidate).medium && !(c as LargeCandidate).large);
    const large = candidates.filter((c) => (c as LargeCandidate).large);
    yield* this.bulkFetch(bulk, IMAP_TUNING.bulkFetchMessages);
    yield* this.bulkFetch(medium, IMAP_TUNING.mediumFetchMessages);
    for (const c of large) {
      let dl;
      try {
        dl = await this.c.download(String(c.uid), undefined, { uid: true, chunkSize: IMAP_TUNING.chunkBytes });
      } catch (err) {
        throw this.wrap(err);
      }
      if (!dl || !dl.content) continue; // vanished
      yield { candidate: c, body: this.guard(dl.content as AsyncIterable<Uint8Array>), buffered: false };
    }
  }

  /** Whole messages in `UID FETCH BODY.PEEK[]` commands of at most `per` messages each. */
  private async *bulkFetch(cands: Candidate[], per: number): AsyncIterable<FetchedMessage> {
    for (let i = 0; i < cands.length; i += per) {
      const g = cands.slice(i, i + per);
      const byUid = new Map(g.map((c) => [c.uid!, c]));
      try {
        for await (const m of this.c.fetch(toSequenceSet([...byUid.keys()]), { uid: true, source: true }, { uid: true })) {
          const cand = byUid.get(m.uid);
          if (!cand || !m.source) continue;
          yield { candidate: cand, body: single(m.source), buffered: true, bytes: m.source.length };
        }
      } catch (err) {
        throw this.wrap(err);
      }
    }
  }

  private async *guard(stream: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    try {
      for await (const chunk of stream) yield chunk;
    } catch (err) {
      throw this.wrap(err);
    }
  }

  async applyServerAction(candidates: Candidate[]): Promise<Candidate[]> {
    if (candidates.length === 0) return [];
    const set = toSequenceSet(candidates.map((c) => c.uid!));
    try {
      if (this.cfg.deletePolicy === 'leave') return candidates;
      const a = await this.act();
      switch (this.cfg.deletePolicy) {
        case 'mark-seen':
          await a.messageFlagsAdd(set, ['\\Seen'], SILENT);
          return candidates;
        case 'delete':
          await a.messageFlagsAdd(set, ['\\Deleted'], SILENT);
          return candidates;
        case 'move': {
          const refused = await this.moveUids(a, set, this.cfg.moveTo!);
          if (refused !== null) throw new MailsluiceError('SOURCE_PROTOCOL', `moving messages to ${JSON.stringify(this.cfg.moveTo)} failed on ${this.ctx.host}: ${refused}`);
          return candidates;
        }
        case 'delete-and-expunge': {
          if (!this.hasCap('UIDPLUS')) {
            await a.messageFlagsAdd(set, ['\\Deleted'], SILENT);
            if (!this.warnedNoUidplus) this.logger.warn('server lacks UIDPLUS: flagged \\Deleted only');
            this.warnedNoUidplus = true;
            return candidates;
          }
          this.pendingExpunge.push(...candidates);
          const n = this.cfg.expungeEvery;
          if (n === 0) return []; // expunged at the end of the cycle (flush)
          const done: Candidate[] = [];
          while (this.pendingExpunge.length >= n) done.push(...(await this.expunge(a, this.pendingExpunge.splice(0, n))));
          // What stays pending is flagged now, so the count "flagged deleted" is what N bounds.
          if (this.pendingExpunge.length) await a.messageFlagsAdd(toSequenceSet(this.pendingExpunge.map((c) => c.uid!)), ['\\Deleted'], SILENT);
          return done;
        }
      }
    } catch (err) {
      throw this.wrap(err);
    }
  }

  /**
   * Moves messages to `folder`: `UID MOVE`; without MOVE, imapflow's COPY, flag `\Deleted` and
   * `UID EXPUNGE` (under UIDPLUS); without either, COPY and flag `\Deleted` only, since the
   * fallback would end in a plain EXPUNGE that removes others' mail. Returns null when done, else
   * the server's reason (nothing was removed from this mailbox then).
   */
  private async moveUids(a: ImapFlow, set: string, folder: string): Promise<string | null> {
    this.lastRefusal = undefined;
    if (!this.hasCap('MOVE') && !this.hasCap('UIDPLUS')) {
      if (!(await a.messageCopy(set, folder, { uid: true }))) return this.refusal(`UID COPY to ${JSON.stringify(folder)}`);
      await a.messageFlagsAdd(set, ['\\Deleted'], SILENT);
      this.logger.warn('server has neither MOVE nor UIDPLUS: messages copied and flagged \\Deleted, not expunged');
      return null;
    }
    if (!(await a.messageMove(set, folder, { uid: true }))) return this.refusal(`UID MOVE to ${JSON.stringify(folder)}`);
    return null;
  }

  /** The reason of the last refused command, as a sentence. */
  private refusal(command: string): string {
    const r = this.lastRefusal;
    this.lastRefusal = undefined;
    if (!r) return `${command} was refused by ${this.ctx.host}`;
    const code = r.serverResponseCode ? ` [${r.serverResponseCode}]` : '';
    return `${command} was refused by ${this.ctx.host}: ${r.responseStatus ?? 'NO'}${code} ${r.responseText ?? ''}`.trimEnd();
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
      const flagsOf = new Map<number, Set<string>>();
      const uids = [...new Set(requests.map((r) => r.uid))];
      for (const m of await a.fetchAll(toSequenceSet(uids), { uid: true, flags: true }, { uid: true })) flagsOf.set(m.uid, m.flags ?? new Set<string>());
      const present = requests.filter((r) => {
        if (flagsOf.has(r.uid)) return true;
        notApplicable.set(r.id, `UID ${r.uid} is no longer in ${mailbox}`);
        return false;
      });

      // Flags, grouped by identical (normalised) sets.
      const permanent = a.mailbox && typeof a.mailbox === 'object' ? a.mailbox.permanentFlags : undefined;
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
        this.lastRefusal = undefined;
        if (!(await a.messageFlagsAdd(toSequenceSet([...new Set(g.requests.map((r) => r.uid))]), g.flags, SILENT))) {
          fail(ids, this.refusal(`UID STORE +FLAGS (${g.flags.join(' ')})`));
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
        const unflag = [...new Set(here.filter((r) => !keepsDeleted(r) && [...flagsOf.get(r.uid)!].some((f) => f.toLowerCase() === '\\deleted')).map((r) => r.uid))];
        if (unflag.length > 0) await a.messageFlagsRemove(toSequenceSet(unflag), ['\\Deleted'], SILENT);
        const refused = await this.moveUids(a, set, folder);
        if (refused === null) {
          for (const r of here) moved.set(r.uid, folder);
          continue;
        }
        fail(
          here.map((r) => r.id),
          refused,
        );
        if (unflag.length > 0) await a.messageFlagsAdd(toSequenceSet(unflag), ['\\Deleted'], SILENT);
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
  private async expunge(a: ImapFlow, cands: Candidate[]): Promise<Candidate[]> {
    if (cands.length === 0) return [];
    const ok = await a.messageDelete(toSequenceSet(cands.map((c) => c.uid!)), SILENT);
    if (!ok) throw new MailsluiceError('SOURCE_PROTOCOL', `UID EXPUNGE failed on ${this.ctx.host}:${this.ctx.port}`);
    return cands;
  }

  async flush(): Promise<Candidate[]> {
    const pending = this.pendingExpunge;
    if (pending.length === 0) return [];
    this.pendingExpunge = [];
    try {
      return await this.expunge(await this.act(), pending);
    } catch (err) {
      this.pendingExpunge = pending;
      throw this.wrap(err);
    }
  }

  /**
   * Flags messages that could not be archived `\Seen` (`UID STORE +FLAGS.SILENT (\Seen)` on the
   * action session), so the `unseenOnly` listing skips them from now on. imapflow answers a
   * refused or failed STORE with `false`, not an error: that is turned into one here, since a
   * message left unflagged would be offered again.
   */
  async markFailed(candidates: Candidate[]): Promise<void> {
    if (candidates.length === 0) return;
    let ok: boolean;
    try {
      ok = await (await this.act()).messageFlagsAdd(toSequenceSet(candidates.map((c) => c.uid!)), ['\\Seen'], SILENT);
    } catch (err) {
      throw this.wrap(err);
    }
    if (!ok) throw new MailsluiceError('SOURCE_PROTOCOL', `flagging ${candidates.length} message${candidates.length === 1 ? '' : 's'} \\Seen failed on ${this.ctx.host}:${this.ctx.port}`);
  }

  private signal(): void {
    this.changed = true;
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  async waitForChange(ms: number, signal?: AbortSignal): Promise<void> {
    // The safety poll: a server that stops notifying never stalls archiving for longer than this.
    const wait = this.cfg.idle ? Math.min(ms, this.cfg.idleSafetyPollMs) : ms;
    if (this.changed || this.closed || signal?.aborted) {
      this.changed = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, wait);
      this.wake = done;
      signal?.addEventListener('abort', done, { once: true });
    });
    this.changed = false;
  }

  async close(): Promise<void> {
    const action = this.actionClient;
    this.actionClient = null;
    if (action) {
      const t = setTimeout(() => action.close(), 5000);
      await action.logout().catch(() => undefined);
      clearTimeout(t);
      action.close();
    }
    const client = this.client;
    if (!client) return;
    this.client = null;
    if (!this.closed) {
      this.closed = true;
      const timer = setTimeout(() => client.close(), IMAP_TUNING.logoutTimeoutMs);
      try {
        await client.logout();
      } catch {
        // already gone: nothing to tell the server
      } finally {
        clearTimeout(timer);
      }
    }
    client.close();
  }
}

/** Creates an IMAP source for one connection. */
export function createImapSource(cfg: ImapSourceConfig, logger: Logger): ImapSource {
  return new ImapSource(cfg, logger);
}
