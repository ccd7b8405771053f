/**
 * The in-memory reference adapter of `MailboxSource`: one IMAP-like mailbox (UIDVALIDITY, UIDs
 * ascending, delete-and-expunge), held to the same contract as the IMAP and POP3 adapters on
 * Dovecot (test/contract/mailbox-source.contract.ts). Unit tests drive the drain cycle with it
 * instead of hand-made sources; hooks let a test watch or break what a server would do.
 */
import type { Candidate, FetchedMessage, MailboxSource, SourceSession } from '../../src/core/ports/mailbox-source.js';

/** What a test can observe or break (each hook optional). */
export interface MemorySourceHooks {
  /** Called before each message is yielded; throwing cuts the session there (a dropped link). */
  beforeFetch?(candidate: Candidate, index: number): void;
  /** Called as each message is handed over (after the vanished ones were skipped). */
  onYield?(candidate: Candidate): void;
  /** Called with the candidates of every server action, before they are removed. */
  onAction?(candidates: Candidate[]): void;
}

/** The mailbox a source instance opens: shared by the sessions of one test, as a server is. */
export class MemoryMailbox {
  /** Messages by UID. */
  readonly messages = new Map<number, Buffer>();
  private nextUid = 1;

  constructor(
    raws: Buffer[] = [],
    /** UIDVALIDITY; change it to simulate a mailbox recreated on the server. */
    public uidValidity = 7,
    readonly name = 'INBOX',
  ) {
    this.deliver(raws);
  }

  /** Delivers messages (new UIDs, in order). */
  deliver(raws: Buffer[]): void {
    for (const raw of raws) this.messages.set(this.nextUid++, raw);
  }

  /** The key a message of this mailbox is taken under. */
  key(uid: number): string {
    return `imap:${this.name}:${this.uidValidity}:${uid}`;
  }
}

/** `MailboxSource` over a {@link MemoryMailbox}. */
export class MemorySource implements MailboxSource {
  readonly concurrentActions = false;
  private opened = false;

  constructor(
    readonly mailbox: MemoryMailbox,
    private readonly hooks: MemorySourceHooks = {},
  ) {}

  async open(): Promise<SourceSession> {
    this.opened = true;
    return { mailbox: this.mailbox.name, uidValidity: this.mailbox.uidValidity, exists: this.mailbox.messages.size, capabilities: ['IMAP4REV1', 'UIDPLUS'] };
  }

  async listCandidates(limit: number, after?: { uidValidity: number; lastUid: number }): Promise<Candidate[]> {
    this.assertOpen();
    const above = after && after.uidValidity === this.mailbox.uidValidity ? after.lastUid : 0;
    return [...this.mailbox.messages.entries()]
      .filter(([uid]) => uid > above)
      .sort(([a], [b]) => a - b)
      .slice(0, limit)
      .map(([uid, raw]) => ({ key: this.mailbox.key(uid), uid, size: raw.length }));
  }

  async *fetch(candidates: Candidate[]): AsyncIterable<FetchedMessage> {
    this.assertOpen();
    let index = 0;
    for (const candidate of candidates) {
      this.hooks.beforeFetch?.(candidate, index++);
      const raw = this.mailbox.messages.get(candidate.uid!);
      // Removed by someone else since the listing: skipped, as a server's FETCH skips it.
      if (!raw) continue;
      this.hooks.onYield?.(candidate);
      yield { candidate, body: (async function* () { yield raw; })(), buffered: true, bytes: raw.length };
    }
  }

  async applyServerAction(candidates: Candidate[]): Promise<Candidate[]> {
    this.assertOpen();
    this.hooks.onAction?.(candidates);
    for (const c of candidates) this.mailbox.messages.delete(c.uid!);
    return candidates;
  }

  async flush(): Promise<Candidate[]> {
    return [];
  }

  async waitForChange(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted || ms <= 0) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, Math.min(ms, 10));
      signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
  }

  async close(): Promise<void> {
    this.opened = false;
  }

  private assertOpen(): void {
    if (!this.opened) throw new Error('the memory source was used before open() or after close()');
  }
}
