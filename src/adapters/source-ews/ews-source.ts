import type { Candidate, FetchedMessage, MailboxSource, ResponseOutcome, ResponseRequest, SourceRuntime, SourceSession } from '../../core/ports/mailbox-source.js';
import type { Logger } from '../../core/ports/logger.js';
import { MailsluiceError } from '../../core/errors/index.js';
import { EwsClient, responseCode, responseMessages } from './ews-client.js';
import { EwsNotifier } from './ews-notify.js';
import { deleteItem, findFolder, findItem, getFolder, getItemMime, moveItem, updateItems, type EwsFolderRef } from './ews-soap.js';
import { EWS_TUNING, ewsClientOptions, hasStreamingNotifications, type EwsClientOptions, type EwsSourceConfig } from './ews-source-config.js';
import { child, path, type MimePiece, type XmlNode } from './ews-xml.js';
import { ewsWhere } from './ews-error-map.js';
import { listBySync } from './ews-sync.js';
import { pause } from '../timer-node/pause.js';
import { applyEwsResponses } from './ews-responses.js';

/** The archive key of an item: `ews:<ItemId>`. */
export function ewsKey(itemId: string): string {
  return `ews:${itemId}`;
}

function itemIdOf(c: Candidate): string {
  if (!c.key.startsWith('ews:')) throw new MailsluiceError('INTERNAL', `key ${c.key} is not an EWS item key`);
  return c.key.slice(4);
}

async function* single(buf: Uint8Array): AsyncIterable<Uint8Array> {
  yield buf;
}

/** The folder a mailbox setting names: INBOX is the well-known inbox, anything else a path from the top of the mailbox. */
export function folderPath(mailbox: string): { distinguished: string } | { path: string[] } {
  if (mailbox.toUpperCase() === 'INBOX') return { distinguished: 'inbox' };
  return { path: mailbox.split('/').filter((s) => s !== '') };
}

/**
 * The EWS mailbox source. Keys are `ews:<ItemId>` (an ItemId stays the same while the item stays
 * in its folder, which is all a drain needs: a moved item is gone from the folder drained). The
 * listing is FindItem, oldest first, paged, where the folder empties; with `leave` (and
 * `mark-seen` without `unseenOnly`) the items stay, and the listing is SyncFolderItems from the
 * durable sync state (`ews-sync.ts`, ADR 0047), or, without a sync-state store, FindItem asking
 * `settled` which keys were taken already, as POP3's does.
 * Fetch is GetItem with MIME content: small items batched and handed over whole, large ones one
 * per request and streamed. Server actions run after the commit, batched, and are complete when
 * the server answered (EWS has no deferred expunge).
 */
export class EwsSource implements MailboxSource {
  /** One connection, one request at a time: actions cannot overlap the next fetch. */
  readonly concurrentActions = false;
  /** EWS is always HTTPS. */
  readonly tlsInUse = true;
  /** An ItemId names an item wherever it is: responses are addressed by the candidate key. */
  readonly responsesBy = 'key' as const;
  private readonly opts: EwsClientOptions;
  private client: EwsClient | null = null;
  private folder: EwsFolderRef | undefined;
  private moveTarget: EwsFolderRef | undefined;
  /** Folders scenario responses move to, by the name they were given (found once per session). */
  private readonly responseFolders = new Map<string, EwsFolderRef>();
  private notifier: EwsNotifier | undefined;
  private closed = false;

  constructor(
    private readonly cfg: EwsSourceConfig,
    private readonly logger: Logger,
    private readonly runtime: SourceRuntime = {},
  ) {
    const opts = ewsClientOptions(cfg);
    const { limitMs, warnEveryMs } = runtime.silence ?? { limitMs: EWS_TUNING.silenceLimitMs, warnEveryMs: EWS_TUNING.silenceWarnEveryMs };
    this.opts = {
      ...opts,
      silence: {
        limitMs,
        warnEveryMs,
        onSilence: (ms, what) => this.logger.warn(`no data from the server for ${Math.round(ms / 1000)} s while waiting for ${what}`, { waitingFor: what, silentMs: ms, limitMs: cfg.dataTimeoutMs || limitMs }),
      },
    };
  }

