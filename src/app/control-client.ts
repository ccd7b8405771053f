/**
 * The command line's side of the control socket (ADR 0025; issue 14, item 8): while a `start`
 * holds the data directory, the commands that read the archive or change tokens send their
 * request to it over `<dataDir>/control.sock` as API requests, so the one writer does (and
 * audits) every read and no command is blocked by its lock. With no service, the command does
 * the work itself as before.
 */
import { request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { existsSync } from 'node:fs';
import { dataDirHeld } from '../adapters/store-sqlite/index.js';
import { ERROR_CODES, type ErrorCode } from '../core/errors/codes.js';
import { MailsluiceError } from '../core/errors/index.js';
import { cliUser } from './audit.js';
import { CONTROL_USER_HEADER, controlSocketPath } from './control-socket-path.js';

/** Query parameters; undefined ones are left out. */
export type Query = Record<string, string | undefined>;

/** A running service, reached through its control socket. */
export interface ControlClient {
  /** The socket's path. */
  readonly path: string;
  /** A JSON request; an error answer `{ code, message }` is thrown as that `MailsluiceError`. */
  json<T>(method: string, path: string, query?: Query, body?: unknown): Promise<T>;
  /** A request (GET unless `method` says) whose answer is streamed (an export, a log file, server-sent events); an error answer is thrown as above. */
  stream(path: string, query?: Query, method?: string): Promise<IncomingMessage>;
}

/** How long a command waits for the socket to accept before it says the service does not answer. */
const CONNECT_TIMEOUT_MS = 5_000;

function withQuery(path: string, query: Query = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** Whether a connect to the socket is answered (false: refused or gone: no one listens). */
function answers(socketPath: string): Promise<{ ok: true } | { ok: false; code: string }> {
  return new Promise((resolve) => {
    const s = connect({ path: socketPath });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ ok: false, code: 'ETIMEDOUT' });
    }, CONNECT_TIMEOUT_MS);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve({ ok: true });
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ ok: false, code: err.code ?? err.message });
    });
  });
}

function unreachable(socketPath: string, why: string): MailsluiceError {
  return new MailsluiceError(
    'CONTROL_SOCKET_UNREACHABLE',
    `a mailsluice service holds the data directory but its control socket ${socketPath} does not answer (${why}); try again in a moment, or stop the service to run this command on the archive directly`,
    { details: { socket: socketPath } },
  );
}

/** The answer's body as text. */
async function text(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** An error answer as the error it names (a code this build does not know: `INTERNAL`). */
async function answerError(res: IncomingMessage): Promise<MailsluiceError> {
  const body = await text(res);
  try {
    const e = JSON.parse(body) as { code?: string; message?: string };
    if (typeof e.code === 'string' && e.code in ERROR_CODES) return new MailsluiceError(e.code as ErrorCode, String(e.message ?? e.code));
  } catch {
    // not the API's error body
  }
  return new MailsluiceError('INTERNAL', `the service answered ${res.statusCode} through its control socket: ${body.slice(0, 200)}`);
}

function client(socketPath: string): ControlClient {
  const send = (method: string, path: string, query: Query | undefined, body: unknown): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request(
        {
          socketPath,
          method,
          path: withQuery(path, query),
          headers: {
            host: 'localhost',
            [CONTROL_USER_HEADER]: cliUser(),
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.byteLength) } : {}),
          },
        },
        (res) => {
          if ((res.statusCode ?? 500) >= 400) answerError(res).then(reject, reject);
          else resolve(res);
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => reject(unreachable(socketPath, err.code ?? err.message)));
      req.end(payload);
    });
  return {
    path: socketPath,
    async json<T>(method: string, path: string, query?: Query, body?: unknown): Promise<T> {
      return JSON.parse(await text(await send(method, path, query, body))) as T;
    },
    stream: (path, query, method = 'GET') => send(method, path, query, undefined),
  };
}

/**
 * The service holding `dataDir`, when one serves its control socket; null when the command should
 * do the work itself: no socket, or one a dead service left (the data directory's lock is free).
 * A socket that does not answer while the lock is held is `CONTROL_SOCKET_UNREACHABLE`, naming it:
 * the command must not work beside a service that is alive but unreachable as if none ran.
 */
export async function connectService(dataDir: string): Promise<ControlClient | null> {
  const socketPath = controlSocketPath(dataDir);
  if (!existsSync(socketPath)) return null;
  const probe = await answers(socketPath);
  if (probe.ok) return client(socketPath);
  if (!dataDirHeld(dataDir)) return null;
  throw unreachable(socketPath, probe.code);
}
