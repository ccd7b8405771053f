/**
 * The audit log's chain rule (issue 14, item 4; ADR 0022): each record carries the SHA-256 of the
 * one before it, so a record removed or altered afterwards is found by walking the chain. Pure:
 * the hash function is handed in (the core does no crypto of its own), and every store adapter
 * seals its records with {@link sealRecord} and is verified with {@link ChainVerifier}.
 */

/** SHA-256 of a UTF-8 string, as 64 lowercase hex digits. */
export type Sha256Hex = (text: string) => string;

/** The `prevHash` of the first record. */
export const GENESIS_HASH = '0'.repeat(64);

/** What an action hands the audit log: who did what, when, from where. */
export interface AuditEntry {
  /** Milliseconds since the epoch. */
  at: number;
  /** A token's name, or the OS user for the command line. */
  who: string;
  /** `cli`, or the remote address of an API request. */
  origin: string;
  /** What was done: `archive.search`, `archive.export`, `token.create`, … */
  action: string;
  /** What it was done to (the query, the message id, the fields changed); never a secret. */
  detail: Record<string, unknown>;
}

/** A record as stored: the entry, its place in the chain and the hashes that bind it there. */
export interface AuditRecord {
  /** 1, 2, 3, … with no gap. */
  seq: number;
  at: number;
  who: string;
  origin: string;
  action: string;
  /** The entry's detail as canonical JSON ({@link canonicalJson}), exactly the text hashed. */
  detail: string;
  /** The hash of record `seq - 1` ({@link GENESIS_HASH} for the first). */
  prevHash: string;
  /** The hash of this record's fields and `prevHash` ({@link recordHash}). */
  hash: string;
}

/** The last record's place, kept by the store beside the records, so a removed last record is found too. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** Where the chain is broken: the first bad record and what is wrong with it. */
export interface ChainProblem {
  seq: number;
  problem: string;
}

/** Keys whose values are never recorded: an entry's detail is redacted before it is sealed. */
const SECRET_KEY = /pass(word|phrase)?$|secret|token$|privatekey|authorization|cookie/i;

/** JSON with object keys sorted at every level: the same detail always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** `detail` with the value of every key that names a secret (password, secret, token, …) replaced by `[redacted]`. */
export function redactDetail(detail: Record<string, unknown>): Record<string, unknown> {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, SECRET_KEY.test(k) ? '[redacted]' : walk(x)]));
  };
  return walk(detail) as Record<string, unknown>;
}

/** The hash of a record: SHA-256 over its fields and `prevHash` as one JSON array (no field can bleed into the next). */
export function recordHash(r: Omit<AuditRecord, 'hash'>, sha256: Sha256Hex): string {
  return sha256(JSON.stringify([r.seq, r.at, r.who, r.origin, r.action, r.detail, r.prevHash]));
}

/** The record that follows `head` (null: the chain is empty) for `entry`, redacted and sealed. */
export function sealRecord(head: ChainHead | null, entry: AuditEntry, sha256: Sha256Hex): AuditRecord {
  const unsealed = {
    seq: (head?.seq ?? 0) + 1,
    at: entry.at,
    who: entry.who,
    origin: entry.origin,
    action: entry.action,
    detail: canonicalJson(redactDetail(entry.detail)),
    prevHash: head?.hash ?? GENESIS_HASH,
  };
  return { ...unsealed, hash: recordHash(unsealed, sha256) };
}

/**
 * Walks a chain record by record, in sequence order, and names the first bad record: a gap in
 * the sequence (a record removed), a record whose fields no longer match its hash (altered), a
 * record whose predecessor's hash is not the one it was chained to (the predecessor rewritten,
 * hash and all), and at the end a last record other than the head the store kept (removed).
 */
export class ChainVerifier {
  private expected: number;
  private prev: string;
  /** The sequence number the walk starts after (0: the genesis; else a retention checkpoint's). */
  readonly startSeq: number;

  /**
   * @param from where the walk starts: absent, at the genesis (record 1 chained to
   *   {@link GENESIS_HASH}); a retention checkpoint (ADR 0029), at the record after it, which must
   *   be chained to the checkpoint's hash.
   */
  constructor(
    private readonly sha256: Sha256Hex,
    from?: ChainHead,
  ) {
    this.startSeq = from?.seq ?? 0;
    this.expected = this.startSeq + 1;
    this.prev = from?.hash ?? GENESIS_HASH;
  }

  /** How many records passed so far. */
  get verified(): number {
    return this.expected - 1 - this.startSeq;
  }

  /** The sequence number the next record must have. */
  get nextSeq(): number {
    return this.expected;
  }

  /** The hash of the last record that passed ({@link GENESIS_HASH} before the first). */
  get lastHash(): string {
    return this.prev;
  }

  /** Checks the next record; answers what is wrong, or null when it holds. */
  next(r: AuditRecord): ChainProblem | null {
    if (r.seq !== this.expected) {
      if (r.seq > this.expected) {
        const span = r.seq - 1 > this.expected ? `records ${this.expected} to ${r.seq - 1} are` : `record ${this.expected} is`;
        return { seq: this.expected, problem: `${span} missing (removed): the record after ${this.expected - 1 || 'the start'} is ${r.seq}` };
      }
      return { seq: r.seq, problem: `its sequence number repeats or goes back (expected ${this.expected})` };
    }
    if (recordHash(r, this.sha256) !== r.hash) {
      return { seq: r.seq, problem: 'altered: its fields no longer match its hash' };
    }
    if (r.prevHash !== this.prev) {
      // This record is intact, so the one before it changed after this one was chained to it.
      if (r.seq === 1) return { seq: 1, problem: 'altered: the first record does not start the chain' };
      if (r.seq === this.startSeq + 1) {
        return { seq: r.seq, problem: `not chained to the checkpoint (seq ${this.startSeq}) it should continue from: the checkpoint was moved or altered, or this record rewritten` };
      }
      return {
          seq: r.seq - 1, problem: `altered: record ${r.seq} was chained to another hash than it has now (rewritten, hash and all)`,
      };
    }
    this.prev = r.hash;
    this.expected++;
    return null;
  }

  /** Checks the end of the chain against the head the store kept; null when they agree. */
  end(head: ChainHead | null): ChainProblem | null {
    const last = this.expected - 1;
    if (!head) return last === this.startSeq ? null : { seq: last, problem: 'the chain has records but the store keeps no head for it (the head was removed)' };
    if (head.seq > last) {
      const span = head.seq > last + 1 ? `records ${last + 1} to ${head.seq} are` : `record ${head.seq} is`;
      return { seq: last + 1, problem: `${span} missing (removed): the chain ends at ${last}, its head says ${head.seq}` };
    }
    if (head.seq < last) return { seq: head.seq + 1, problem: `the chain goes on past its head (${head.seq}): the head was altered` };
    if (head.hash !== this.prev) return { seq: last, problem: 'altered: the last record is not the one the head was sealed with' };
    return null;
  }
}
