/**
 * The control socket (ADR 0025): the same API application as the TCP API, served on a Unix
 * socket in the data directory, `control.sock`, which only the service's own OS user (and root)
 * can open. The command line talks to a running service through it (`app/control-client.ts`), so
 * every read is done and audited by the one process that holds the data directory.
 *
 * Who may connect is decided by the file system, not by a token: the socket is created under
 * umask 0177 and set 0600 before it is announced (and it sits in the 0700 data directory, which
 * nobody else may even enter). Connecting to a Unix socket needs write permission on it, so a
 * peer is the owner or root. Whom the composition root makes of such a peer (its `authorize`)
 * follows from that.
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { MailsluiceError } from '../core/errors/index.js';
import type { ApiDeps } from './api-server-config.js';
import { createNodeServer } from './api-server.js';

/** The socket's name in the data directory. */
export const CONTROL_SOCKET_FILE = 'control.sock';

/** The mode of the socket: owner read and write (connecting needs write). */
const SOCKET_MODE = 0o600;

/** A listening control socket. */
export interface ControlServer {
  /** The socket's path. */
  readonly path: string;
  /** Stops listening, ends every connection and removes the socket file. */
  close(): Promise<void>;
}

/**
 * Removes what a dead holder left at `path`: the caller holds the data directory's lock, so no
 * live service serves it. Anything but a socket there is not ours to remove: refused.
 */
function removeStale(path: string): void {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!isSocket) throw new MailsluiceError('API_LISTEN_FAILED', `the control socket cannot be made: ${path} exists and is not a socket; remove it`, { details: { address: path } });
  unlinkSync(path);
}

/**
 * Listens on `path` (in a data directory this process holds). Throws `API_LISTEN_FAILED` naming
 * the path when it cannot (a path longer than a socket address may be, about 107 bytes).
 */
export async function startControlServer(deps: ApiDeps, path: string): Promise<ControlServer> {
  const server = createNodeServer(deps);
  try {
    removeStale(path);
  } catch (err) {
    if (err instanceof MailsluiceError) throw err;
    throw new MailsluiceError('API_LISTEN_FAILED', `the control socket ${path} cannot be made: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err, details: { address: path } });
  }
  await new Promise<void>((resolve, reject) => {
    const failed = (err: Error): void =>
      reject(new MailsluiceError('API_LISTEN_FAILED', `the control socket ${path} cannot listen: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err, details: { address: path } }));
    server.once('error', failed);
    // The socket file is made by bind(2) inside listen(), synchronously, with the mode 0777 less
    // the umask: under 0177 it is 0600 from its first moment, whatever the process's umask. The
    // umask is the whole process's, so it is put back at once (nothing else runs in between).
    const umask = process.umask(0o177);
    try {
      server.listen({ path }, () => {
        server.off('error', failed);
        resolve();
      });
    } finally {
      process.umask(umask);
    }
  });
  // And set explicitly, as every private file is (fs-node/private-files.ts): a belt.
  chmodSync(path, SOCKET_MODE);
  server.on('error', (err) => deps.logger.error('control socket error', { error: err.message }));
  let closing: Promise<void> | null = null;
  return {
    path,
    close() {
      closing ??= new Promise<void>((resolve) => {
        // node:net unlinks the socket file when a server listening on a path closes; ours is
        // removed again here in case it did not (the next start would replace it anyway).
        server.close(() => {
          try {
            unlinkSync(path);
          } catch {
            // removed already
          }
          resolve();
        });
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
