/**
 * What a connection runner remembers about messages whose transfer broke off, across the
 * sessions of one run (a fresh source is built per connect, so this lives in the runner and is
 * handed to each source): the bytes of a message received so far, so that an IMAP source can
 * resume it (`BODY.PEEK[]<offset.length>`) instead of starting over, and how many sessions in a
 * row broke during one message with no progress at all, so that a message larger than what the
 * link carries is set aside (reported, never deleted) and the rest of the mailbox moves on
 * (ADR 0015). Pure: no I/O, no clock.
 */
import type { TransferMemory } from '../ports/mailbox-source.js';

/** Policy of {@link PartialTransfers}. */
export interface PartialTransferPolicy {
  /**
   * Sessions in a row that broke during the same message without any progress (no commit, no
   * byte of it kept) before it is set aside. Below `drain`'s default of five failures, so a drain
   * sets the message aside before it gives up.
   */
  setAsideAfter: number;
  /**
   * Most bytes kept, for all messages together: a message that would need more on its own is
   * not resumed (its bytes are dropped), so a huge one costs no more memory than a streamed
   * fetch; others' records are dropped first, oldest first (a message deleted on the server
   * meanwhile is never asked for again, and must not hold memory for the rest of the run).
   */
  maxKeptBytes: number;
}

/**
 * Defaults: three sessions (one lost to the first, whole-message attempt whose bytes are not
 * kept, two more to be sure it is the message and not the moment); 64 MiB, the order of the
 * drain's own in-flight bound (`MAX_PUT_BYTES_IN_FLIGHT` is 32 MiB) for a rare event.
 */
export const DEFAULT_PARTIAL_TRANSFER_POLICY: PartialTransferPolicy = { setAsideAfter: 3, maxKeptBytes: 64 * 1024 * 1024 };

/** A message set aside, for the log and the status. */
export interface SetAsideMessage {
  key: string;
  /** Sessions in a row that broke during it. */
  sessions: number;
  /** Bytes of it that had been received when it was set aside (0 when nothing could be kept). */
  bytesKept: number;
}

/** How a session ended, as {@link PartialTransfers.sessionEnded} sees it. */
export interface SessionOutcome {
  /** A batch was committed or bytes of an interrupted message were kept: the link carries something. */
  progressed: boolean;
  /** Messages set aside at the end of this session. */
  setAside: SetAsideMessage[];
}

/** One runner's memory of broken transfers (see the module comment). */
export class PartialTransfers implements TransferMemory {
  private readonly kept = new Map<string, { parts: Uint8Array[]; bytes: number }>();
  /** Bytes in `kept`, all messages together. */
  private keptBytes = 0;
  private readonly strikes = new Map<string, number>();
  private readonly aside = new Map<string, SetAsideMessage>();
  /** The message the current session broke during, if it said so, and its size (0: unknown). */
  private interruptedKey: string | null = null;
  private interruptedSize = 0;
  private progress = false;
  /** The largest message committed in this run: the link has carried one that size whole. */
  private largestThrough = 0;

  constructor(private readonly policy: PartialTransferPolicy = DEFAULT_PARTIAL_TRANSFER_POLICY) {}

  resumable(key: string): { parts: readonly Uint8Array[]; bytes: number } | undefined {
    return this.kept.get(key);
  }

  keep(key: string, chunk: Uint8Array): boolean {
    const k = this.kept.get(key) ?? { parts: [], bytes: 0 };
    if (k.bytes + chunk.length > this.policy.maxKeptBytes) {
      this.drop(key);
      return false;
    }
    for (const other of this.kept.keys()) {
      if (this.keptBytes + chunk.length <= this.policy.maxKeptBytes) break;
      if (other !== key) this.drop(other);
    }
    k.parts.push(chunk);
    k.bytes += chunk.length;
    this.keptBytes += chunk.length;
    this.kept.set(key, k);
    if (chunk.length > 0) this.progress = true;
    return true;
  }

  interrupted(key: string, size = 0): void {
    this.interruptedKey = key;
    this.interruptedSize = size;
  }

  forget(key: string): void {
    this.drop(key);
    this.strikes.delete(key);
  }

  private drop(key: string): void {
    this.keptBytes -= this.kept.get(key)?.bytes ?? 0;
    this.kept.delete(key);
  }

  /** Told by the runner that a batch was committed in the current session, with its largest message's size. */
  committed(largest = 0): void {
    this.progress = true;
    this.largestThrough = Math.max(this.largestThrough, largest);
  }

  /** Whether a message was set aside in this run: the drain cycle does not fetch it again. */
  isSetAside(key: string): boolean {
    return this.aside.has(key);
  }

  /** Every message set aside so far. */
  setAside(): SetAsideMessage[] {
    return [...this.aside.values()];
  }

  /**
   * Closes the books on a session: one that failed during a message without any progress counts
   * a strike against it, and at `setAsideAfter` strikes in a row the message is set aside; any
   * progress clears the strikes (the link carries mail, so the next attempt may get further).
   * A message no larger than one the link already carried whole gets no strike: it is not too
   * large, its sessions were unlucky (a reset also drops what was in flight, so a busy client
   * can lose a whole small message to one).
   */
  sessionEnded(failed: boolean): SessionOutcome {
    const progressed = this.progress;
    const key = this.interruptedKey;
    const size = this.interruptedSize;
    this.progress = false;
    this.interruptedKey = null;
    this.interruptedSize = 0;
    const out: SessionOutcome = { progressed, setAside: [] };
    if (progressed) this.strikes.clear();
    if (!failed || progressed || key === null || this.aside.has(key)) return out;
    if (size > 0 && size <= this.largestThrough) return out;
    const n = (this.strikes.get(key) ?? 0) + 1;
    this.strikes.set(key, n);
    if (n < this.policy.setAsideAfter) return out;
    const s: SetAsideMessage = { key, sessions: n, bytesKept: this.kept.get(key)?.bytes ?? 0 };
    this.aside.set(key, s);
    this.forget(key);
    out.setAside.push(s);
    return out;
  }
}
