/**
 * A decompressor kept across records, for verify's record checks (`record-check.ts`, ADR 0031
 * revision "one decoder a thread"). `brotliDecompressSync` and `inflateRawSync` build a stream
 * object, a native handle and an output chunk per call: ~15–25 µs of a small record's ~30 µs
 * check. Here one native handle per codec is reset between records and decompresses straight
 * into one output buffer, reused.
 *
 * The handle is Node's own (`_handle` of a zlib stream: `reset`, `writeSync` and the
 * `_writeState` it reports into, the calls Node's `*Sync` functions make), not a public API: it is
 * feature-detected, and this is a fast path only. It can answer "these are exactly the bytes"
 * (which the caller then holds against the record's SHA-256) or "cannot say" (an error, a length
 * other than expected, a Node without those calls), never "damaged": on "cannot say" the caller
 * judges the record with the public functions, as before. So a quirk of the handle can cost time,
 * not a wrong verdict: an intact verdict still needs bytes that hash to the record's address.
 */
import { constants as zc, createBrotliDecompress, createInflateRaw } from 'node:zlib';

/** The output buffer a thread keeps between records grows to this at most (small messages fit). */
const KEPT_OUT = 1024 * 1024;

/** The codecs a record can be compressed with (`pack-format.ts`), but `none`. */
export type Compressed = 'brotli' | 'deflate-raw';

/** What Node's zlib streams hold as `_handle` (node_zlib.cc), as far as it is used here. */
interface NativeHandle {
  reset(): void;
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  close(): void;
  onerror: ((message: string, errno: number) => void) | null;
}

/** A zlib stream object as far as its internals are used here. */
interface Engine {
  _handle?: NativeHandle | null;
  _writeState?: Uint32Array;
  close(): void;
}

/** One codec's handle, its state array (`[availOut, availIn]` after a write) and whether it failed. */
interface Lane {
  handle: NativeHandle;
  state: Uint32Array;
  engine: Engine;
  failed: boolean;
}

/** Decompresses records of known size through one reused native handle per codec (one per thread). */
export class RecordInflater {
  readonly #lanes = new Map<Compressed, Lane | null>();
  #out: Buffer = Buffer.allocUnsafe(64 * 1024);

  /**
   * The bytes `payload` decompresses to when they are exactly `size` bytes and the stream ends
   * cleanly (in a buffer the next call reuses, for records up to {@link KEPT_OUT}); null when it
   * cannot say so (then judge the record with the public functions).
   */
  inflate(codec: Compressed, payload: Uint8Array, size: number): Buffer | null {
    const lane = this.#lane(codec);
    if (!lane) return null;
    // One byte more than expected: a record that decompresses longer fills it and is not taken.
    const room = size + 1;
    // The buffer kept grows to at most KEPT_OUT; a larger record (up to the scan's 16 MiB) gets its own.
    if (this.#out.length < room && room <= KEPT_OUT) this.#out = Buffer.allocUnsafe(Math.min(KEPT_OUT, Math.max(room, this.#out.length * 2)));
    const out = room <= this.#out.length ? this.#out : Buffer.allocUnsafe(room);
    try {
      lane.handle.reset();
      if (lane.failed) return this.#drop(codec);
      const finish = codec === 'brotli' ? zc.BROTLI_OPERATION_FINISH : zc.Z_FINISH;
      lane.handle.writeSync(finish, payload, 0, payload.length, out, 0, room);
    } catch {
      return this.#drop(codec);
    }
    // An error (corrupt or cut-short stream) was reported through onerror; the handle keeps it.
    if (lane.failed) return this.#drop(codec);
    const [availOut, availIn] = [lane.state[0]!, lane.state[1]!];
    if (availIn !== 0 || room - availOut !== size) return null;
    return out.subarray(0, size);
  }

  /** Closes the handles. */
  close(): void {
    for (const codec of [...this.#lanes.keys()]) this.#drop(codec);
  }

  /** Forgets `codec`'s handle after an error (a Brotli handle keeps its error across resets); a new one next time. */
  #drop(codec: Compressed): null {
    const lane = this.#lanes.get(codec);
    this.#lanes.delete(codec);
    try {
      lane?.engine.close();
    } catch {
      // closing a handle that failed: nothing to keep
    }
    return null;
  }

  #lane(codec: Compressed): Lane | null {
    const known = this.#lanes.get(codec);
    if (known !== undefined) return known;
    const engine = (codec === 'brotli' ? createBrotliDecompress() : createInflateRaw()) as unknown as Engine;
    const handle = engine._handle;
    const state = engine._writeState;
    const usable = handle && typeof handle.reset === 'function' && typeof handle.writeSync === 'function' && state instanceof Uint32Array && state.length >= 2;
    if (!usable) {
      engine.close();
      this.#lanes.set(codec, null); // this Node has no such handle: the public path, always
      return null;
    }
    const lane: Lane = { handle, state, engine, failed: false };
    // Node's own handler would destroy the stream object; here an error only marks the lane.
    handle.onerror = () => {
      lane.failed = true;
    };
    this.#lanes.set(codec, lane);
    return lane;
  }
}
