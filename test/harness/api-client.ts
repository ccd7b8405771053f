/**
 * Talking to a running service's management API as an operator's script would: a token from
 * `mailsluice token create`, JSON requests with `Authorization: Bearer`, and waiting for `start`
 * to be ready. Shared by the API's end-to-end tests.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { makeWorkspace, runCli, spawnCli, type Workspace } from './cli.js';
import { freePort } from './free-port.js';

/** A JSON answer's body. */
export type Body = Record<string, unknown>;

/** An answer: its status, the parsed body (`{}` when not JSON), its text and its ETag. */
export interface ApiAnswer {
  status: number;
  body: Body;
  raw: string;
  etag: string | null;
}

/**
 * One request; `body` is sent as JSON, `ifMatch` as `If-Match` (a configuration edit's ETag).
 * Answers the status, the parsed body, its text and the ETag.
 */
export async function callApi(url: string, token?: string, init: { method?: string; body?: unknown; ifMatch?: string } = {}): Promise<ApiAnswer> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (init.ifMatch !== undefined) headers['if-match'] = init.ifMatch;
  const res = await fetch(url, { method: init.method ?? 'GET', headers, ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}) });
  const raw = await res.text();
  let body: Body = {};
  try {
    body = JSON.parse(raw) as Body;
  } catch {
    // not JSON (a raw message, the metrics text): `raw` has it
  }
  return { status: res.status, body, raw, etag: res.headers.get('etag') };
}

/** `callApi` with its arguments in line: the method, then the JSON body and the `If-Match` ETag if any. */
export async function send(url: string, token: string | undefined, method: string, body?: unknown, ifMatch?: string): Promise<ApiAnswer> {
  return callApi(url, token, { method, body, ...(ifMatch !== undefined ? { ifMatch } : {}) });
}

/** A new API token with `role`, made with the CLI on the workspace's archive (which must exist). */
export async function createToken(ws: Workspace, name: string, role: 'viewer' | 'auditor' | 'admin'): Promise<string> {
  const r = await runCli(['token', 'create', '--name', name, '--role', role, '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { token: string; name: string; role: string };
  assert.deepEqual([out.name, out.role], [name, role]);
  return out.token;
}

/** Waits until `/readyz` at `base` answers 200, failing with the service's stderr after 30 s. */
export async function waitReady(base: string, stderr: () => string): Promise<void> {
  const until = Date.now() + 30_000;
  while ((await fetch(`${base}/readyz`).catch(() => null))?.status !== 200) {
    assert.ok(Date.now() < until, `/readyz never answered 200 (stderr: ${stderr()})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A running `start`: its process, what it wrote to stderr, and a stop that expects exit 0. */
export interface RunningService {
  child: ReturnType<typeof spawnCli>;
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts `start` on the workspace and waits for its `/readyz`. */
export async function startService(ws: Workspace, base: string, env: NodeJS.ProcessEnv = {}): Promise<RunningService> {
  const child = spawnCli(['start'], ws, env);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const service: RunningService = {
    child,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const [code] = (await once(child, 'exit')) as [number | null];
        assert.equal(code, 0, stderr);
      }
    },
  };
  try {
    await waitReady(base, () => stderr);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return service;
}

/**
 * A workspace whose configuration serves the API on a free loopback port, drained once (so its
 * archive exists: tokens live in it); `drainCode` is the exit the drain must end with.
 */
export async function drainedWithApi(config: Record<string, unknown>, drainCode = 0): Promise<{ ws: Workspace; base: string; drained: Awaited<ReturnType<typeof runCli>> }> {
  const port = await freePort();
  const ws = makeWorkspace({ ...config, api: { listen: `127.0.0.1:${port}`, ...((config.api as object | undefined) ?? {}) } });
  const drained = await runCli(['drain'], ws);
  assert.equal(drained.code, drainCode, drained.stderr);
  return { ws, base: `http://127.0.0.1:${port}`, drained };
}
