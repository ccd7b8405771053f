/**
 * Microsoft Graph's error answers ("Microsoft Graph error responses and resource types"): a JSON
 * body `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}` with
 * the HTTP status, and the helpers that write JSON answers the way Graph does.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';

/** An error a Graph handler throws; the router turns it into the documented JSON shape. */
export class GraphError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The answer of one request (also what a `$batch` response item carries). */
export interface GraphAnswer {
  status: number;
  headers: Record<string, string>;
  /** A JSON value, or raw bytes streamed (only `$value`), or nothing (204). */
  body?: unknown;
  raw?: Buffer;
}

/** The body Graph sends for an error. */
export function errorBody(code: string, message: string, clientRequestId?: string): unknown {
  return {
    error: {
      code,
      message,
      innerError: { date: new Date().toISOString().replace(/\.\d{3}Z$/, ''), 'request-id': randomUUID(), 'client-request-id': clientRequestId ?? randomUUID() },
    },
  };
}

/** A GraphError as an answer. */
export function errorAnswer(e: GraphError, clientRequestId?: string): GraphAnswer {
  return { status: e.status, headers: { 'Content-Type': 'application/json', ...e.headers }, body: errorBody(e.code, e.message, clientRequestId) };
}

/** A JSON answer, as Graph labels its OData JSON. */
export function jsonAnswer(status: number, body: unknown, headers: Record<string, string> = {}): GraphAnswer {
  return { status, headers: { 'Content-Type': 'application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8', ...headers }, body };
}

/** Writes a JSON value with its length. */
export function writeJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const b = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers, 'Content-Length': b.length });
  res.end(b);
}

/** The common errors, named once. */
export const errors = {
  badRequest: (message: string): GraphError => new GraphError(400, 'BadRequest', message),
  notFound: (): GraphError => new GraphError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.'),
  malformedId: (): GraphError => new GraphError(400, 'ErrorInvalidIdMalformed', 'Id is malformed.'),
  methodNotAllowed: (): GraphError => new GraphError(405, 'BadRequest', 'The HTTP method is not supported for this resource.'),
  noResource: (path: string): GraphError => new GraphError(400, 'BadRequest', `Resource not found for the segment '${path}'.`),
};