  /** When the server's certificate expires (after `open`). */
  get certificateExpiresAt(): number | undefined {
    return this.client?.certificateExpiresAt;
  }

  private session(): EwsClient {
    if (this.closed) throw new MailsluiceError('SOURCE_NETWORK', `the EWS source of connection ${this.cfg.name} is closed`);
    return (this.client ??= new EwsClient(this.opts));
  }

  async open(signal?: AbortSignal): Promise<SourceSession> {
    const client = this.session();
    const onAbort = (): void => client.close();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const { ref, total } = await resolveFolder(client, this.cfg.mailbox);
      this.folder = ref;
      return { mailbox: this.cfg.mailbox, uidValidity: 0, exists: total, capabilities: [] };
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private requireFolder(): EwsFolderRef {
    if (!this.folder) throw new MailsluiceError('INTERNAL', 'the EWS source was used before open()');
    return this.folder;
  }

  async listCandidates(limit: number, _after?: { uidValidity: number; lastUid: number }, settled?: (keys: string[]) => Promise<Set<string>>): Promise<Candidate[]> {
    const client = this.session();
    const folder = this.requireFolder();
    const states = this.runtime.syncState;
    if (states && settled && this.itemsStay()) {
      const { name: connection, mailbox } = this.cfg;
      return listBySync({ client, folder, states, connection, mailbox, limit, settled, logger: this.logger, keyOf: ewsKey });
    }
    const out: Candidate[] = [];
    for (let offset = 0; out.length < limit; ) {
      const tree = await client.call('FindItem', findItem(folder, offset, EWS_TUNING.findPageSize, this.cfg.unseenOnly));
      const m = responseMessages(tree)[0];
      const { code, text } = m ? responseCode(m) : { code: 'no response message', text: '' };
      if (code !== 'NoError') throw client.responseError('FindItem', code, text);
      const root = child(m, 'RootFolder');
      const items = (path(root, 'Items')?.children ?? [])
        .map((it) => ({ id: child(it, 'ItemId')?.attrs.Id, size: Number(child(it, 'Size')?.text ?? 0) || 0 }))
        .filter((it): it is { id: string; size: number } => !!it.id);
      const page = items.map((it) => ({ key: ewsKey(it.id), size: it.size }));
      // Without a watermark, what `leave` kept on the server would fill every listing forever.
      const skip = settled && page.length ? await settled(page.map((c) => c.key)) : new Set<string>();
      for (const c of page) {
        if (skip.has(c.key)) continue;
        out.push(c);
        if (out.length >= limit) break;
      }
      offset += items.length;
      if (items.length === 0 || root?.attrs.IncludesLastItemInRange !== 'false') break;
    }
    return out;
  }

  /**
   * Whether taken items stay in the folder, unflagged for the listing: `leave`, and `mark-seen`
   * without `unseenOnly`. Then the listing is SyncFolderItems from the durable state (ADR 0047);
   * otherwise the folder empties (or the unread restriction skips what was taken) and FindItem,
   * oldest first, lists only what is left.
   */
  private itemsStay(): boolean {
    const policy = this.cfg.deletePolicy;
    return !this.cfg.unseenOnly && (policy === 'leave' || policy === 'mark-seen');
  }

  /**
   * Streams the items in listing order: runs of small ones in batched GetItems, handed over
   * whole; a large one alone, its MIME decoded as it streams. An item gone since the listing is
   * skipped. When the connection breaks during one, the runner's memory is told which. While the
   * caller stores one run, the next run's GetItem is already on the wire (one request at a time
   * still: it is sent once the answer before it was read whole), so the server's work on it
   * overlaps ours; at most two runs are in memory.
   */
  async *fetch(candidates: Candidate[]): AsyncIterable<FetchedMessage> {
    const client = this.session();
    const steps = fetchSteps(candidates);
    let ahead: Promise<BatchAnswer> | undefined;
    try {
      for (let k = 0; k < steps.length; k++) {
        const step = steps[k]!;
        if (!Array.isArray(step)) {
          const m = await this.fetchStreamed(client, step);
          if (m) yield m;
          continue;
        }
        const answer = await (ahead ?? this.readBatch(client, step));
        ahead = undefined;
        const next = steps[k + 1];
        if (Array.isArray(next)) {
          ahead = this.readBatch(client, next);
          // Its failure is the next step's to report (after this run is handed over); never unhandled.
          ahead.catch(() => undefined);
        }
        yield* this.batchMessages(client, step, answer);
      }
    } finally {
      // Stopped early: the request in flight ends before the session is used again.
      if (ahead) await ahead.catch(() => undefined);
    }
  }

  /** A run's GetItem read whole: the MIME bytes per response message, and the tree. */
  private async readBatch(client: EwsClient, run: Candidate[]): Promise<BatchAnswer> {
    const parts: Buffer[][] = run.map(() => []);
    try {
      const gen = client.stream('GetItem', getItemMime(run.map(itemIdOf)));
      for (;;) {
        const r = await gen.next();
        if (r.done) return { tree: r.value, parts };
        for (const p of r.value) parts[p.index]?.push(p.data);
      }
    } catch (err) {
      this.runtime.transfers?.interrupted(run[0]!.key, run[0]!.size);
      throw err;
    }
  }

  /** The messages of a run's answer, in order; items gone since the listing skipped. */
  private *batchMessages(client: EwsClient, run: Candidate[], answer: BatchAnswer): Iterable<FetchedMessage> {
    const msgs = responseMessages(answer.tree);
    for (let k = 0; k < run.length; k++) {
      const c = run[k]!;
      const m = msgs[k];
      const { code, text } = m ? responseCode(m) : { code: 'no response message', text: '' };
      if (code === 'ErrorItemNotFound') continue; // gone since the listing
      if (code !== 'NoError') throw client.responseError('GetItem', code, text);
      if (!hasMime(m!)) {
        this.logger.warn('EWS item has no MIME content; skipped', { key: c.key });
        continue;
      }
      const body = Buffer.concat(answer.parts[k]!);
      yield { candidate: c, body: single(body), buffered: true, bytes: body.length, owned: true };
    }
  }

  /** A large item in a GetItem of its own, streamed; undefined when it is gone. */
  private async fetchStreamed(client: EwsClient, c: Candidate): Promise<FetchedMessage | undefined> {
    const gen = client.stream('GetItem', getItemMime([itemIdOf(c)]));
    let first: IteratorResult<MimePiece[], XmlNode>;
    try {
      first = await gen.next();
    } catch (err) {
      this.runtime.transfers?.interrupted(c.key, c.size);
      throw err;
    }
    if (first.done) {
      const m = responseMessages(first.value)[0];
      const { code, text } = m ? responseCode(m) : { code: 'no response message', text: '' };
      if (code === 'ErrorItemNotFound') return undefined;
      if (code !== 'NoError') throw client.responseError('GetItem', code, text);
      if (m && hasMime(m)) return { candidate: c, body: single(Buffer.alloc(0)), buffered: true, bytes: 0 };
      this.logger.warn('EWS item has no MIME content; skipped', { key: c.key });
      return undefined;
    }
    return { candidate: c, body: this.streamBody(client, c, first.value, gen), buffered: false };
  }

  private async *streamBody(client: EwsClient, c: Candidate, first: MimePiece[], gen: AsyncGenerator<MimePiece[], XmlNode, void>): AsyncIterable<Uint8Array> {
    let done = false;
    try {
      for (const p of first) yield p.data;
      for (;;) {
        const r = await gen.next();
        if (r.done) {
          done = true;
          const m = responseMessages(r.value)[0];
          const { code, text } = m ? responseCode(m) : { code: 'NoError', text: '' };
          if (code !== 'NoError') throw client.responseError('GetItem', code, text);
          return;
        }
        for (const p of r.value) yield p.data;
      }
    } catch (err) {
      this.runtime.transfers?.interrupted(c.key, c.size);
      throw err;
    } finally {
      // Stopped early: drop the rest of the answer (its connection goes; the next request opens another).
      if (!done) await gen.return(undefined as unknown as XmlNode).catch(() => undefined);
    }
  }

  async applyServerAction(candidates: Candidate[]): Promise<Candidate[]> {
    if (candidates.length === 0) return [];
    const policy = this.cfg.deletePolicy;
    if (policy === 'leave') return candidates; // remembered by ItemId in the archive
    const client = this.session();
    const done: Candidate[] = [];
    for (let i = 0; i < candidates.length; i += EWS_TUNING.actionBatch) {
      const batch = candidates.slice(i, i + EWS_TUNING.actionBatch);
      const ids = batch.map(itemIdOf);
      let op: string;
      let body: string;
      if (policy === 'delete-and-expunge' || policy === 'delete') {
        op = 'DeleteItem';
        body = deleteItem(ids, policy === 'delete' ? 'MoveToDeletedItems' : 'HardDelete');
      } else if (policy === 'mark-seen') {
        op = 'UpdateItem';
        body = updateItems(ids.map((id) => ({ id, isRead: true })));
      } else {
        op = 'MoveItem';
        body = moveItem(ids, await this.moveFolder(client));
      }
      const msgs = responseMessages(await client.call(op, body));
      batch.forEach((c, k) => {
        const m = msgs[k];
        const { code, text } = m ? responseCode(m) : { code: 'no response message', text: '' };
        // Gone already (an earlier action whose answer was lost, or another client): done.
        if (code === 'NoError' || code === 'ErrorItemNotFound') done.push(c);
        else this.logger.warn(`EWS server refused ${op}; the item stays pending and is tried again`, { key: c.key, code, text });
      });
    }
    return done;
  }

  private async moveFolder(client: EwsClient): Promise<EwsFolderRef> {
    if (!this.moveTarget) {
      if (!this.cfg.moveTo) throw new MailsluiceError('CONFIG_INVALID', `connection ${this.cfg.name}: deletePolicy move needs moveTo`);
      this.moveTarget = (await resolveFolder(client, this.cfg.moveTo)).ref;
    }
    return this.moveTarget;
  }

  async flush(): Promise<Candidate[]> {
    return []; // every action is complete when the server answers it
  }

  /** Scenario responses: `\Seen` → IsRead, keywords → categories, moves by folder path (`ews-responses.ts`). */
  async applyResponses(requests: ResponseRequest[]): Promise<ResponseOutcome[]> {
    if (requests.length === 0) return [];
    const client = this.session();
    return applyEwsResponses(requests, {
      mailbox: this.cfg.mailbox,
      client,
      batch: EWS_TUNING.actionBatch,
      folder: async (name) => {
        let ref = this.responseFolders.get(name);
        if (!ref) {
          ref = (await resolveFolder(client, name)).ref;
          this.responseFolders.set(name, ref);
        }
        return ref;
      },
    });
  }

  /** Marks items that could not be archived read, so an `unseenOnly` listing skips them. */
  async markFailed(candidates: Candidate[]): Promise<void> {
    const client = this.session();
    for (let i = 0; i < candidates.length; i += EWS_TUNING.actionBatch) {
      const ids = candidates.slice(i, i + EWS_TUNING.actionBatch).map(itemIdOf);
      const msgs = responseMessages(await client.call('UpdateItem', updateItems(ids.map((id) => ({ id, isRead: true })))));
      for (const m of msgs) {
        const { code, text } = responseCode(m);
        if (code !== 'NoError' && code !== 'ErrorItemNotFound') throw client.responseError('UpdateItem', code, text);
      }
    }
  }

  async waitForChange(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    if (!this.cfg.idle || !this.folder || this.closed) return pause(ms, signal);
    // Push only shortens the wait: the safety poll bounds it whatever the subscription does.
    const wait = Math.min(ms, this.cfg.idleSafetyPollMs);
    this.notifier ??= new EwsNotifier(new EwsClient(this.opts), this.folder, hasStreamingNotifications(this.opts.version), this.logger);
    await this.notifier.wait(wait, signal);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const n = this.notifier;
    this.notifier = undefined;
    await n?.close();
    this.client?.close();
    this.client = null;
  }

  /** Where this source drains, for sentences. */
  toString(): string {
    return `${ewsWhere({ ...this.opts.endpoint })} ${this.cfg.mailbox}`;
  }
}

function hasMime(m: XmlNode): boolean {
  const items = path(m, 'Items');
  return !!items && items.children.some((it) => !!child(it, 'MimeContent'));
}

/** The first folder of a GetFolder / FindFolder answer's response message, or why not. */
function folderOf(client: EwsClient, op: string, tree: XmlNode): XmlNode | undefined {
  const m = responseMessages(tree)[0];
  const { code, text } = m ? responseCode(m) : { code: 'no response message', text: '' };
  if (code !== 'NoError') throw client.responseError(op, code, text);
  const folders = op === 'FindFolder' ? path(m, 'RootFolder', 'Folders') : child(m, 'Folders');
  return folders?.children[0];
}

/**
 * The folder `mailbox` names, and how many items it holds: the well-known inbox for INBOX, else
 * each path step found by DisplayName under the one before, from the top of the mailbox
 * (msgfolderroot). Throws SOURCE_MAILBOX_NOT_FOUND naming the step that is missing.
 */
export async function resolveFolder(client: EwsClient, mailbox: string): Promise<{ ref: EwsFolderRef; total: number; name: string }> {
  const p = folderPath(mailbox);
  let ref: EwsFolderRef;
  if ('distinguished' in p) ref = p;
  else {
    if (p.path.length === 0) throw new MailsluiceError('CONFIG_INVALID', `mailbox ${JSON.stringify(mailbox)} names no folder`);
    ref = { distinguished: 'msgfolderroot' };
    let walked = '';
    for (const step of p.path) {
      const f = folderOf(client, 'FindFolder', await client.call('FindFolder', findFolder(ref, step)));
      const id = child(f, 'FolderId')?.attrs.Id;
      if (!id) {
        throw new MailsluiceError('SOURCE_MAILBOX_NOT_FOUND', `EWS server ${ewsWhere(client.ctx)} has no folder ${JSON.stringify(step)} under ${walked ? JSON.stringify(walked) : 'the top of the mailbox'} (mailbox ${JSON.stringify(mailbox)}; folders are paths of display names separated by /)`);
      }
      walked = walked ? `${walked}/${step}` : step;
      ref = { id };
    }
  }
  const f = folderOf(client, 'GetFolder', await client.call('GetFolder', getFolder(ref)));
  if (!f) throw new MailsluiceError('SOURCE_MAILBOX_NOT_FOUND', `EWS server ${ewsWhere(client.ctx)} returned no folder for ${JSON.stringify(mailbox)}`);
  const id = child(f, 'FolderId')?.attrs.Id;
  return { ref: id ? { id } : ref, total: Number(child(f, 'TotalCount')?.text ?? 0) || 0, name: child(f, 'DisplayName')?.text ?? mailbox };
}

/** Creates an EWS source for one connection. */
export function createEwsSource(cfg: EwsSourceConfig, logger: Logger, runtime?: SourceRuntime): EwsSource {
  return new EwsSource(cfg, logger, runtime);
}

/** A batched GetItem's answer: the tree, and each response message's MIME bytes. */
interface BatchAnswer {
  tree: XmlNode;
  parts: Buffer[][];
}

/** The listing cut into GetItems: runs of small items (batched) and large ones (alone, streamed). */
function fetchSteps(candidates: Candidate[]): Array<Candidate[] | Candidate> {
  const steps: Array<Candidate[] | Candidate> = [];
  for (let i = 0; i < candidates.length; ) {
    const c = candidates[i]!;
    if (c.size > EWS_TUNING.bufferUpToBytes) {
      steps.push(c);
      i++;
      continue;
    }
    let j = i;
    while (j < candidates.length && j - i < EWS_TUNING.getItemBatch && candidates[j]!.size <= EWS_TUNING.bufferUpToBytes) j++;
    steps.push(candidates.slice(i, j));
    i = j;
  }
  return steps;
}
