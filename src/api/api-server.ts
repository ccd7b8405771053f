/**
 * The HTTP API on `node:http`: a handful of GET endpoints need no framework. Requests go through
 * the {@link Router} to the resources in `routes/`; whatever a handler throws is answered by
 * `error-status.ts`. Nothing listens until {@link startApiServer} is called (by a composition
 * root in `src/app/`).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toMailsluiceError } from '../core/errors/index.js';
import { Router, type ApiResponse, type ApiRoute } from './router.js';
import { errorResponse } from './error-status.js';
import { mapListenError } from './api-error-map.js';
import { API_TUNING, type ApiDeps, type ApiServerOptions } from './api-server-config.js';
import { healthRoutes } from './routes/health.js';
import { openApiRoutes } from './routes/openapi.js';
import { attachmentRoutes } from './routes/attachments.js';

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

/** Every route the API serves, one list per resource. */
export function apiRoutes(deps: ApiDeps): ApiRoute[] {
  return [...healthRoutes(), ...openApiRoutes(), ...attachmentRoutes(deps)];
}

/** Starts listening; throws `API_LISTEN_FAILED` naming the address when it cannot. */
export async function startApiServer(deps: ApiDeps, options: ApiServerOptions): Promise<ApiServer> {
  const router = new Router(apiRoutes(deps));
  const log = deps.logger;

  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = deps.now();
    // A GET has no body worth reading; drain whatever came so the connection stays usable.
    req.resume();
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    let response: ApiResponse;
    try {
      response = await router.dispatch(req.method ?? 'GET', path, new URLSearchParams(q < 0 ? '' : target.slice(q + 1)));
    } catch (err) {
      const e = toMailsluiceError(err);
      response = errorResponse(e);
      if (response.status >= 500) log.error('api request failed', { method: req.method, path, code: e.code, error: e.message });
    }
    // Never the query: its signature is a credential.
    log.debug('api request', { method: req.method, path, status: response.status, ms: deps.now() - started });
    if (res.destroyed) return;
    res.writeHead(response.status, response.headers);
    // Node leaves the body out of a HEAD answer by itself (the headers, Content-Length too, stay).
    res.end(response.body);
  };

  const server = createServer((req, res) => {
    answer(req, res).catch((err: unknown) => {
      // Only writing the answer can fail here (the client went away): nothing to tell anyone.
      log.debug('api answer not sent', { error: String((err as Error)?.message ?? err) });
      res.destroy();
    });
  });
  server.headersTimeout = API_TUNING.headersTimeoutMs;
  server.requestTimeout = API_TUNING.requestTimeoutMs;
  server.keepAliveTimeout = API_TUNING.keepAliveTimeoutMs;

  const wanted = hostPort(options.host, options.port);
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
