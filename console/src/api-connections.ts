/**
 * The Connections section's calls to the API beyond `api.ts`'s: one connection with every setting
 * and the file's version (its `ETag`), create, change (a JSON merge patch with `If-Match`),
 * delete, enable/disable, and the test streamed step by step (server-sent events read from the
 * fetch body). The requests that need a header `call` does not send (`If-Match`) or read the
 * answer as a stream go through `api.ts`'s `request`.
 */
import { ApiFailure, call, request, seg, type Connection, type ConnectionTest, type TestStep } from './api.js';

/** Every setting of a connection (`ConnectionStoredSettings`); no secret, `secretsSet` names those held. */
export interface StoredSettings {
  description: string;
  logging: string;
  host: string;
  port: number;
  tlsPort: number;
  security: string;
  tls: { verify: boolean; minVersion: string; servername?: string };
  auth: { type: string; username?: string; domain?: string; tokenUrl?: string; clientId?: string; scope?: string; disablePlain: boolean; apop: boolean };
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
  graph?: { tenant: string; clientId: string; mailbox: string; folder: string; authority: string; endpoint: string; scope?: string };
  secretsSet: string[];
}

/** A connection as `GET /api/v1/connections/{name}` answers it. */
export interface ConnectionDetail extends Connection {
  settings?: StoredSettings;
}

const base = (name: string): string => `/api/v1/connections/${seg(name)}`;

/** One connection with every setting, and the configuration file's version to send back as `If-Match`. */
export async function getConnection(name: string): Promise<{ connection: ConnectionDetail; etag: string | null }> {
  const res = await request('GET', base(name));
  return { connection: (await res.json()) as ConnectionDetail, etag: res.headers.get('etag') };
}

/** Adds a connection (`POST`, the configuration file's shape as JSON). */
export async function createConnection(body: Record<string, unknown>): Promise<void> {
  await request('POST', '/api/v1/connections', { body });
}

/** Changes a connection: a JSON merge patch of the keys changed, against version `etag`. */
export async function patchConnection(name: string, patch: Record<string, unknown>, etag: string | null): Promise<void> {
  await request('PATCH', base(name), { body: patch, headers: etag ? { 'if-match': etag } : {} });
}

/** Removes a connection (what it archived stays). */
export async function deleteConnection(name: string): Promise<void> {
  await request('DELETE', base(name));
}

/** Enables or disables a connection. */
export async function setEnabled(name: string, enabled: boolean): Promise<void> {
  await request('POST', `${base(name)}/${enabled ? 'enable' : 'disable'}`);
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
  const res = await request('POST', `${base(name)}/test`, { headers: { accept: 'text/event-stream' } });
  try {
    if (!res.body || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) throw new Error('not a stream');
    return await readTestStream(res, onStep);
  } catch (err) {
    if (err instanceof ApiFailure) throw err;
    return call<ConnectionTest>('POST', `${base(name)}/test?wait=true`);
  }
}
