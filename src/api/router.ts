/**
 * Requests → handlers by method and path. Paths are written as in the OpenAPI document
 * (`/api/v1/messages/{archiveId}/...`), so the document and the routes can be compared by a
 * test; a `{name}` matches one path segment, handed to the handler as it came (undecoded: every
 * id the API takes is plain hex, checked by its handler).
 */
import { MailsluiceError } from '../core/errors/index.js';

/** A request as a handler sees it. */
export interface ApiRequest {
  /** GET or HEAD (a HEAD runs the GET handler; the server leaves out the body). */
  method: string;
  /** The path as received, without the query. */
  path: string;
  query: URLSearchParams;
  /** The `{name}` segments of the route's path. */
  params: Readonly<Record<string, string>>;
}

/** A handler's answer. */
export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array | string;
}

/** One method on one path. */
export interface ApiRoute {
  method: 'GET';
  /** The path template, as in the OpenAPI document. */
  path: string;
  handle(request: ApiRequest): Promise<ApiResponse> | ApiResponse;
}

/** A JSON answer. */
export function json(status: number, value: unknown): ApiResponse {
  return { status, headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' }, body: JSON.stringify(value) };
}

interface Compiled {
  route: ApiRoute;
  pattern: RegExp;
  names: string[];
}

/** Finds the route of a request. */
export class Router {
  private readonly compiled: Compiled[];

  constructor(readonly routes: readonly ApiRoute[]) {
    this.compiled = routes.map((route) => {
      const names: string[] = [];
      const source = route.path
        .split('/')
        .map((seg) => {
          const m = /^\{(\w+)\}$/.exec(seg);
          if (!m) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          names.push(m[1]!);
          return '([^/]+)';
        })
        .join('/');
      return { route, pattern: new RegExp(`^${source}$`), names };
    });
  }

  /** Runs the request's handler; throws `API_NOT_FOUND` or `API_METHOD_NOT_ALLOWED` when there is none. */
  async dispatch(method: string, path: string, query: URLSearchParams): Promise<ApiResponse> {
    const allowed: string[] = [];
    for (const c of this.compiled) {
      const m = c.pattern.exec(path);
      if (!m) continue;
      if (c.route.method === method || (method === 'HEAD' && c.route.method === 'GET')) {
        const params: Record<string, string> = {};
        c.names.forEach((n, i) => (params[n] = m[i + 1]!));
        return c.route.handle({ method, path, query, params });
      }
      allowed.push(c.route.method, ...(c.route.method === 'GET' ? ['HEAD'] : []));
    }
    // The path is the client's: echoed back only in part.
    const shown = path.length > 200 ? `${path.slice(0, 200)}…` : path;
    if (allowed.length > 0) {
      const allow = [...new Set(allowed)].join(', ');
      throw new MailsluiceError('API_METHOD_NOT_ALLOWED', `${method} is not allowed on ${shown}; use ${allow}`, { details: { allow } });
    }
    throw new MailsluiceError('API_NOT_FOUND', `no API path ${shown} (GET /api/v1/openapi.json lists them)`);
  }
}
