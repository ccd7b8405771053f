/**
 * What an operator does to a connection (the seeds' "Test connection", "Download log"):
 * `POST /api/v1/connections/{name}/test` (admin: it logs in with the stored credentials) streams
 * the steps of `test-connection` as server-sent events, or answers the whole result as JSON;
 * `POST …/run` (admin) starts a cycle now, outside the schedule window too; `GET …/log` (viewer)
 * pages the connection's own log newest first, `GET …/log/download` streams it whole (rotated
 * files oldest first, then the current one).
 */
import { createRoute, z } from '@hono/zod-openapi';
import { ERROR_CODES, MailsluiceError, type ErrorCode } from '../../core/errors/index.js';
import type { ApiApp } from '../api-app.js';
import { JSON_HEADERS } from '../api-app.js';
import type { ApiDeps, ConnectionActions, ConnectionSettings, ConnectionTestStep } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { recordRequest } from '../audit-request.js';
import { ACCESS_ANSWERS, ConnectionTestSchema, ConnectionTestStepSchema, errorAnswer, jsonAnswer, LogPageSchema, RunNowSchema } from '../schemas.js';
import { connectionStatuses } from './connections.js';
import { KEPT_LOG_CURSOR, LOG_LEVELS, openKeptLog, readKeptLogPage } from '../log-reader.js';

/** Log records per page unless `limit` says otherwise, and the most it may say. */
const DEFAULT_LOG_LIMIT = 100;
const MAX_LOG_LIMIT = 1000;

const nameParam = z.object({ name: z.string().min(1).max(200).openapi({ param: { description: "The connection's system name." } }) });

const notFound = { 404: errorAnswer('No connection with this name (API_NOT_FOUND).') };

function findConnection(deps: ApiDeps, name: string): ConnectionSettings {
  const found = deps.connections.configured().find((c) => c.name === name);
  if (!found) throw new MailsluiceError('API_NOT_FOUND', `no connection ${JSON.stringify(name.slice(0, 100))} (GET /api/v1/connections lists them)`);
  return found;
}

function actionsOf(deps: ApiDeps, what: string): ConnectionActions {
  if (!deps.actions) throw new MailsluiceError('API_NOT_FOUND', `${what} is served by mailsluice start, not by this command`);
  return deps.actions;
}

