/**
 * A pack a writer appends to, with what keeps its appends cheap: the write buffer that gathers
 * the records of buffered puts into one write (ADR 0001, "Main-thread cost") and the early
 * datasync that keeps the group commit's flush short (ADR 0001, session 4).
 */
import type { FileHandle } from 'node:fs/promises';
import { writeFully } from './pack-io.js';

/** The pack a writer is appending to. */
export interface OpenPack {
  packId: number;
  path: string;
  fh: FileHandle;
  /** Where the next record goes: the pack's logical end, buffered records included. */
  pos: number;
  /** Bytes written since the last datasync began (see {@link EARLY_SYNC_BYTES}). */
  unsynced?: number;
  /** A datasync started early, in the background, if one runs. */
  early?: Promise<void> | null;
  /** Set when the pack is being closed: no early sync may start on its handle any more. */
  closing?: boolean;
}

/**
 * Written-but-unsynced bytes after which a pack gets a datasync in the background: the group
 * commit's own datasync then finds most pages already on disk instead of flushing a whole batch
 * (tens of MB on mixed mail) while the drain waits for it. A failed early sync fails the writer,
 * as any failed sync does.
 */
const EARLY_SYNC_BYTES = 8 * 1024 * 1024;

/**
 * Counts bytes written to `pack`, and starts an early datasync past {@link EARLY_SYNC_BYTES}
 * unless `blocked`; `onFail` gets its error.
 */
export function countWritten(pack: OpenPack, bytes: number, blocked: boolean, onFail: (err: unknown) => void): void {
  pack.unsynced = (pack.unsynced ?? 0) + bytes;
  if (pack.unsynced < EARLY_SYNC_BYTES || pack.early || pack.closing || blocked) return;
  pack.unsynced = 0;
  pack.early = pack.fh.datasync().then(
    () => {
      pack.early = null;
    },
    (err: unknown) => {
      pack.early = null;
      onFail(err);
    },
  );
}

/**
 * Records of buffered puts are copied into a buffer of this size and written with one write
 * when it fills or at sync, instead of one threadpool write per message (ADR 0001).
 */
export const WRITE_BUFFER_BYTES = 1024 * 1024;

/**
 * The records of buffered puts not written yet, for the pack's bytes from `start` on; at most one
 * write of an earlier buffer runs beside it (bounded memory). The owner calls it under its lock.
 */
export class WriteBuffer {
  #buf: Buffer | null = null;
  #len = 0;
  #start = 0;
  #writing: Promise<void> | null = null;

  /** `written(pack, bytes)` after each write; `failed(err, pack)` maps a write error (and fails the writer). */
  constructor(
    private readonly written: (pack: OpenPack, bytes: number) => void,
    private readonly failed: (err: unknown, pack: OpenPack) => Error,
  ) {}

  /** Bytes buffered. */
  get length(): number {
    return this.#len;
  }

  /** Whether anything is buffered or being written. */
  get pending(): boolean {
    return this.#len > 0 || this.#writing !== null;
  }

  /** Appends a record's parts, which go at `offset` of the pack (its logical end). */
  add(parts: Buffer[], offset: number): void {
    if (this.#len === 0) {
      this.#buf ??= Buffer.allocUnsafeSlow(WRITE_BUFFER_BYTES);
      this.#start = offset;
    }
    for (const part of parts) {
      part.copy(this.#buf as Buffer, this.#len);
      this.#len += part.length;
    }
  }

  /** Starts writing the buffer (after the previous write, which it waits for). */
  async startWrite(pack: OpenPack): Promise<void> {
    if (this.#writing) await this.#writing;
    if (this.#len === 0 || !this.#buf) return;
    const buf = this.#buf.subarray(0, this.#len);
    const at = this.#start;
    this.#buf = null;
    this.#len = 0;
    const writing = writeFully(pack.fh, [buf], at).then(
      () => {
        if (this.#writing === writing) this.#writing = null;
        this.written(pack, buf.length);
      },
      (err: unknown) => {
        if (this.#writing === writing) this.#writing = null;
        throw this.failed(err, pack);
      },
    );
    writing.catch(() => undefined); // surfaced by the next put/sync through the writer's failure
    this.#writing = writing;
  }

  /** Writes out every buffered record and waits for it. */
  async writeOut(pack: OpenPack): Promise<void> {
    await this.startWrite(pack);
    if (this.#writing) await this.#writing;
  }

  /** Waits for a write in progress, ignoring its failure (a failed writer closing). */
  async settled(): Promise<void> {
    await this.#writing?.catch(() => undefined);
  }
}
