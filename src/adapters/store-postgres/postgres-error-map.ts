/**
 * node-postgres and socket errors → the error catalogue, with a sentence an operator can act on.
 * The three an operator meets first get their own sentence and `details.reason`: nothing listens
 * (`unreachable`, retryable), the server refuses the user or password (`auth-failed`), the
 * database does not exist (`no-such-database`); all three are `STORE_UNAVAILABLE`, as for the
 * object store: the archive is not damaged, it cannot be reached. Anything else failing a write is
 * `STORE_WRITE_FAILED` (nothing was taken from the server), failing a read `STORE_UNAVAILABLE`.
 */
import { MailsluiceError } from '../../core/errors/index.js';

const NETWORK: Record<string, string> = {
  ECONNREFUSED: 'connection refused: nothing listens there',
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was closed mid-query',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved (DNS temporarily failing)',
};

/** SQLSTATEs (PostgreSQL appendix A) of a server that is there but cannot serve now: retried. */
const RETRYABLE_STATES = new Set([
  '57P01', // admin_shutdown (the server is restarting)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up)
  '53300', // too_many_connections
  '08000', '08003', '08006', '08001', '08004', // connection exceptions
  '40001', // serialization_failure
  '40P01', // deadlock_detected
]);

/** Where the error happened, for the sentence: the server (no password) and what was being done. */
export interface PostgresErrorContext {
  /** `host:port/database`. */
  server: string;
  /** "committing 64 messages", "reading the sync state of j INBOX"… */
  doing: string;
  /** Whether the statement wrote (an unknown failure of a write is STORE_WRITE_FAILED). */
  write?: boolean;
}

interface PgError {
  code?: string;
  message?: string;
  cause?: unknown;
}

function errno(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as PgError).cause, depth++) {
    const code = (e as PgError).code;
    if (typeof code === 'string' && NETWORK[code]) return code;
    // AggregateError (localhost resolving to ::1 and 127.0.0.1) carries the socket errors inside.
    const inner = (e as { errors?: unknown[] }).errors;
    if (Array.isArray(inner) && inner[0]) return errno(inner[0]);
  }
  const text = (err as PgError | null)?.message ?? '';
  if (/timeout expired|Connection terminated/i.test(text)) return 'ETIMEDOUT';
  return undefined;
}

/** The SQLSTATE of a server error, or undefined for a socket error. */
export function pgState(err: unknown): string | undefined {
  const code = (err as PgError | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Maps any error of a query or of opening a connection. A MailsluiceError passes unchanged. */
export function mapPostgresError(err: unknown, ctx: PostgresErrorContext): MailsluiceError {
  if (err instanceof MailsluiceError) return err;
  const state = pgState(err);
  const details: Record<string, unknown> = { server: ctx.server, ...(state ? { sqlState: state } : {}) };
  const net = state === undefined ? errno(err) : undefined;
  if (net !== undefined) {
    return new MailsluiceError('STORE_UNAVAILABLE', `cannot reach PostgreSQL at ${ctx.server} (${NETWORK[net] ?? net}) ${ctx.doing}; it is tried again`, {
      cause: err,
      details: { ...details, reason: 'unreachable', errno: net },
    });
  }
  if (state === '28P01' || state === '28000') {
    return new MailsluiceError('STORE_UNAVAILABLE', `PostgreSQL at ${ctx.server} refused mailsluice ${ctx.doing}: ${state === '28P01' ? 'wrong password' : 'the user may not connect (pg_hba.conf)'}; check the user and password in scaleOut.postgres.url and the server's pg_hba.conf`, {
      cause: err,
      retryable: false,
      details: { ...details, reason: 'auth-failed' },
    });
  }
  if (state === '3D000') {
    return new MailsluiceError('STORE_UNAVAILABLE', `the database named in scaleOut.postgres.url does not exist on ${ctx.server}; create it (mailsluice creates its schema, never a database) or fix the URL`, {
      cause: err,
      retryable: false,
      details: { ...details, reason: 'no-such-database' },
    });
  }
  const text = err instanceof Error ? err.message : String(err);
  if (state !== undefined && RETRYABLE_STATES.has(state)) {
    return new MailsluiceError('STORE_UNAVAILABLE', `PostgreSQL at ${ctx.server} cannot serve now (${state} ${text}) ${ctx.doing}; it is tried again`, { cause: err, details: { ...details, reason: 'server-error' } });
  }
  if (ctx.write) return new MailsluiceError('STORE_WRITE_FAILED', `PostgreSQL at ${ctx.server} refused ${ctx.doing} (${state ?? ''} ${text})`.replace('( ', '('), { cause: err, details });
  return new MailsluiceError('STORE_UNAVAILABLE', `PostgreSQL at ${ctx.server} failed ${ctx.doing} (${state ?? ''} ${text})`.replace('( ', '('), { cause: err, retryable: false, details });
}
