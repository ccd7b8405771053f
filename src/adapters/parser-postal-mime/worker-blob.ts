/**
 * A plain in-memory `Blob` for the parser worker thread, installed there as the global `Blob`
 * by postal-mime-worker.ts. Never installed on the main thread.
 *
 * Why: postal-mime's three content decoders (pass-through-decoder.js, base64-decoder.js,
 * qp-decoder.js in postal-mime 4) end every MIME part with
 * `blobToArrayBuffer(new Blob(this.chunks, { type: 'application/octet-stream' }))` merely to
 * join the part's chunks into one ArrayBuffer. Node's Blob copies every chunk into a C++ data
 * queue, marks itself transferable and reads back through an async reader; for a 4 KB message
 * (a pass-through part pushes two chunks per line: the line and '\n') that machinery was most
 * of a worker's time (see docs/adr/0002-message-parser.md). This class joins the chunks in
 * JavaScript with one `Uint8Array.set` per chunk.
 *
 * What postal-mime pushes, and how it reads back (checked against postal-mime 4.0.0):
 * - pass-through: each body line as a `Uint8Array` view into the message buffer, then the
 *   string '\n';
 * - base64: `ArrayBuffer`s from its `decodeBase64`;
 * - quoted-printable: `Uint8Array` copies (`buffer.slice`) of its 100 KB work buffer;
 * - read back by `blobToArrayBuffer` (decode-strings.js): `'arrayBuffer' in blob` →
 *   `await blob.arrayBuffer()` (its FileReader branch is for runtimes without `arrayBuffer`);
 * - postal-mime.js `isBlob(input)` is `input instanceof Blob || toString tag 'Blob'`: false for
 *   the Uint8Array we pass, as with the native class.
 *
 * Why it is safe: it implements the whole Node 20 Blob API (`size`, `type`, `arrayBuffer()`,
 * `text()`, `slice()`, `stream()`) with Node's own rules for parts and options (mirrored from
 * lib/internal/blob.js: any ArrayBuffer/SharedArrayBuffer or view is copied, anything else is
 * converted with `${part}` and UTF-8 encoded (lone surrogates become U+FFFD, like TextEncoder),
 * `endings: 'native'` rewrites LF/CRLF in string parts only, `type` is lower-cased or emptied
 * when it has a character outside U+0020–U+007E). Parts are snapshotted at construction, so a
 * caller that later reuses its buffers (the QP decoder does) cannot change the Blob. Every
 * `arrayBuffer()` returns a fresh copy, as the native one does. A part that is a native Blob
 * (from `node:buffer`, a File, fetch) cannot be read synchronously, so such a construction is
 * handed to the native class; `instanceof Blob` accepts both kinds.
 *
 * What it does not do: it is not transferable/cloneable through `postMessage` (a native Blob
 * is) and Node internals that require a native Blob handle (`URL.createObjectURL`) reject it.
 * Nothing in the worker posts or registers a Blob; results are plain objects.
 *
 * What breaks if postal-mime changes: nothing silently. If it stops using Blob, this class is
 * unused (the speed-up is lost). If it starts relying on something only a native Blob has (a
 * transfer, an object URL, a Blob read by Node internals), parses in the worker would fail or
 * differ: test/parser/worker-blob.test.ts parses the whole corpus with the native Blob
 * (in-process) and with this one (the worker pool) and requires identical outcomes, and a
 * tripwire test checks the decoder sources still use Blob exactly as described above, so an
 * upgrade of postal-mime has to revisit this file.
 */
import { Blob as NativeBlob } from 'node:buffer';
import { EOL } from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { ReadableStream } from 'node:stream/web';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const DISALLOWED_TYPE = /[^\u0020-\u007E]/u;
/** Encoded single ASCII characters ('\n' above all, which the pass-through decoder pushes per line). */
const EMPTY = new Uint8Array(0);
const ASCII = Array.from({ length: 128 }, (_, c) => new Uint8Array([c]));

export interface JoinedBlobOptions {
  type?: string;
  endings?: 'transparent' | 'native';
}

/** The Blob replacement; see the module comment. */
export class JoinedBlob {
  // Initialised here too because the constructor may return a native Blob instead.
  readonly #bytes: Uint8Array = EMPTY;
  readonly #type: string = '';

