/**
 * The HTTP API's server: the Hono application of `api-app.ts` behind a `node:http` server of
 * our own, so the timeouts against slow clients, the listen errors and closing every connection
 * stay ours. Nothing listens until {@link startApiServer} is called (by a composition root in
 * `src/app/`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { mapListenError } from './api-error-map.js';
import { API_TUNING, type ApiDeps, type ApiServerOptions } from './api-server-config.js';
import { createApiApp } from './api-app.js';
import { MailsluiceError } from '../core/errors/index.js';

/** A listening API server. */
export interface ApiServer {
  /** Where it listens, `host:port` (the port the system chose when 0 was asked). */
  readonly address: string;
  readonly port: number;
  /** Stops listening and ends every connection, also downloads in progress. */
  close(): Promise<void>;
}

/** `host:port`, an IPv6 host in brackets. */
function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Every route the API serves (method and path template as in the OpenAPI document). */
export function apiRoutes(deps: ApiDeps): Array<{ method: string; path: string }> {
  // Hono lists a route once per handler (its middleware and validators too): one per method and path.
  const seen = new Map<string, { method: string; path: string }>();
  for (const r of createApiApp(deps).routes) {
    if (r.method !== 'ALL') seen.set(`${r.method} ${r.path}`, { method: r.method, path: r.path.replace(/:(\w+)/g, '{$1}') });
  }
  return [...seen.values()];
}

/**
 * An HTTPS server with the configured certificate and key (`api.tls`); a certificate or key
 * that TLS cannot use (not PEM, not matching) is `API_LISTEN_FAILED` naming `api.tls`.
 */
function httpsServer(tls: { cert: string; key: string }, handle: (req: IncomingMessage, res: ServerResponse) => void, wanted: string): Server {
  try {
    return createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, handle);
  } catch (err) {
    throw new MailsluiceError('API_LISTEN_FAILED', `cannot serve HTTPS on ${wanted}: api.tls.cert and api.tls.key are not a usable certificate and key (${(err as Error).message})`, { cause: err });
  }
}

/**
 * The application over `deps` behind a `node:http` server (or `node:https` with `tls`, for the
 * TCP API only) with our timeouts, not yet listening: the TCP API's and the control socket's (`control-server.ts`) alike.
 */
export function createNodeServer(deps: ApiDeps, tls?: { cert: string; key: string; wanted: string }): Server {
  const app = createApiApp(deps);
  const log = deps.logger;
  // The adapter's default: it installs its lightweight Request and Response (subclasses of
  // Node's) as the globals, which answer without building a web stream for every body; without
  // them a request costs about half as much again (ADR 0021).
  const listener = getRequestListener(app.fetch, {
    errorHandler: (err) => {
      // Only writing the answer can fail here (the client went away): nothing to tell anyone.
      log.debug('api answer not sent', { error: String((err as Error)?.message ?? err) });
    },
  });
  const handle = (req: IncomingMessage, res: ServerResponse): void => void listener(req, res);
  const server = tls ? httpsServer(tls, handle, tls.wanted) : createServer(handle);
  server.headersTimeout = API_TUNING.headersTimeoutMs;
  server.requestTimeout = API_TUNING.requestTimeoutMs;
  server.keepAliveTimeout = API_TUNING.keepAliveTimeoutMs;
  return server;
}

/** Starts listening; throws `API_LISTEN_FAILED` naming the address when it cannot. */
export async function startApiServer(deps: ApiDeps, options: ApiServerOptions): Promise<ApiServer> {
  const wanted = hostPort(options.host, options.port);
  const server = createNodeServer(deps, options.tls ? { ...options.tls, wanted } : undefined);
  const log = deps.logger;
  await new Promise<void>((resolve, reject) => {
    const failed = (err: Error): void => reject(mapListenError(err, wanted));
    server.once('error', failed);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', failed);
      resolve();
    });
  });
  server.on('error', (err) => log.error('api server error', { error: err.message }));
  const bound = server.address() as AddressInfo;
  const address = hostPort(bound.address, bound.port);
  let closing: Promise<void> | null = null;
  return {
    address,
    port: bound.port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Kept-alive and in-progress connections would hold close() open until their clients
        // let go: the command is ending, so they end with it.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
