/**
 * The service's control socket (ADR 0025; issue 14, item 8): the API application on
 * `<dataDir>/control.sock`, for the command line on the same host. Started by `start` beside (and
 * independently of) the TCP API: `api.enabled: false` turns off the network listener, not the
 * way the operator's own commands reach the service.
 *
 * Who calls: a peer of this socket is the service's own OS user or root (the socket is 0600 in a
 * 0700 directory; `api/control-server.ts`), both of whom could read the archive's files directly
 * anyway, so a peer is an admin. The command line says which OS user it runs as in
 * {@link CONTROL_USER_HEADER}; Node gives no SO_PEERCRED without a native module, and the header
 * can be believed for the same reason the peer is an admin: only the owner or root can send it,
 * and either could write the audit log's file itself. A request without it is recorded as the
 * service's own user. Records say `control socket` where the TCP API writes the client's address.
 */
import type { Authorize, RecordAction } from '../api/index.js';
import type { EmbeddedApp } from './embedded.js';
import { apiDeps, urlSigningOf, type ApiContext } from './api.js';
import { cliUser, recordAction } from './audit.js';
import { CONTROL_USER_HEADER, controlSocketPath } from './control-socket-path.js';

export { CONTROL_SOCKET_NAME, CONTROL_USER_HEADER, controlSocketPath } from './control-socket-path.js';

/** What the audit log records as `origin` for a request through the socket. */
export const CONTROL_ORIGIN = 'control socket';

/** What an OS user name may be, as the header carries it; anything else is not believed. */
const USER_SHAPE = /^[A-Za-z0-9._@:-]{1,64}$/;

/** A peer of the socket: the OS user it names (else the service's), as an admin. */
export function localPrincipal(): Authorize {
  const own = cliUser();
  return async (req) => {
    const header = req.headers[CONTROL_USER_HEADER];
    const named = Array.isArray(header) ? header[0] : header;
    const user = named !== undefined && USER_SHAPE.test(named) ? named : own;
    return { name: `local:${user}`, role: 'admin' };
  };
}

/** The audit recorder of the socket: the origin is the socket (a Unix socket has no address). */
function socketRecorder(app: Pick<EmbeddedApp, 'audit' | 'clock'>): RecordAction {
  return async (who, _origin, action, detail) => {
    await recordAction(app.audit, app.clock, who, CONTROL_ORIGIN, action, detail);
  };
}

/** A listening control socket. */
export interface RunningControlSocket {
  path: string;
  close(): Promise<void>;
}

/**
 * Serves the API on the data directory's control socket. The caller holds the data directory
 * (its lock), so a socket file found there is a dead holder's and is replaced. A socket that
 * cannot be made (a data directory path too long for a socket address, about 107 bytes) is
 * logged and the service runs without one: the command line then reads the archive itself, as
 * beside a `drain`.
 */
export async function startControlSocket(app: EmbeddedApp, context: ApiContext): Promise<RunningControlSocket | null> {
  const path = controlSocketPath(app.config.dataDir);
  const { startControlServer } = await import('../api/control-server.js');
  const parts = apiDeps(app, context, await urlSigningOf(app), { authorize: localPrincipal(), record: socketRecorder(app) });
  try {
    const server = await startControlServer(parts.deps, path);
    app.logger.info('control socket listening', { path });
    return {
      path,
      close: async () => {
        await server.close();
        await parts.close();
      },
    };
  } catch (err) {
    await parts.close();
    app.logger.error('control socket not started: commands beside this service read the archive themselves', { path, error: err instanceof Error ? err.message : String(err) });
    return null;
  }
}
