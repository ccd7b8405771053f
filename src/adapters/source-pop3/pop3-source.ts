import type { Candidate, FetchedMessage, MailboxSource, SourceRuntime, SourceSession } from '../../core/ports/mailbox-source.js';
import type { Logger } from '../../core/ports/logger.js';
import { MailsluiceError } from '../../core/errors/index.js';
import { Pop3Client } from './pop3-client.js';
import { POP3_TUNING, pop3ClientOptions, type Pop3SourceConfig } from './pop3-source-config.js';
import { pause } from '../timer-node/pause.js';

/** One message of the current session's listing. */
interface Listed {
  msgno: number;
  uidl: string;
  size: number;
}

async function* single(buf: Uint8Array): AsyncIterable<Uint8Array> {
  yield buf;
}

/**
 * The POP3 mailbox source. POP3 differs from IMAP in ways the drain must respect:
 * - a session sees the maildrop as it was at login, so every listing after the first of a
 *   session starts a new session;
 * - DELE only marks; the server removes the messages at QUIT, and a session that ends any other
 *   way (crash, cut) removes nothing. So a deletion is "done" only after QUIT's +OK, and
 *   `expungeEvery: N` means "QUIT after N deletions and log in again".
 * Keys are `pop3:<UIDL>`; UIDL is required, because message numbers change between sessions.
 */
export class Pop3Source implements MailboxSource {
  /** POP3 is one command at a time on one session: actions cannot overlap the next fetch. */
  readonly concurrentActions = false;
  /** Whether the last session ran over TLS (known after it logged in). */
  tlsInUse: boolean | undefined;
  /** When the server's certificate expires (known after a TLS login). */
  certificateExpiresAt: number | undefined;
  private client: Pop3Client | null = null;
  /** The session's listing, by UIDL, as of its login. */
  private byUidl = new Map<string, Listed>();
  /** Whether the current session's snapshot was handed out already (then the next listing logs in anew). */
  private listedThisSession = false;
  /** DELE'd in this session: removed by the server at QUIT, restored if the session dies first. */
  private deleted: Candidate[] = [];
  private closed = false;
  private readonly where: string;

  constructor(
    private readonly cfg: Pop3SourceConfig,
    private readonly logger: Logger,
    private readonly runtime: SourceRuntime = {},
  ) {
    this.where = `${cfg.host}:${cfg.security === 'tls' ? cfg.tlsPort : cfg.port}`;
  }

  private async connect(signal?: AbortSignal): Promise<Pop3Client> {
    const { limitMs, warnEveryMs } = this.runtime.silence ?? { limitMs: POP3_TUNING.silenceLimitMs, warnEveryMs: POP3_TUNING.silenceWarnEveryMs };
    const silence = {
      limitMs,
      warnEveryMs,
      onSilence: (ms: number, what: string) =>
        this.logger.warn(`no data from the server for ${Math.round(ms / 1000)} s while waiting for ${what}`, { waitingFor: what, silentMs: ms, limitMs: this.cfg.dataTimeoutMs || limitMs }),
    };
    const client = await Pop3Client.connect({ ...pop3ClientOptions(this.cfg, this.runtime.accessTokens), silence }, signal);
    this.tlsInUse = client.tlsActive;
    this.certificateExpiresAt = client.certificateExpiresAt;
    try {
      const [ids, sizes] = [await client.uidl(), await client.list()];
      const size = new Map(sizes.map((s) => [s.msgno, s.size]));
      this.byUidl = new Map();
      for (const { msgno, uidl } of ids) {
        if (this.byUidl.has(uidl)) {
          // Two messages under one UIDL would share one archive key: the second would be taken
          // for the first and deleted unarchived. Refuse rather than risk it.
          throw new MailsluiceError('SOURCE_PROTOCOL', `POP3 server ${this.where} lists UIDL ${JSON.stringify(uidl)} for two messages; unique ids are required to drain safely`);
        }
        this.byUidl.set(uidl, { msgno, uidl, size: size.get(msgno) ?? 0 });
      }
    } catch (err) {
      client.close();
      throw err;
    }
    this.client = client;
    this.listedThisSession = false;
    this.deleted = [];
    return client;
  }

  /** The open session, logging in again when the last one ended (QUIT) or went idle. */
  private async session(): Promise<Pop3Client> {
    if (this.closed) throw new MailsluiceError('SOURCE_NETWORK', `connection to ${this.where} is closed`);
    return this.client ?? (await this.connect());
  }

