/**
 * Scenario responses over Microsoft Graph (`GraphSource.applyResponses`): the IMAP-style flags a
 * route's response adds, and the folder it moves to, applied to messages by the id their key
 * names. A `$batch` of GETs (`$select=categories,isRead`) finds which messages are still there
 * and the categories they have; then a `$batch` of PATCHes (`isRead`, the merged `categories`),
 * then a `$batch` of moves per folder (after the flags, so a moved message carries them), every
 * `$batch` of `GRAPH_TUNING.batchSize` requests, a throttled request waited out and sent again as
 * the client does for every batch.
 *
 * How flags map onto the message (`\Seen` → isRead, keywords → categories merged with the
 * message's, other system flags refused) is the core's (`core/archive/exchange-response-plan.ts`,
 * shared with EWS). A move gives the message a new id in Graph: harmless, a response is applied
 * once, and applied again after a crash the old id answers 404, `not-applicable`.
 */
import type { ResponseOutcome, ResponseRequest } from '../../core/ports/mailbox-source.js';
import { groupBy, planExchangeItem, type ExchangeItemChange } from '../../core/archive/exchange-response-plan.js';
import { ResponseOutcomes } from '../../core/archive/response-outcomes.js';
import { MailsluiceError } from '../../core/errors/index.js';
import type { BatchRequest, BatchResponse, GraphClient } from './graph-client.js';
import { graphHttpError, graphThrottled } from './graph-error-map.js';
import type { GraphFolder } from './graph-folders.js';
import { GRAPH_TUNING } from './graph-source-config.js';

/** What applying responses needs of its source. */
export interface GraphResponseHost {
  /** The folder drained (`graph.folder`), for sentences. */
  readonly folderName: string;
  readonly client: GraphClient;
  /** The folder a response's `moveTo` names (cached by the source); throws SOURCE_MAILBOX_NOT_FOUND when there is none. */
  folder(name: string): Promise<GraphFolder>;
}

/** A request with the message id its key names. */
type MessageRequest = ResponseRequest & { messageId: string };

/** One run: the host, the outcomes, and each present message's categories. */
interface Run {
  host: GraphResponseHost;
  outcomes: ResponseOutcomes;
  categoriesOf: Map<string, string[]>;
  gone: string;
}

const ids = (rs: readonly ResponseRequest[]): string[] => rs.map((r) => r.id);
const byMessage = (rs: readonly MessageRequest[]): Map<string, MessageRequest[]> => groupBy(rs, (r) => r.messageId);
const ok = (status: number): boolean => status >= 200 && status < 300;

/**
 * Sends one request per message through the client's `$batch`es and hands each answer over. An
 * answer still throttled after the client's retries fails the call (the caller tries every
 * response again later), rather than recording a response failed for good.
 */
async function perMessage(run: Run, messages: readonly string[], what: string, request: (id: string, at: string) => Omit<BatchRequest, 'id'>, answered: (id: string, a: BatchResponse) => void): Promise<void> {
  const { client } = run.host;
  const requests = messages.map((id, k) => ({ id: String(k), ...request(id, client.batchPath(`/messages/${encodeURIComponent(id)}`)) }));
  const answers = await client.batch(requests, what);
  messages.forEach((id, k) => {
    const a = answers.get(String(k)) ?? { id: String(k), status: 0, body: undefined };
    if (a.status === 429 || a.status === 503) throw graphThrottled(client.ctx, what, a.status, GRAPH_TUNING.throttleRetries + 1);
    answered(id, a);
  });
}

/**
 * Applies scenario responses to the messages their keys name. A message that is not there (any
 * more) is `not-applicable`; a refusal of the server, a folder that does not exist or a flag with
 * no equivalent `failed`. Throws only when the session fails (nothing is then reported; the caller
 * tries them all again later: setting isRead and categories twice changes nothing, and a moved
 * message has a new id, so its old one is gone).
 */
