/**
 * The in-memory reference adapter of `BlobStore`: content-addressed bytes in a map, held to the
 * same contract as blob-fs (test/contract/blob-store.contract.ts) except where memory is the point
 * (it holds every blob whole, so the bounded-memory case does not apply to it). It shows what a
 * second backend (S3) must do: dedup by the caller's `known` and within a writer, a location per
 * stored blob, reads checked against the SHA-256, durability only at `sync()`: a "process" that
 * ends before it (a new instance over the same {@link MemoryBlobSpace}) finds nothing of it.
 */
import { createHash } from 'node:crypto';
import type { BlobLocation, BlobStore, BlobWriter, PutResult } from '../../src/core/ports/blob-store.js';
import { MailsluiceError } from '../../src/core/errors/index.js';

/** The storage a store instance sits on; shared by the instances that "restart" over it. */
export class MemoryBlobSpace {
  /** Durable blobs by ref, with the hash they were stored under. */
  readonly synced = new Map<string, Stored>();
  private next = 1;

  /** A fresh ref. */
  ref(): string {
    return `mem-${this.next++}`;
  }
}

/** A stored blob: its bytes and the SHA-256 they had when put (damage shows as a mismatch). */
type Stored = { raw: Buffer; sha256: string };

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

class MemoryBlobWriter implements BlobWriter {
  /** Put since the last sync: readable, not durable. */
  private readonly pending = new Map<string, Stored>();
  /** Hashes this writer stored, or is storing (concurrent puts of the same bytes store once). */
  private readonly stored = new Set<string>();

  constructor(
    private readonly space: MemoryBlobSpace,
    private readonly unsynced: Map<string, Stored>,
  ) {}

  async put(body: AsyncIterable<Uint8Array>, known: (sha256: string) => boolean): Promise<PutResult> {
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(Buffer.from(c));
    const raw = Buffer.concat(parts);
    const sha256 = sha(raw);
    if (known(sha256) || this.stored.has(sha256)) return { sha256, size: raw.length, location: null };
    this.stored.add(sha256);
    const ref = this.space.ref();
    this.pending.set(ref, { raw, sha256 });
    this.unsynced.set(ref, { raw, sha256 });
    return { sha256, size: raw.length, location: { ref, storedSize: raw.length } };
  }

  async sync(): Promise<void> {
    for (const [ref, stored] of this.pending) {
      this.space.synced.set(ref, stored);
      this.unsynced.delete(ref);
    }
    this.pending.clear();
  }

  async close(): Promise<void> {
    await this.sync();
  }
}

/** `BlobStore` over a {@link MemoryBlobSpace}. */
export class MemoryBlobStore implements BlobStore {
  /** Readable but not yet synced, by ref: lost when the instance is. */
  private readonly unsynced = new Map<string, Stored>();

  constructor(readonly space: MemoryBlobSpace = new MemoryBlobSpace()) {}

  async openWriter(): Promise<BlobWriter> {
    return this.writer();
  }

  /** A writer, made at once (for tests that set up synchronously). */
  writer(): BlobWriter {
    return new MemoryBlobWriter(this.space, this.unsynced);
  }

  async read(location: BlobLocation, sha256: string): Promise<Buffer> {
    const raw = this.checked(location);
    if (sha(raw) !== sha256) throw new MailsluiceError('STORE_CORRUPT', `blob ${location.ref} does not hash to ${sha256}`);
    return Buffer.from(raw);
  }

  async *stream(location: BlobLocation): AsyncIterable<Uint8Array> {
    const raw = this.checked(location);
    for (let p = 0; p < raw.length; p += 64 * 1024) yield Buffer.from(raw.subarray(p, p + 64 * 1024));
  }

  /** Flips one stored byte of `location` (bit rot), for the contract's corruption case. */
  corrupt(location: BlobLocation): void {
    const { raw } = this.find(location);
    raw[Math.floor(raw.length / 2)]! ^= 0xff;
  }

  /** The bytes at `location`, checked against the hash they were stored under. */
  private checked(location: BlobLocation): Buffer {
    const stored = this.find(location);
    if (sha(stored.raw) !== stored.sha256) throw new MailsluiceError('STORE_CORRUPT', `blob ${location.ref} was damaged since it was stored`);
    return stored.raw;
  }

  private find(location: BlobLocation): Stored {
    const stored = this.space.synced.get(location.ref) ?? this.unsynced.get(location.ref);
    if (!stored) throw new MailsluiceError('STORE_NOT_FOUND', `no blob at ${location.ref}`);
    return stored;
  }
}