  async open(signal?: AbortSignal): Promise<SourceSession> {
    const client = await this.connect(signal);
    return { mailbox: '', uidValidity: 0, exists: this.byUidl.size, capabilities: client.capabilities };
  }

  async listCandidates(limit: number, _after?: { uidValidity: number; lastUid: number }, settled?: (keys: string[]) => Promise<Set<string>>): Promise<Candidate[]> {
    // A POP3 session never sees mail that arrived after its login: look with a fresh one.
    if (this.client && this.listedThisSession) await this.endSession();
    await this.session();
    this.listedThisSession = true;
    const all = [...this.byUidl.values()].sort((a, b) => a.msgno - b.msgno);
    const out: Candidate[] = [];
    for (let i = 0; i < all.length && out.length < limit; i += POP3_TUNING.settledLookupBatch) {
      const chunk = all.slice(i, i + POP3_TUNING.settledLookupBatch).map((m) => ({ key: `pop3:${m.uidl}`, uidl: m.uidl, size: m.size }));
      // Without a watermark, what `leave` kept on the server would fill every listing forever.
      const skip = settled ? await settled(chunk.map((c) => c.key)) : new Set<string>();
      for (const c of chunk) {
        if (skip.has(c.key)) continue;
        out.push(c);
        if (out.length >= limit) break;
      }
    }
    return out;
  }

  /**
   * Streams the messages in listing order. When the session breaks during one, the runner's
   * memory is told which (POP3 cannot resume a RETR, so the message is retried whole, and set
   * aside after session after session broke during it: ADR 0015).
   */
  async *fetch(candidates: Candidate[]): AsyncIterable<FetchedMessage> {
    const inFlight: { c: Candidate | null } = { c: null };
    try {
      yield* this.fetchAll(candidates, inFlight);
    } catch (err) {
      if (inFlight.c) this.runtime.transfers?.interrupted(inFlight.c.key, inFlight.c.size);
      throw err;
    }
  }

  private async *fetchAll(candidates: Candidate[], inFlight: { c: Candidate | null }): AsyncIterable<FetchedMessage> {
    const client = await this.session();
    const present: Array<{ c: Candidate; m: Listed }> = [];
    for (const c of candidates) {
      const m = c.uidl !== undefined ? this.byUidl.get(c.uidl) : undefined;
      if (m) present.push({ c, m }); // otherwise not in this session's maildrop: vanished
    }
    // In listing order: runs of small messages pipelined and handed over whole, large ones streamed.
    for (let i = 0; i < present.length; ) {
      const { c, m } = present[i]!;
      if (m.size > POP3_TUNING.bufferUpToBytes) {
        i++;
        // The first chunk is read here, so a message gone since the listing (-ERR) is skipped
        // like any vanished one instead of failing the blob write that would consume it.
        inFlight.c = c;
        const it = client.retr(m.msgno)[Symbol.asyncIterator]();
        let first: IteratorResult<Uint8Array>;
        try {
          first = await it.next();
        } catch (err) {
          if (isVanished(err)) continue;
          throw err;
        }
        yield { candidate: c, body: this.watch(resume(first, it), c), buffered: false };
        inFlight.c = null;
        continue;
      }
      let j = i;
      while (j < present.length && present[j]!.m.size <= POP3_TUNING.bufferUpToBytes) j++;
      const run = present.slice(i, j);
      i = j;
      let k = 0;
      inFlight.c = run[0]!.c;
      for await (const got of client.retrMany(run.map((r) => r.m.msgno))) {
        const { c: cand } = run[k++]!;
        inFlight.c = run[k]?.c ?? null;
        if (got.body === null) continue; // -ERR: gone since the listing
        yield { candidate: cand, body: single(got.body), buffered: true, bytes: got.body.length };
      }
    }
    inFlight.c = null;
  }

  /** A streamed body whose failure tells the runner's memory the session broke during `c`. */
  private async *watch(body: AsyncIterable<Uint8Array>, c: Candidate): AsyncIterable<Uint8Array> {
    try {
      for await (const chunk of body) yield chunk;
    } catch (err) {
      this.runtime.transfers?.interrupted(c.key, c.size);
      throw err;
    }
  }

