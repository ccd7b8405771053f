/**
 * The console's one way to the service: the public API (src/api/README.md), same origin, with
 * the session cookie the browser keeps (HttpOnly: no script here sees it) and the CSRF token
 * (ADR 0028) on every request that changes something.
 */

/** The API's error body. */
export interface ApiError {
  status: number;
  code: string;
  message: string;
  /** A 400 of a rejected body: each problem by its dotted field (`port`, `auth.password`, `scenario.0.url`). */
  problems?: Array<{ field: string; message: string }>;
}

/** Who is signed in, as `POST`/`GET /api/v1/session` answer. */
export interface Session {
  principal: { name: string; role: string };
  csrfToken: string;
  expiresAt: string;
}

let csrf = '';

/** Thrown for every answer that is not 2xx. */
export class ApiFailure extends Error {
  constructor(readonly error: ApiError) {
    super(error.message);
  }
}

/** The API's error of a failed answer (its JSON body, else the status alone). */
async function failureOf(res: Response): Promise<ApiFailure> {
  let e: Partial<ApiError> = {};
  try {
    e = ((await res.json()) ?? {}) as Partial<ApiError>;
  } catch {
    // not JSON: the status says enough
  }
  return new ApiFailure({ status: res.status, code: e.code ?? `HTTP_${res.status}`, message: e.message ?? res.statusText, ...(Array.isArray(e.problems) ? { problems: e.problems } : {}) });
}

/** What a request may add: a JSON body and headers of its own (`If-Match`, `Accept`). */
export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
}

/**
 * One request to the API with the CSRF token on every request that changes something: the
 * answer itself when 2xx (for a caller that needs its headers or its stream), else an
 * {@link ApiFailure} with the API's code, sentence and (for a rejected body) its problems by field.
 */
export async function request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, credentials: 'same-origin', ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}) });
  } catch (err) {
    throw new ApiFailure({ status: 0, code: 'NETWORK', message: String((err as Error).message) });
  }
  if (!res.ok) throw await failureOf(res);
  return res;
}

/** One request answered with JSON (null for an empty answer): every page's calls go through here or {@link request}. */
export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const text = await (await request(method, path, body !== undefined ? { body } : {})).text();
  return (text ? JSON.parse(text) : null) as T;
}

/** Whether `err` is the API saying the session ended (401): the page hands it to `onSessionEnded`. */
export function sessionEnded(err: unknown): boolean {
  return err instanceof ApiFailure && err.error.status === 401;
}

/** A path segment, encoded. */
export const seg = (s: string): string => encodeURIComponent(s);

/** Signs in with an API token; the answer's CSRF token is kept for later requests. */
export async function signIn(token: string): Promise<Session> {
  const s = await call<Session>('POST', '/api/v1/session', { token });
  csrf = s.csrfToken;
  return s;
}

/** The live session of this browser (after a reload), or null when none. */
export async function currentSession(): Promise<Session | null> {
  try {
    const s = await call<Session>('GET', '/api/v1/session');
    csrf = s.csrfToken;
    return s;
  } catch (err) {
    if (err instanceof ApiFailure && err.error.status === 401) return null;
    throw err;
  }
}

/** Ends the session (the cookie is cleared by the answer). */
export async function signOut(): Promise<void> {
  try {
    await call<unknown>('DELETE', '/api/v1/session');
  } finally {
    csrf = '';
  }
}

/** A connection as `GET /api/v1/connections` lists it (the fields the console uses). */
export interface Connection {
  name: string;
  enabled: boolean;
  protocol: string;
  host: string;
  port: number;
  /** EWS only: the URL (no scheme, always HTTPS) and the Exchange version. */
  ews?: { url: string; version: string };
}

/** Where a connection connects, for a table cell: host:port, or an EWS connection's URL. */
export function connectionAddress(c: Pick<Connection, 'host' | 'port' | 'ews'>): string {
  return c.ews ? `https://${c.ews.url} (Exchange ${c.ews.version})` : `${c.host}:${c.port}`;
}

/** A connection's live status (`GET /api/v1/connections/{name}/status`; the fields used). */
export interface ConnectionStatus {
  name: string;
  enabled: boolean;
  state: string | null;
  taken: number;
  backlog: number;
  rateLastMinute: number;
  lastError: { code: string; message: string; at: string } | null;
}

export async function listConnections(): Promise<Connection[]> {
  return (await call<{ connections: Connection[] }>('GET', '/api/v1/connections')).connections;
}

export async function connectionStatus(name: string): Promise<ConnectionStatus> {
  return call<ConnectionStatus>('GET', `/api/v1/connections/${encodeURIComponent(name)}/status`);
}

/** Starts a cycle of the connection's runners now (admin; `POST …/run`, with the CSRF token). */
export async function runNow(name: string): Promise<{ runners: number }> {
  return call<{ runners: number }>('POST', `/api/v1/connections/${encodeURIComponent(name)}/run`);
}

/** One step of a connection test (`ConnectionTestStep`). */
export interface TestStep {
  step: string;
  ok: boolean;
  ms: number;
  detail: string;
  code?: string;
  summary?: string;
}

/** A whole connection test (`ConnectionTest`; the fields used). */
export interface ConnectionTest {
  ok: boolean;
  steps: TestStep[];
  messages?: number;
  warnings: string[];
}

/** Where the connection's whole kept log downloads from (a GET: the cookie suffices). */
export function logDownloadUrl(name: string): string {
  return `/api/v1/connections/${encodeURIComponent(name)}/log/download`;
}
