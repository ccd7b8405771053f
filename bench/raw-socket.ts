/**
 * The socket of the benchmark's raw clients: every read lands in one receive buffer (node:net
 * `onread`), so the socket never allocates a fresh Buffer per read; a 100 MB message streams
 * through 256 KB of memory and leaves no garbage behind for the collector to catch up with.
 */
import { connect, type Socket } from 'node:net';

const READ_BUFFER_BYTES = 256 * 1024;

/**
 * Connects to `host:port`; `onData` gets each read's bytes, valid only during the call (copy what
 * you keep).
 */
export function connectRaw(host: string, port: number, onData: (chunk: Buffer) => void): Socket {
  return connect({
    host,
    port,
    onread: {
      buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
      callback: (n: number, buf: Uint8Array) => {
        onData(Buffer.from(buf.buffer, buf.byteOffset, n));
        return true;
      },
    },
  });
}