  async applyServerAction(candidates: Candidate[]): Promise<Candidate[]> {
    if (candidates.length === 0) return [];
    switch (this.cfg.deletePolicy) {
      case 'leave':
        // Remembered by UIDL in the archive; nothing to do on the server.
        return candidates;
      case 'delete':
      case 'delete-and-expunge':
        break;
      default:
        // The config check refuses these for POP3; reaching here is a bug, not an operator error.
        throw new MailsluiceError('INTERNAL', `deletePolicy ${this.cfg.deletePolicy} is not possible over POP3`);
    }
    const done: Candidate[] = [];
    let todo = candidates;
    while (todo.length > 0) {
      // Deletions ride on the session until QUIT: N bounds how many a dropped session can undo.
      const room = this.cfg.expungeEvery > 0 ? Math.max(1, this.cfg.expungeEvery - this.deleted.length) : todo.length;
      const now = todo.slice(0, room);
      todo = todo.slice(room);
      const client = await this.session();
      const byMsgno = new Map<number, Candidate>();
      for (const c of now) {
        const m = c.uidl !== undefined ? this.byUidl.get(c.uidl) : undefined;
        // Not in the maildrop any more (an earlier QUIT removed it, or another client did): done.
        if (!m) done.push(c);
        else byMsgno.set(m.msgno, c);
      }
      const refused = new Map((await client.deleMany([...byMsgno.keys()])).map((r) => [r.msgno, r.text]));
      for (const [msgno, c] of byMsgno) {
        this.byUidl.delete(c.uidl!);
        const why = refused.get(msgno);
        if (why === undefined) {
          this.deleted.push(c);
          continue;
        }
        // Stays pending: the next session's recovery tries again. Never reported done while it is
        // still on the server, or `delete` would leave it there for good.
        this.logger.warn('POP3 server refused DELE; the message stays on the server and is retried next session', { key: c.key, reply: why });
      }
      if (this.cfg.expungeEvery > 0 && this.deleted.length >= this.cfg.expungeEvery) done.push(...(await this.endSession()));
    }
    return done;
  }

  async flush(): Promise<Candidate[]> {
    if (this.deleted.length === 0) return [];
    return this.endSession();
  }

  /**
   * Ends the session with QUIT (the server then removes what was DELE'd) and returns the
   * deletions it committed; the next command logs in again. A QUIT that fails commits nothing
   * the archive relies on: those messages stay pending and the next session deletes them.
   */
  private async endSession(): Promise<Candidate[]> {
    const client = this.client;
    const deleted = this.deleted;
    this.client = null;
    this.deleted = [];
    this.byUidl = new Map();
    if (!client) return [];
    await client.quit();
    if (deleted.length) this.logger.debug('POP3 session ended; deletions committed', { count: deleted.length });
    return deleted;
  }

  async waitForChange(ms: number, signal?: AbortSignal): Promise<void> {
    // No push in POP3. Do not hold the maildrop (many servers lock it for the session) while idle.
    if (this.client && this.deleted.length === 0) await this.endSession().catch(() => undefined);
    if (signal?.aborted) return;
    await pause(ms, signal);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const client = this.client;
    this.client = null;
    if (!client) return;
    // Deletions not yet confirmed are still pending in the archive; QUIT may commit them (the next
    // session then finds them gone and records them done) or not: either way nothing is lost.
    const timer = setTimeout(() => client.close(), POP3_TUNING.quitTimeoutMs);
    try {
      await client.quit();
    } catch {
      // already gone: the server rolls back, the next session's recovery deletes again
    } finally {
      clearTimeout(timer);
      client.close();
    }
  }
}

/** The rest of a stream whose first step was taken already. */
async function* resume(first: IteratorResult<Uint8Array>, it: AsyncIterator<Uint8Array>): AsyncIterable<Uint8Array> {
  let r = first;
  try {
    while (!r.done) {
      yield r.value;
      r = await it.next();
    }
  } finally {
    // Stopped early: let the client read and drop the rest, so the session stays usable.
    if (!r.done) await it.return?.();
  }
}

function isVanished(err: unknown): boolean {
  return err instanceof MailsluiceError && err.code === 'SOURCE_MESSAGE_VANISHED';
}

/** Creates a POP3 source for one connection. */
export function createPop3Source(cfg: Pop3SourceConfig, logger: Logger, runtime?: SourceRuntime): Pop3Source {
  return new Pop3Source(cfg, logger, runtime);
}
