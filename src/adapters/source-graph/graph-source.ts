import type { IncomingMessage } from 'node:http';
import type { Candidate, FetchedMessage, MailboxSource, ResponseOutcome, ResponseRequest, SourceRuntime, SourceSession } from '../../core/ports/mailbox-source.js';
import type { AccessTokenSource } from '../../core/ports/access-token-source.js';
import type { Logger } from '../../core/ports/logger.js';
import { MailsluiceError } from '../../core/errors/index.js';
import { drain } from '../https-node/https-wait.js';
import { pause } from '../timer-node/pause.js';
import { GraphClient, type BatchRequest } from './graph-client.js';
import { graphBadAnswer, graphHttpError } from './graph-error-map.js';
import { resolveGraphFolder, type GraphFolder } from './graph-folders.js';
import { listByDelta } from './graph-delta.js';
import { applyGraphResponses } from './graph-responses.js';
import { GRAPH_TUNING, graphClientOptions, graphSettings, type GraphClientOptions, type GraphSourceConfig } from './graph-source-config.js';

/** The archive key of a message: `graph:<id>`. */
export function graphKey(id: string): string {
  return `graph:${id}`;
}

function idOf(c: Candidate): string {
  if (!c.key.startsWith('graph:')) throw new MailsluiceError('INTERNAL', `key ${c.key} is not a Graph message key`);
  return c.key.slice(6);
}

async function* single(buf: Uint8Array): AsyncIterable<Uint8Array> {
  yield buf;
}

/** The `$expand` that adds PidTagMessageSize to a listing (MS-OXPROPS 2.796: PT_LONG 0x0E08). */
const SIZE_EXPAND = encodeURIComponent("singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')");

/** One message of a listing page, as asked for. */
interface ListedMessage {
  id?: unknown;
  isRead?: unknown;
  singleValueExtendedProperties?: Array<{ id?: unknown; value?: unknown }>;
}

