/**
 * The one place that turns an error into an HTTP answer: catalogue code → status, and the JSON
 * body `{ code, message }` every error answer of the API has. Handlers throw `MailsluiceError`s
 * as everywhere else; they never pick a status for an error themselves.
 */
import type { ErrorCode, MailsluiceError } from '../core/errors/index.js';

/** Codes with a status of their own; any other code is a failure of ours (5xx). */
export const ERROR_STATUS: Readonly<Partial<Record<ErrorCode, number>>> = {
  API_BAD_REQUEST: 400,
  SEARCH_QUERY_INVALID: 400,
  API_UNAUTHORIZED: 401,
  API_FORBIDDEN: 403,
  API_CSRF_REJECTED: 403,
  API_NOT_FOUND: 404,
  API_METHOD_NOT_ALLOWED: 405,
  CONNECTION_DISABLED: 409,
  API_RATE_LIMITED: 429,
  CONFIG_CONFLICT: 409,
  CONFIG_EXISTS: 409,
  // An edit of a file made unreadable by hand: the state on disk, not the request, is at fault.
  CONFIG_INVALID: 409,
  TOKEN_NOT_FOUND: 404,
  TOKEN_EXISTS: 409,
  PROBE_NOT_CONFIGURED: 409,
  AUDIT_RETENTION_NOT_SET: 409,
  HOLD_INVALID: 400,
  HOLD_EXISTS: 409,
  HOLD_NOT_FOUND: 404,
  HOLD_RELEASED: 409,
};

/** The HTTP status of an error: its own, else 503 when trying again later may work, else 500. */
export function httpStatusOf(err: MailsluiceError): number {
  return ERROR_STATUS[err.code] ?? (err.retryable ? 503 : 500);
}

/** The JSON body of an error answer. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** Every problem of a rejected body, by field (`details.problems` of an `API_BAD_REQUEST`). */
  problems?: FieldProblem[];
}

/** One problem of a request body, named by its dotted field. */
export interface FieldProblem {
  field: string;
  message: string;
}

/** `details.problems` when it is a list of field problems, else undefined. */
function fieldProblems(details: Record<string, unknown> | undefined): FieldProblem[] | undefined {
  const list = details?.fieldProblems;
  if (!Array.isArray(list)) return undefined;
  return list
    .filter((p: Partial<FieldProblem> | null) => typeof p?.field === 'string')
    .slice(0, 100)
    .map((p: FieldProblem) => ({ field: p.field, message: String(p.message) }));
}

/** An error answer before it is sent. */
export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The answer for an error; `details.allow` becomes the `Allow` header of a 405. */
export function errorResponse(err: MailsluiceError): ErrorAnswer {
  const status = httpStatusOf(err);
  // A 5xx carries its code and no sentence: the sentence may name files of the data directory,
  // which are the operator's business (the service log has it), not a receiver's.
  const message = status >= 500 ? `the archive could not answer this request (${err.code}); the service log has the details` : err.message;
  const problems = status === 400 ? fieldProblems(err.details) : undefined;
  const body: ErrorBody = { code: err.code, message, ...(problems ? { problems } : {}) };
  const headers: Record<string, string> = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' };
  const allow = err.details?.allow;
  if (status === 405 && typeof allow === 'string') headers.Allow = allow;
  const retryAfter = err.details?.retryAfterSeconds;
  if ((status === 503 || status === 429) && typeof retryAfter === 'number') headers['Retry-After'] = String(retryAfter);
  if (status === 401) headers['WWW-Authenticate'] = 'Bearer';
  return { status, headers, body: JSON.stringify(body) };
}
