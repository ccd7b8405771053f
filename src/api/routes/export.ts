/**
 * Export of a search result (auditor): `GET /api/v1/messages/export?format=mbox|zip&<filters>`,
 * recorded on the audit log with its query first, then streamed one message at a time (each
 * raw message read when the client has taken the one before, held against the byte budget only
 * while it is written), so an export of any size never sits in memory whole.
 *
 * - `mbox` (mboxrd): each message after a `From ` line, its lines that begin with `>*From `
 *   quoted with one more `>`, a blank line after it (and a newline first when it ends without).
 * - `zip`: `<sha256>.eml` per message, stored as taken (the SHA-256 of each file is its name),
 *   and a `manifest.json` `{ messages: [{ file, sha256, size }] }` written last.
 */
import { Readable } from 'node:stream';
import { createRoute, z } from '@hono/zod-openapi';
import yazl from 'yazl';
import { MailsluiceError } from '../../core/errors/index.js';
import type { SearchHit } from '../../core/ports/search-index.js';
import type { ApiApp } from '../api-app.js';
import { API_TUNING, type ApiDeps } from '../api-server-config.js';
import { BEARER, requireRole } from '../access.js';
import { ATTACHMENT_SAFETY_HEADERS } from '../attachment-headers.js';
import { ACCESS_ANSWERS, errorAnswer } from '../schemas.js';
import { recordRequest } from '../audit-request.js';
import { findMessage, SearchParams, searchQuery } from './messages.js';

const ExportParams = SearchParams.omit({ cursor: true, limit: true, excerpts: true }).extend({
  format: z.enum(['mbox', 'zip']).openapi({ param: { description: '`mbox` (mboxrd) or `zip` (`<sha256>.eml` files and `manifest.json`).' } }),
});

const exportRoute = createRoute({
  method: 'get',
  path: '/api/v1/messages/export',
  operationId: 'exportMessages',
  summary: 'Export the messages a search finds, as mbox or zip (role auditor)',
  description: `Every message the filters match (as \`GET /api/v1/messages\`), newest first, streamed as a download. At most ${API_TUNING.exportMaxMessages} messages: more is a 400 (narrow the search).`,
  security: BEARER,
  request: { query: ExportParams },
  responses: {
    200: {
      description: 'The export, as an attachment: mbox (mboxrd: `From ` lines, `>From` quoting) or a zip of `<sha256>.eml` files with `manifest.json` (each file\'s name, SHA-256 and size).',
      content: {
        'application/mbox': { schema: z.string().openapi({ format: 'binary' }) },
        'application/zip': { schema: z.string().openapi({ format: 'binary' }) },
      },
    },
    400: errorAnswer('A parameter is malformed (API_BAD_REQUEST), `text` cannot be read as a query (SEARCH_QUERY_INVALID), or the search matches too many messages (API_BAD_REQUEST).'),
    ...ACCESS_ANSWERS,
  },
});

/** The raw bytes of the hit, as a Buffer; the budget share is held until `release` is called. */
async function rawOf(deps: ApiDeps, hit: SearchHit): Promise<{ bytes: Buffer; release: () => void }> {
  const release = (await deps.budget?.acquire(hit.size)) ?? ((): void => {});
  try {
    const message = await findMessage(deps, hit.sha256);
    const raw = await deps.blobs.read(message.blob, message.sha256);
    return { bytes: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), release };
  } catch (err) {
    release();
    throw err;
  }
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The `From ` line of a hit: its sender's address (or MAILER-DAEMON) and its date in asctime form, UTC. */
export function fromLine(hit: Pick<SearchHit, 'from' | 'date'>): string {
  const address = /<([^<>\s]+)>/.exec(hit.from)?.[1] ?? (/^[^\s<>]+@[^\s<>]+$/.test(hit.from) ? hit.from : 'MAILER-DAEMON');
  const d = new Date(hit.date ?? 0);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  const when = `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
  return `From ${address} ${when}\n`;
}

/** One message as an mboxrd entry: `From ` line, quoted lines, blank line. */
export function mboxEntry(hit: Pick<SearchHit, 'from' | 'date'>, raw: Buffer): Buffer {
  // latin1 maps each byte to one character and back, so the quoting changes no other byte.
  const quoted = raw.toString('latin1').replace(/^(>*From )/gmu, '>$1');
  const end = quoted.endsWith('\n') ? '\n' : '\n\n';
  return Buffer.from(fromLine(hit) + quoted + end, 'latin1');
}

async function* mbox(deps: ApiDeps, hits: SearchHit[]): AsyncGenerator<Buffer> {
  for (const hit of hits) {
    const { bytes, release } = await rawOf(deps, hit);
    try {
      yield mboxEntry(hit, bytes);
    } finally {
      release();
    }
  }
}

function zip(deps: ApiDeps, hits: SearchHit[]): Readable {
  const file = new yazl.ZipFile();
  for (const hit of hits) {
    // Read only when the zip reaches this entry, which it does once the one before is written out.
    file.addReadStreamLazy(`${hit.sha256}.eml`, { compress: false, size: hit.size }, (cb) => {
      rawOf(deps, hit).then(
        ({ bytes, release }) => {
          const stream = Readable.from([bytes]);
          stream.once('close', release);
          cb(null, stream);
        },
        (err: unknown) => cb(err, undefined as never),
      );
    });
  }
  const manifest = { messages: hits.map((h) => ({ file: `${h.sha256}.eml`, sha256: h.sha256, size: h.size })) };
  file.addBuffer(Buffer.from(JSON.stringify(manifest, null, 2) + '\n'), 'manifest.json');
  file.end();
  return file.outputStream as Readable;
}

/** The export resource. */
export function exportRoutes(app: ApiApp, deps: ApiDeps): void {
  const auditor = { middleware: [requireRole(deps.authorize, 'auditor')] };
  app.openapi({ ...exportRoute, ...auditor }, async (c) => {
    const { format, ...filters } = c.req.valid('query');
    await recordRequest(c, deps, 'archive.export', { format, ...filters });
    const query = searchQuery(filters);
    const max = API_TUNING.exportMaxMessages;
    const hits = await deps.search.search({ ...query, limit: max + 1 });
    if (hits.length > max) throw new MailsluiceError('API_BAD_REQUEST', `the search matches more than ${max} messages; narrow it (since/before, connection) and export in parts`);
    // Byte mode with a mark of 1: the generator is asked for the next message only once the one
    // before has been handed on (object mode would read 16 messages ahead, outside the budget).
    const stream = format === 'mbox' ? Readable.from(mbox(deps, hits), { objectMode: false, highWaterMark: 1 }) : zip(deps, hits);
    stream.on('error', (err) => deps.logger.warn('export stopped: a message could not be read', { error: err.message }));
    const name = `mailsluice-export.${format === 'mbox' ? 'mbox' : 'zip'}`;
    return c.body(Readable.toWeb(stream) as ReadableStream<Uint8Array>, 200, {
      ...ATTACHMENT_SAFETY_HEADERS,
      'Content-Type': format === 'mbox' ? 'application/mbox' : 'application/zip',
      'Content-Disposition': `attachment; filename="${name}"`,
    });
  });
}