/** The size PidTagMessageSize gives; 0 (unknown) without it. */
function sizeOf(m: ListedMessage): number {
  const p = m.singleValueExtendedProperties?.find((x) => typeof x.id === 'string' && /^Integer 0x0?e08$/i.test(x.id));
  const n = Number(p?.value);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** A message's `/$value` answer as the fetch found it. */
type Opened = { kind: 'gone' } | { kind: 'buffered'; body: Buffer } | { kind: 'streamed'; res: IncomingMessage };

/**
 * The Microsoft Graph mailbox source (ADR 0047). Keys are `graph:<id>` (a message's id stays the
 * same while it stays in its folder, which is all a drain needs). The listing is the folder's
 * messages oldest first (`$orderby=receivedDateTime`), paged by `@odata.nextLink`; with `leave`
 * (and `mark-seen` without `unseenOnly`) the messages stay, so the listing asks `settled` which
 * keys were taken already, and with a sync-state store it is a delta query from the durable link
 * (`graph-delta.ts`). Fetch is `GET …/messages/{id}/$value`, the MIME as Exchange has it: a
 * small one read whole (the next one asked meanwhile), a large one streamed. Server actions run
 * after the commit, in `$batch`es, and are complete when Graph answered them.
 */
export class GraphSource implements MailboxSource {
  /** Actions go on the same client as the fetch, one after the other. */
  readonly concurrentActions = false;
  /** Responses name a message by its id (the candidate key), which stays while it stays in the folder. */
  readonly responsesBy = 'key' as const;
  /** True when `graph.endpoint` is https (only loopback may be http). */
  readonly tlsInUse: boolean;
  private readonly opts: GraphClientOptions;
  private readonly tokens: AccessTokenSource;
  private client: GraphClient | null = null;
  private folder: GraphFolder | undefined;
  private moveTarget: GraphFolder | undefined;
  /** Folders scenario responses move to, by the name they were given (found once per session). */
  private readonly responseFolders = new Map<string, GraphFolder>();
  private closed = false;

  constructor(
    private readonly cfg: GraphSourceConfig,
    private readonly logger: Logger,
    private readonly runtime: SourceRuntime = {},
  ) {
    const opts = graphClientOptions(cfg);
    this.tlsInUse = opts.endpoint.secure;
    const { limitMs, warnEveryMs } = runtime.silence ?? { limitMs: GRAPH_TUNING.silenceLimitMs, warnEveryMs: GRAPH_TUNING.silenceWarnEveryMs };
    this.opts = {
      ...opts,
      silence: {
        limitMs,
        warnEveryMs,
        onSilence: (ms, what) => this.logger.warn(`no data from Microsoft Graph for ${Math.round(ms / 1000)} s while waiting for ${what}`, { waitingFor: what, silentMs: ms, limitMs: cfg.dataTimeoutMs || limitMs }),
      },
    };
    // The token must outlive this session's source: the composition root hands it over (ADR 0045).
    if (!runtime.accessTokens) throw new MailsluiceError('CONFIG_INVALID', `connection ${cfg.name}: the Graph source was given no token source`);
    this.tokens = runtime.accessTokens;
  }

  /** When the server's certificate expires (after `open`). */
  get certificateExpiresAt(): number | undefined {
    return this.client?.certificateExpiresAt;
  }

  private session(): GraphClient {
    if (this.closed) throw new MailsluiceError('SOURCE_NETWORK', `the Graph source of connection ${this.cfg.name} is closed`);
    return (this.client ??= new GraphClient(this.opts, this.tokens));
  }

  async open(signal?: AbortSignal): Promise<SourceSession> {
    const client = this.session();
    const onAbort = (): void => client.close();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      this.folder = await resolveGraphFolder(client, graphSettings(this.cfg).folder);
      return { mailbox: this.folder.name, uidValidity: 0, exists: this.folder.total, capabilities: [] };
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private requireFolder(): GraphFolder {
    if (!this.folder) throw new MailsluiceError('INTERNAL', 'the Graph source was used before open()');
    return this.folder;
  }

  /**
   * The first page of the folder's listing: oldest first, each message's id, read state and size
   * (PidTagMessageSize, the one extended property asked for: an upper bound of the MIME's size).
   * `unseenOnly` is applied to the pages, not by `$filter`: Graph sorts only by a property the
   * filter names first, and a read message costs a few bytes of a page.
   */
  private firstPage(folder: GraphFolder): string {
    return this.session().mailboxPath(`/mailFolders/${encodeURIComponent(folder.id)}/messages?$select=id,receivedDateTime,isRead&$orderby=receivedDateTime&$top=${GRAPH_TUNING.listPageSize}&$expand=${SIZE_EXPAND}`);
  }

  async listCandidates(limit: number, _after?: { uidValidity: number; lastUid: number }, settled?: (keys: string[]) => Promise<Set<string>>): Promise<Candidate[]> {
    const client = this.session();
    const folder = this.requireFolder();
    const states = this.runtime.syncState;
    if (states && settled && this.itemsStay()) {
      const g = graphSettings(this.cfg);
      return listByDelta({ client, folder, states, connection: this.cfg.name, stateKey: `${g.mailbox}/${g.folder}`, limit, settled, logger: this.logger, keyOf: graphKey });
    }
    const out: Candidate[] = [];
    let link: string | undefined = this.firstPage(folder);
    while (link !== undefined && out.length < limit) {
      const page = (await client.json('GET', link, 'the folder listing', 'folder')) as { value?: unknown; '@odata.nextLink'?: unknown } | undefined;
      if (!Array.isArray(page?.value)) throw graphBadAnswer(client.ctx, 'the folder listing', 'no value array');
      const listed = (page.value as ListedMessage[]).filter((m): m is ListedMessage & { id: string } => typeof m.id === 'string' && m.id !== '');
      const wanted = listed.filter((m) => !this.cfg.unseenOnly || m.isRead !== true).map((m) => ({ key: graphKey(m.id), size: sizeOf(m) }));
      // Without a watermark, what `leave` kept on the server would fill every listing forever.
      const skip = settled && wanted.length ? await settled(wanted.map((c) => c.key)) : new Set<string>();
      for (const c of wanted) {
        if (skip.has(c.key)) continue;
        out.push(c);
        if (out.length >= limit) break;
      }
      const next = page['@odata.nextLink'];
      link = typeof next === 'string' && listed.length > 0 ? next : undefined;
    }
    return out;
  }

  /** Whether committed messages stay in the folder (so the full listing would grow with it): then the delta query. */
  private itemsStay(): boolean {
    return this.cfg.deletePolicy === 'leave' || (this.cfg.deletePolicy === 'mark-seen' && !this.cfg.unseenOnly);
  }

  /**
   * Streams the messages in listing order. A small one (Content-Length up to `bufferUpToBytes`) is
   * read whole and handed over `buffered`, with up to `valueAhead` next ones asked for while the
   * caller stores it; a large one (or one without a length) streams, and nothing more is asked
   * until it has been read. A message gone since the listing (404) is skipped. When the
   * connection breaks during one, the runner's memory is told which.
   */
  async *fetch(candidates: Candidate[]): AsyncIterable<FetchedMessage> {
    const client = this.session();
    // Requests asked ahead, in listing order: window[i] is candidates[next - window.length + i].
    const window: Promise<Opened>[] = [];
    let next = 0;
    const askAhead = (upTo: number): void => {
      while (window.length < upTo && next < candidates.length) {
        const p = this.openMessage(client, candidates[next++]!);
        // Its failure is its own step's to report (after the ones before it are handed over); never unhandled.
        p.catch(() => undefined);
        window.push(p);
      }
    };
    try {
      for (let k = 0; k < candidates.length; k++) {
        const c = candidates[k]!;
        askAhead(1);
        const opened = await window.shift()!;
        if (opened.kind === 'gone') continue;
        if (opened.kind === 'streamed') {
          yield { candidate: c, body: this.streamBody(client, c, opened.res), buffered: false };
          continue;
        }
        askAhead(GRAPH_TUNING.valueAhead);
        yield { candidate: c, body: single(opened.body), buffered: true, bytes: opened.body.length, owned: true };
      }
    } finally {
      // Stopped early: the requests asked ahead end before the session is used again.
      for (const p of window.splice(0)) {
        const a = await p.catch(() => undefined);
        if (a?.kind === 'streamed') a.res.destroy();
      }
    }
  }

  /** `GET …/$value` of `c`: gone, read whole, or the answer to stream. */
  private async openMessage(client: GraphClient, c: Candidate): Promise<Opened> {
    const what = `the MIME of message ${c.key}`;
    let res: IncomingMessage;
    try {
      res = await client.send('GET', client.mailboxPath(`/messages/${encodeURIComponent(idOf(c))}/$value`), what);
    } catch (err) {
      this.runtime.transfers?.interrupted(c.key, c.size);
      throw err;
    }
    const status = res.statusCode ?? 0;
    if (status === 404) {
      await drain(res);
      return { kind: 'gone' };
    }
    if (status !== 200) throw graphHttpError(client.ctx, what, status, await client.readJson(res, what), 'message');
    const length = Number(res.headers['content-length']);
    if (!Number.isFinite(length) || res.headers['content-length'] === undefined || length > GRAPH_TUNING.bufferUpToBytes) return { kind: 'streamed', res };
    const parts: Buffer[] = [];
    try {
      for await (const chunk of client.chunks(res, what)) parts.push(chunk);
    } catch (err) {
      this.runtime.transfers?.interrupted(c.key, c.size);
      throw err;
    }
    return { kind: 'buffered', body: Buffer.concat(parts) };
  }

  private async *streamBody(client: GraphClient, c: Candidate, res: IncomingMessage): AsyncIterable<Uint8Array> {
    try {
      yield* client.chunks(res, `the MIME of message ${c.key}`);
    } catch (err) {
      this.runtime.transfers?.interrupted(c.key, c.size);
      throw err;
    } finally {
      // Stopped early: drop the rest of the answer (its connection goes; the next request opens another).
      if (!res.complete) res.destroy();
    }
  }

  /** The `$batch` request that applies the delete policy to message `id`. */
  private async actionRequest(client: GraphClient, id: string, k: number): Promise<BatchRequest> {
    const at = client.batchPath(`/messages/${encodeURIComponent(id)}`);
    switch (this.cfg.deletePolicy) {
      case 'delete-and-expunge':
        return { id: String(k), method: 'POST', url: `${at}/permanentDelete` };
      case 'delete':
        return { id: String(k), method: 'DELETE', url: at };
      case 'mark-seen':
        return { id: String(k), method: 'PATCH', url: at, body: { isRead: true } };
      default:
        return { id: String(k), method: 'POST', url: `${at}/move`, body: { destinationId: (await this.moveFolder(client)).id } };
    }
  }

  async applyServerAction(candidates: Candidate[]): Promise<Candidate[]> {
    if (candidates.length === 0) return [];
    if (this.cfg.deletePolicy === 'leave') return candidates; // remembered by key in the archive
    const client = this.session();
    const requests = await Promise.all(candidates.map((c, k) => this.actionRequest(client, idOf(c), k)));
    const answers = await client.batch(requests, `the ${this.cfg.deletePolicy} of ${candidates.length} message${candidates.length === 1 ? '' : 's'}`);
    const done: Candidate[] = [];
    candidates.forEach((c, k) => {
      const a = answers.get(String(k));
      const status = a?.status ?? 0;
      // Gone already (an earlier action whose answer was lost, or another client): done.
      if ((status >= 200 && status < 300) || status === 404) done.push(c);
      else this.logger.warn(`Microsoft Graph refused the ${this.cfg.deletePolicy} of a message; it stays pending and is tried again`, { key: c.key, status, error: graphHttpError(client.ctx, 'the action', status, a?.body).message });
    });
    return done;
  }

  private async moveFolder(client: GraphClient): Promise<GraphFolder> {
    if (!this.moveTarget) {
      if (!this.cfg.moveTo) throw new MailsluiceError('CONFIG_INVALID', `connection ${this.cfg.name}: deletePolicy move needs moveTo`);
      this.moveTarget = await resolveGraphFolder(client, this.cfg.moveTo);
    }
    return this.moveTarget;
  }

  async flush(): Promise<Candidate[]> {
    return []; // every action is complete when the server answers it
  }

  /** Scenario responses: `\Seen` → isRead, keywords → categories, moves by folder path (`graph-responses.ts`). */
  async applyResponses(requests: ResponseRequest[]): Promise<ResponseOutcome[]> {
    if (requests.length === 0) return [];
    const client = this.session();
    return applyGraphResponses(requests, {
      folderName: this.folder?.name ?? graphSettings(this.cfg).folder,
      client,
      folder: async (name) => {
        let f = this.responseFolders.get(name);
        if (!f) {
          f = await resolveGraphFolder(client, name);
          this.responseFolders.set(name, f);
        }
        return f;
      },
    });
  }

  /** Marks messages that could not be archived read, so an `unseenOnly` listing skips them. */
  async markFailed(candidates: Candidate[]): Promise<void> {
    if (candidates.length === 0) return;
    const client = this.session();
    const requests: BatchRequest[] = candidates.map((c, k) => ({ id: String(k), method: 'PATCH', url: client.batchPath(`/messages/${encodeURIComponent(idOf(c))}`), body: { isRead: true } }));
    const answers = await client.batch(requests, 'marking messages read');
    for (const a of answers.values()) {
      if ((a.status < 200 || a.status >= 300) && a.status !== 404) throw graphHttpError(client.ctx, 'marking a message read', a.status, a.body);
    }
  }

  async waitForChange(ms: number, signal?: AbortSignal): Promise<void> {
    return pause(ms, signal);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client?.close();
    this.client = null;
  }

  /** Where this source drains, for sentences. */
  toString(): string {
    const g = graphSettings(this.cfg);
    return `${this.opts.endpoint.origin} ${g.mailbox} ${g.folder}`;
  }
}

/** Creates a Graph source for one connection. */
export function createGraphSource(cfg: GraphSourceConfig, logger: Logger, runtime?: SourceRuntime): GraphSource {
  return new GraphSource(cfg, logger, runtime);
}