/** A step as the API shows it: on failure with the catalogue's sentence beside the code. */
function stepBody(s: ConnectionTestStep): z.infer<typeof ConnectionTestStepSchema> {
  const entry = s.code !== undefined && Object.hasOwn(ERROR_CODES, s.code) ? ERROR_CODES[s.code as ErrorCode] : undefined;
  return { step: s.step, ok: s.ok, ms: s.ms, detail: s.detail, ...(s.code !== undefined ? { code: s.code } : {}), ...(entry ? { summary: entry.summary } : {}) };
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

const test = createRoute({
  method: 'post',
  path: '/api/v1/connections/{name}/test',
  operationId: 'testConnection',
  summary: 'Test a connection step by step (role admin)',
  description:
    'Resolves, connects, negotiates TLS, reads the greeting and capabilities, logs in with the stored credentials, opens the mailbox and counts it, under the same STARTTLS downgrade protection as `mailsluice test-connection`; nothing is taken or changed. Streamed as server-sent events: one `step` event per step as it completes, then a `done` event with the whole result. With `?wait=true`, or `Accept: application/json` without `text/event-stream`, the whole result as one JSON document.',
  security: BEARER,
  request: {
    params: nameParam,
    query: z.object({
      wait: z.enum(['true', 'false']).optional().openapi({ param: { description: 'true: answer the whole result at the end, as JSON.' } }),
      probe: z
        .enum(['true', 'false'])
        .optional()
        .openapi({
          param: {
            description:
              "true: the probe test (the seeds' \"test recipients\"): after the steps above, a probe message with a unique Message-ID goes through the connection's `testRelay` to its `testRecipients`, and the steps `send`, `arrive` (in the mailbox, or already archived) and `archive` (found by its Message-ID, marked as a probe; routes skip it) follow, each within `testRelay.waitMs`. 409 PROBE_NOT_CONFIGURED without testRelay or testRecipients.",
          },
        }),
    }),
  },
  responses: {
    200: {
      description: 'The test (it ran: `ok` says whether it passed).',
      content: {
        'text/event-stream': { schema: z.string().openapi({ description: '`event: step` with a ConnectionTestStep, one per step, then `event: done` with a ConnectionTest.' }) },
        'application/json': { schema: ConnectionTestSchema },
      },
    },
    ...ACCESS_ANSWERS,
    ...notFound,
    409: errorAnswer('`probe=true` on a connection without `testRelay` or `testRecipients` (PROBE_NOT_CONFIGURED).'),
  },
});

const run = createRoute({
  method: 'post',
  path: '/api/v1/connections/{name}/run',
  operationId: 'runConnectionNow',
  summary: 'Start a cycle now (role admin)',
  description: "Wakes every runner of the connection (one per folder): a cycle starts at once, also outside its schedule window, in back-off or between polls; after that cycle the schedule and poll interval rule again.",
  security: BEARER,
  request: { params: nameParam },
  responses: {
    202: jsonAnswer('The cycle was asked for; `status` is the state as it was asked.', RunNowSchema),
    ...ACCESS_ANSWERS,
    ...notFound,
    409: errorAnswer('The connection is disabled (CONNECTION_DISABLED).'),
  },
});

const log = createRoute({
  method: 'get',
  path: '/api/v1/connections/{name}/log',
  operationId: 'getConnectionLog',
  summary: "A connection's own log, newest first (role viewer)",
  description:
    'The JSON-lines log of the connection (`logging: full | errors | off`; `dataDir/logs/<name>.log`, then its rotated files `<name>.log.1` … `.N`), newest record first. `next` is a byte offset into the file (`<n>:<offset>` in rotated file n): pass it as `cursor` for the older records; records appended meanwhile do not shift the pages. A page may hold fewer than `limit` records when a `level` filter is rare (8 MiB are scanned per page); go on with `next` until it is null. A log not written yet is empty.',
  security: BEARER,
  request: {
    params: nameParam,
    query: z.object({
      cursor: z
        .string()
        .regex(KEPT_LOG_CURSOR, { error: 'must be the `next` of an earlier page, as it was given' })
        .optional()
        .openapi({ param: { description: 'The `next` of the page before; absent for the newest records.' } }),
      limit: z.coerce.number().int().min(1).max(MAX_LOG_LIMIT).optional().openapi({ param: { description: `Records per page (default ${DEFAULT_LOG_LIMIT}).` }, type: 'integer' }),
      level: z.enum(LOG_LEVELS).optional().openapi({ param: { description: 'Only records at this level or above.' } }),
    }),
  },
  responses: { 200: jsonAnswer('Records newest first, and the cursor of the older ones.', LogPageSchema), ...ACCESS_ANSWERS, ...notFound },
});

const download = createRoute({
  method: 'get',
  path: '/api/v1/connections/{name}/log/download',
  operationId: 'downloadConnectionLog',
  summary: "A connection's own log as a file (role viewer)",
  description: 'The whole kept log (JSON lines): its rotated files oldest first, then the current file, streamed as one attachment named `<name>.log`; empty when none was written yet.',
  security: BEARER,
  request: { params: nameParam },
  responses: {
    200: {
      description: 'The files, byte for byte as of the request (records appended while it streams are not included).',
      headers: {
        'Content-Disposition': { description: '`attachment; filename="<name>.log"`.', schema: { type: 'string' } },
        'Content-Length': { description: 'The size of the files when the request came.', schema: { type: 'integer' } },
      },
      content: { 'application/x-ndjson': { schema: z.string().openapi({ format: 'binary' }) } },
    },
    ...ACCESS_ANSWERS,
    ...notFound,
  },
});

/** Whether a test answers once, as JSON, rather than streaming its steps. */
function wantsWhole(wait: string | undefined, accept: string | undefined): boolean {
  if (wait === 'true') return true;
  if (wait === 'false') return false;
  const a = (accept ?? '').toLowerCase();
  return a.includes('application/json') && !a.includes('text/event-stream');
}

/** The steps as server-sent events while the test runs, the result last. */
function streamTest(actions: ConnectionActions, name: string, probe: boolean): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (text: string): void => {
        try {
          controller.enqueue(enc.encode(text));
        } catch {
          // The client went away: the test still ends (and closes its session) by itself.
        }
      };
      void actions
        .test(name, (s) => send(sse('step', stepBody(s))), { probe })
        .then(
          (r) => send(sse('done', { ...r, steps: r.steps.map(stepBody), warnings: r.warnings ?? [] })),
          (err: unknown) => {
            const e = err instanceof MailsluiceError ? err : new MailsluiceError('INTERNAL', 'the connection test failed unexpectedly');
            send(sse('error', { code: e.code, message: e.message }));
          },
        )
        .finally(() => {
          try {
            controller.close();
          } catch {
            // Already closed by a client that left.
          }
        });
    },
  });
  return new Response(body, {
    status: 200,
    // No buffering by a reverse proxy: each step is worth seeing as it happens.
    headers: { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' },
  });
}

