/**
 * The Connections section's calls to the API beyond `api.ts`'s: one connection with every setting
 * and the file's version (its `ETag`), create, change (a JSON merge patch with `If-Match`),
 * delete, enable/disable, and the test streamed step by step (server-sent events read from the
 * fetch body). The requests that need a header `call` does not send (`If-Match`) or read the
 * answer as a stream go through {@link send}, which answers and fails as `call` does.
 */
import { ApiFailure, call, seg, type ApiError, type Connection, type ConnectionTest, type TestStep } from './api.js';

/** Every setting of a connection (`ConnectionStoredSettings`); no secret, `secretsSet` names those held. */
export interface StoredSettings {
  description: string;
  logging: string;
  host: string;
  port: number;
  tlsPort: number;
  security: string;
  tls: { verify: boolean; minVersion: string; servername?: string };
  auth: { type: string; username?: string; domain?: string; disablePlain: boolean; apop: boolean };
  mailbox: string | string[];
  pollIntervalMs: number;
  maxMessagesPerCycle: number;
  unseenOnly: boolean;
  idle: boolean;
  idleSafetyPollMs: number;
  partialFetch: boolean;
  deletePolicy: string;
  moveTo?: string;
  expungeEvery: number;
  connectTimeoutMs: number;
  dataTimeoutMs: number;
  schedule: 'any-time' | { timezone: string; windows: Array<{ days: string[]; from: string; to: string }> };
  testRecipients: string[];
  testRelay?: {
    host: string;
    port: number;
    protocol: string;
    security: string;
    tls: { verify: boolean; servername?: string };
    auth?: { user: string };
    from: string;
    timeoutMs: number;
    waitMs: number;
  };
  ews?: { url: string; version: string };
  secretsSet: string[];
}

/** A connection as `GET /api/v1/connections/{name}` answers it. */
export interface ConnectionDetail extends Connection {
  settings?: StoredSettings;
}

const base = (name: string): string => `/api/v1/connections/${seg(name)}`;

let csrf: string | null = null;

/** The session's CSRF token (`api.ts` keeps its own private): asked of `GET /api/v1/session` once. */
async function csrfToken(): Promise<string> {
  if (csrf === null) csrf = (await call<{ csrfToken: string }>('GET', '/api/v1/session')).csrfToken;
  return csrf;
}

/** The API's error of a failed answer, as `call` builds it. */
async function failure(res: Response): Promise<ApiFailure> {
  let e: Partial<ApiError> = {};
  try {
    e = (await res.json()) as Partial<ApiError>;
  } catch {
    // not JSON: the status says enough
  }
  return new ApiFailure({ status: res.status, code: e.code ?? `HTTP_${res.status}`, message: e.message ?? res.statusText, ...(Array.isArray(e.problems) ? { problems: e.problems } : {}) });
}

/**
 * One request with extra headers and the CSRF token; the answer itself (2xx) or an
 * {@link ApiFailure}. A token refused (this page signed in again since it was asked for) is asked
 * for again, and the request sent once more.
 */
async function send(method: string, path: string, init: { body?: unknown; headers?: Record<string, string> } = {}, retried = false): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = await csrfToken();
  let res: Response;
  try {
    res = await fetch(path, { method, headers, credentials: 'same-origin', ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}) });
  } catch (err) {
    throw new ApiFailure({ status: 0, code: 'NETWORK', message: String((err as Error).message) });
  }
  if (res.ok) return res;
  const f = await failure(res);
  if (f.error.code !== 'API_CSRF_REJECTED' || retried) throw f;
  csrf = null;
  return send(method, path, init, true);
}

/** One connection with every setting, and the configuration file's version to send back as `If-Match`. */
export async function getConnection(name: string): Promise<{ connection: ConnectionDetail; etag: string | null }> {
  const res = await send('GET', base(name));
  return { connection: (await res.json()) as ConnectionDetail, etag: res.headers.get('etag') };
}

/** Adds a connection (`POST`, the configuration file's shape as JSON). */
export async function createConnection(body: Record<string, unknown>): Promise<void> {
  await send('POST', '/api/v1/connections', { body });
}

/** Changes a connection: a JSON merge patch of the keys changed, against version `etag`. */
export async function patchConnection(name: string, patch: Record<string, unknown>, etag: string | null): Promise<void> {
  await send('PATCH', base(name), { body: patch, headers: etag ? { 'if-match': etag } : {} });
}

/** Removes a connection (what it archived stays). */
export async function deleteConnection(name: string): Promise<void> {
  await send('DELETE', base(name));
}

/** Enables or disables a connection. */
export async function setEnabled(name: string, enabled: boolean): Promise<void> {
  await send('POST', `${base(name)}/${enabled ? 'enable' : 'disable'}`);
}

/** One server-sent event's name and JSON data, from its lines. */
function parseEvent(block: string): { event: string; data: unknown } | null {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
  }
  if (data.length === 0) return null;
  try {
    return { event, data: JSON.parse(data.join('\n')) };
  } catch {
    return null;
  }
}

/** Reads the test's event stream: each `step` to `onStep`, the `done` result returned; an `error` event throws. */
async function readTestStream(res: Response, onStep: (s: TestStep) => void): Promise<ConnectionTest> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buffered += value.replace(/\r\n/g, '\n');
    let cut: number;
    while ((cut = buffered.indexOf('\n\n')) >= 0) {
      const e = parseEvent(buffered.slice(0, cut));
      buffered = buffered.slice(cut + 2);
      if (e?.event === 'step') onStep(e.data as TestStep);
      else if (e?.event === 'done') return e.data as ConnectionTest;
      else if (e?.event === 'error') throw new ApiFailure({ status: 500, ...(e.data as { code: string; message: string }) });
    }
    if (done) throw new Error('the test stream ended without a result');
  }
}

/**
 * Tests the connection with its stored credentials, telling `onStep` each step as the service
 * streams it; where the stream cannot be read (no readable body, a proxy that buffers and breaks
 * it), the whole result is asked for again with `?wait=true`.
 */
export async function testConnectionStreamed(name: string, onStep: (s: TestStep) => void): Promise<ConnectionTest> {
  const res = await send('POST', `${base(name)}/test`, { headers: { accept: 'text/event-stream' } });
  try {
    if (!res.body || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) throw new Error('not a stream');
    return await readTestStream(res, onStep);
  } catch (err) {
    if (err instanceof ApiFailure) throw err;
    return call<ConnectionTest>('POST', `${base(name)}/test?wait=true`);
  }
}