  constructor(parts: Iterable<unknown> = [], options?: JoinedBlobOptions | null) {
    if (parts === null || typeof parts !== 'object' || typeof (parts as Partial<Iterable<unknown>>)[Symbol.iterator] !== 'function') {
      throw new TypeError('The "sources" argument must be a sequence.');
    }
    if (options !== undefined && options !== null && typeof options !== 'object' && typeof options !== 'function') {
      throw new TypeError('The "options" argument must be of type object.');
    }
    const endings = options?.endings === undefined ? 'transparent' : `${options.endings}`;
    if (endings !== 'transparent' && endings !== 'native') {
      throw new TypeError(`The argument 'options.endings' is invalid. Received '${endings}'`);
    }
    const type = options?.type === undefined ? '' : `${options.type}`;
    const list = Array.isArray(parts) ? (parts as unknown[]) : Array.from(parts);
    if (list.some((p) => p instanceof NativeBlob)) {
      // A native Blob's bytes are only readable asynchronously; let the native class own this
      // one (with our parts given as their bytes, which it can read).
      const native = new NativeBlob(
        list.map((p) => (isJoined(p) ? p.#bytes : p)) as ConstructorParameters<typeof NativeBlob>[0],
        { type, endings: endings as 'transparent' | 'native' },
      );
      return native as unknown as JoinedBlob;
    }
    const chunks: Uint8Array[] = new Array<Uint8Array>(list.length);
    let length = 0;
    for (let i = 0; i < list.length; i++) {
      const c = JoinedBlob.#toBytes(list[i], endings === 'native');
      chunks[i] = c;
      length += c.byteLength;
    }
    // The snapshot: always a copy, never a view of a caller's buffer.
    const bytes = new Uint8Array(length);
    let at = 0;
    for (const c of chunks) {
      bytes.set(c, at);
      at += c.byteLength;
    }
    this.#bytes = bytes;
    this.#type = DISALLOWED_TYPE.test(type) ? '' : type.toLowerCase();
  }

  get size(): number {
    return this.#bytes.byteLength;
  }

  get type(): string {
    return this.#type;
  }

  /** A fresh ArrayBuffer with the Blob's bytes (a copy on every call, as natively). */
  arrayBuffer(): Promise<ArrayBuffer> {
    return Promise.resolve(this.#bytes.slice().buffer);
  }

  text(): Promise<string> {
    return Promise.resolve(decoder.decode(this.#bytes));
  }

  /** Relative indices as `Array.prototype.slice` (and the File API) read them. */
  slice(start?: number, end?: number, contentType?: string): JoinedBlob {
    const size = this.#bytes.byteLength;
    const rel = (v: number | undefined, dflt: number): number => {
      if (v === undefined) return dflt;
      const n = Math.trunc(Number(v)) || 0;
      return n < 0 ? Math.max(size + n, 0) : Math.min(n, size);
    };
    const from = rel(start, 0);
    const to = rel(end, size);
    return new JoinedBlob([this.#bytes.subarray(from, Math.max(from, to))], { type: contentType ?? '' });
  }

  stream(): ReadableStream<Uint8Array> {
    const bytes = this.#bytes.slice();
    return new ReadableStream<Uint8Array>({
      start(controller) {
        if (bytes.byteLength > 0) controller.enqueue(bytes);
        controller.close();
      },
    });
  }

  get [Symbol.toStringTag](): string {
    return 'Blob';
  }

  /** `x instanceof Blob` in the worker holds for both this class and native Blobs. */
  static [Symbol.hasInstance](value: unknown): boolean {
    return isJoined(value) || value instanceof NativeBlob;
  }

  /** Own check (the `instanceof` above also accepts native Blobs, which have no `#bytes`). */
  static isJoined(value: unknown): value is JoinedBlob {
    return typeof value === 'object' && value !== null && #bytes in value;
  }

  static #toBytes(part: unknown, nativeEndings: boolean): Uint8Array {
    if (part instanceof Uint8Array) return part;
    if (part instanceof ArrayBuffer || part instanceof SharedArrayBuffer) return new Uint8Array(part);
    if (ArrayBuffer.isView(part)) return new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
    if (isJoined(part)) return part.#bytes;
    if (typeof part === 'symbol') throw new TypeError('Cannot convert a Symbol value to a string');
    let s = typeof part === 'string' ? part : `${part as string}`;
    if (s.length === 1) {
      const c = s.charCodeAt(0);
      if (c < 128 && !(nativeEndings && (c === 10 || c === 13))) return ASCII[c]!;
    }
    // The File API's "convert line endings to native": CRLF, lone CR and LF alike (Node 24's
    // Blob does this; Node 20's left a lone CR alone). postal-mime never passes `endings`.
    if (nativeEndings) s = s.replace(/\r\n|\r|\n/g, EOL);
    return encoder.encode(s);
  }
}

const isJoined = (v: unknown): v is JoinedBlob => JoinedBlob.isJoined(v);

/** The Blob this module replaced, for tests and for anyone who needs a native one. */
export const NativeBlobClass = NativeBlob;

/**
 * Makes {@link JoinedBlob} the global `Blob` of this worker thread. Refuses on the main thread,
 * where other code (fetch, the store) may rely on native Blobs. Idempotent.
 */
export function installWorkerBlob(): void {
  if (isMainThread) throw new Error('installWorkerBlob: only for the parser worker thread');
  if (globalThis.Blob === (JoinedBlob as unknown)) return;
  Object.defineProperty(globalThis, 'Blob', { value: JoinedBlob, writable: true, configurable: true, enumerable: false });
}