/** The connection actions resource. */
export function connectionActionRoutes(app: ApiApp, deps: ApiDeps): void {
  const admin = requireRole(deps.authorize, 'admin');
  const viewer = requireRole(deps.authorize, 'viewer');
  app.openapi({ ...test, middleware: [admin] }, async (c) => {
    const { name } = c.req.valid('param');
    findConnection(deps, name);
    const actions = actionsOf(deps, 'testing a connection');
    const query = c.req.valid('query');
    const probe = query.probe === 'true';
    // Refused before anything is sent or streamed: a 409 rather than an error event mid-stream.
    if (probe) actions.assertProbe(name);
    // It logs in with the stored credentials: who did so is on the audit log first.
    await recordRequest(c, deps, 'connection.test', { connection: name, ...(probe ? { probe: true } : {}) });
    if (!wantsWhole(query.wait, c.req.header('accept'))) return streamTest(actions, name, probe);
    const r = await actions.test(name, () => undefined, { probe });
    return c.json({ ...r, steps: r.steps.map(stepBody), warnings: r.warnings ?? [] }, 200, JSON_HEADERS);
  });
  app.openapi({ ...run, middleware: [admin] }, async (c) => {
    const { name } = c.req.valid('param');
    const conn = findConnection(deps, name);
    if (!conn.enabled) throw new MailsluiceError('CONNECTION_DISABLED', `connection ${name} is disabled: enable it before asking it for a cycle`);
    await recordRequest(c, deps, 'connection.run', { connection: name });
    const runners = actionsOf(deps, 'running a connection now').runNow(name);
    const status = (await connectionStatuses(deps, true)).find((s) => s.name === name)!;
    return c.json({ name, runners, status }, 202, JSON_HEADERS);
  });
  app.openapi({ ...log, middleware: [viewer] }, async (c) => {
    const { name } = c.req.valid('param');
    findConnection(deps, name);
    const q = c.req.valid('query');
    const file = actionsOf(deps, "a connection's log").logFile(name);
    const page = await readKeptLogPage(file, { limit: q.limit ?? DEFAULT_LOG_LIMIT, ...(q.cursor !== undefined ? { cursor: q.cursor } : {}), ...(q.level ? { level: q.level } : {}) });
    return c.json(page, 200, JSON_HEADERS);
  });
  app.openapi({ ...download, middleware: [viewer] }, async (c) => {
    const { name } = c.req.valid('param');
    findConnection(deps, name);
    const file = actionsOf(deps, "a connection's log").logFile(name);
    // The rotated files oldest first, then the current one, each opened before it is measured.
    const { size, stream: body } = await openKeptLog(file);
    const headers = {
      'Content-Type': 'application/x-ndjson; charset=utf-8',
      'Content-Length': String(size),
      // System names are Latin letters, digits and _ only: nothing to escape.
      'Content-Disposition': `attachment; filename="${name}.log"`,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    };
    // `as never`: the typings allow an `application/…json` content only a typed JSON answer, and
    // JSON lines streamed as bytes are not one.
    return new Response(body, { status: 200, headers }) as never;
  });
}