export async function applyGraphResponses(requests: ResponseRequest[], host: GraphResponseHost): Promise<ResponseOutcome[]> {
  const outcomes = new ResponseOutcomes();
  const run: Run = { host, outcomes, categoriesOf: new Map(), gone: `the message is no longer in ${JSON.stringify(host.folderName)}` };
  const messages: MessageRequest[] = [];
  for (const r of requests) {
    if (r.key.startsWith('graph:') && r.key.length > 6) messages.push({ ...r, messageId: r.key.slice(6) });
    else outcomes.skip([r.id], `the message was taken as ${r.key || 'no message'}, not as a Microsoft Graph message`);
  }
  if (messages.length > 0) {
    await findPresent(run, messages);
    const present = messages.filter((r) => !outcomes.skipped(r.id));
    await setFlags(run, present);
    await moveToFolders(run, present.filter((r) => !outcomes.skipped(r.id)));
  }
  return requests.map((r) => outcomes.of(r));
}

/** A GET of every message (categories, isRead): which are still there, and what categories they have. */
async function findPresent(run: Run, messages: readonly MessageRequest[]): Promise<void> {
  const groups = byMessage(messages);
  await perMessage(run, [...groups.keys()], 'the messages responses apply to', (_, at) => ({ method: 'GET', url: `${at}?$select=categories,isRead` }), (id, a) => {
    const rs = ids(groups.get(id)!);
    if (ok(a.status)) {
      const cats = (a.body as { categories?: unknown } | undefined)?.categories;
      run.categoriesOf.set(id, Array.isArray(cats) ? cats.filter((c): c is string => typeof c === 'string') : []);
    } else if (a.status === 404) run.outcomes.skip(rs, run.gone);
    else run.outcomes.fail(rs, graphHttpError(run.host.client.ctx, 'reading the message', a.status, a.body).message);
  });
}

/** One PATCH per message that needs one; requests whose flags have no equivalent fail. */
async function setFlags(run: Run, present: readonly MessageRequest[]): Promise<void> {
  const changes = new Map<string, { change: ExchangeItemChange; requests: MessageRequest[] }>();
  for (const [id, rs] of byMessage(present)) {
    const plan = planExchangeItem(rs, run.categoriesOf.get(id) ?? [], 'Microsoft Graph');
    for (const { request, reason } of plan.refused) run.outcomes.fail([request.id], reason);
    if (plan.change) changes.set(id, { change: plan.change, requests: plan.applying });
  }
  if (changes.size === 0) return;
  await perMessage(run, [...changes.keys()], 'setting the flags of responses', (id, at) => ({ method: 'PATCH', url: at, body: changes.get(id)!.change }), (id, a) => {
    const rs = ids(changes.get(id)!.requests);
    if (a.status === 404) run.outcomes.skip(rs, run.gone);
    else if (!ok(a.status)) run.outcomes.fail(rs, graphHttpError(run.host.client.ctx, 'updating the message', a.status, a.body).message);
  });
}

/** Moves, grouped by folder in the order of their first request; a message moved by one is gone for the next. */
async function moveToFolders(run: Run, present: readonly MessageRequest[]): Promise<void> {
  const { host, outcomes } = run;
  const moved = new Map<string, string>();
  const groups = groupBy(present.filter((r) => r.response.moveTo !== undefined), (r) => r.response.moveTo!);
  for (const [name, group] of groups) {
    const here = group.filter((r) => {
      const to = moved.get(r.messageId);
      if (to === undefined) return true;
      outcomes.skip([r.id], `the message was moved to ${JSON.stringify(to)} by another response`);
      return false;
    });
    if (here.length === 0) continue;
    let folder: GraphFolder;
    try {
      folder = await host.folder(name);
    } catch (err) {
      if (!(err instanceof MailsluiceError) || err.code !== 'SOURCE_MAILBOX_NOT_FOUND') throw err;
      outcomes.fail(ids(here), `no folder ${JSON.stringify(name)} to move to (folders are not created): ${err.message}`);
      continue;
    }
    const messages = byMessage(here);
    await perMessage(run, [...messages.keys()], `moving messages to ${JSON.stringify(name)}`, (_, at) => ({ method: 'POST', url: `${at}/move`, body: { destinationId: folder.id } }), (id, a) => {
      const rs = ids(messages.get(id)!);
      if (ok(a.status)) moved.set(id, name);
      else if (a.status === 404) outcomes.skip(rs, run.gone);
      else outcomes.fail(rs, graphHttpError(host.client.ctx, `the move to ${JSON.stringify(name)}`, a.status, a.body).message);
    });
  }
}
