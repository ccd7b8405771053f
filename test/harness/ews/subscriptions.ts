/**
 * EWS notifications (MS-OXWSNTIF): pull subscriptions read with GetEvents (Exchange 2007 SP1 on,
 * watermarks and MoreEvents) and streaming subscriptions read with GetStreamingEvents (2010 SP1
 * on): one chunked HTTP response carrying a sequence of whole SOAP envelopes, a keep-alive
 * envelope every interval, events as they happen, and a last envelope with ConnectionStatus
 * Closed when the ConnectionTimeout has passed.
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Mailbox, MailboxChange } from './mailbox.js';
import { err, resolveFolder, type OpContext } from './operations.js';
import { iso } from './items.js';
import { envelope, responseBody, success, type ServerVersion } from './soap.js';
import { child, childrenNamed, el, textEl, type XmlElement } from './xml.js';

interface SimEvent { type: string; watermark: string; xml: string }

interface Subscription {
  id: string;
  streaming: boolean;
  folderIds: Set<string> | 'all';
  types: Set<string>;
  queue: SimEvent[];
  watermark: string;
  streams: Set<(subscriptionId: string, e: SimEvent[]) => void>;
}

/** Options of the streaming side. */
export interface StreamingOptions {
  version: () => ServerVersion;
  /** The keep-alive interval (Exchange sends one about every minute; tests want less). */
  keepAliveMs: number;
  /** Overrides ConnectionTimeout (minutes) for tests, in ms; undefined = as requested. */
  connectionTimeoutMs: number | undefined;
}

let watermarkCounter = 0;
const newWatermark = (): string => {
  const b = randomBytes(24);
  b.writeUInt32BE(++watermarkCounter, 0);
  return b.toString('base64');
};

/** Every subscription of the simulator, fed by the mailbox's changes. */
export class Subscriptions {
  private readonly subs = new Map<string, Subscription>();
  /** When set, no event reaches a streaming connection (keep-alives still do). */
  silenced = false;
  private readonly open = new Set<ServerResponse>();

  constructor(private readonly mailbox: Mailbox, private readonly opts: StreamingOptions) {
    mailbox.listeners.add((c) => this.onChange(c));
  }

  private folderEl(name: string, folderId: string): string {
    const f = this.mailbox.folders.get(folderId);
    return el(name, { Id: folderId, ChangeKey: f?.changeKey });
  }

  private onChange(c: MailboxChange): void {
    const now = iso(new Date());
    const out: Array<{ type: string; folder: string; body: string }> = [];
    const base = (itemId: string, changeKey: string | undefined, folder: string): string =>
      `${textEl('t:TimeStamp', now)}${el('t:ItemId', { Id: itemId, ChangeKey: changeKey })}${this.folderEl('t:ParentFolderId', folder)}`;
    if (c.kind === 'created') {
      if (c.newMail) out.push({ type: 'NewMailEvent', folder: c.item.folder, body: base(c.item.id, c.item.changeKey, c.item.folder) });
      out.push({ type: 'CreatedEvent', folder: c.item.folder, body: base(c.item.id, c.item.changeKey, c.item.folder) });
    } else if (c.kind === 'deleted') out.push({ type: 'DeletedEvent', folder: c.folderId, body: base(c.itemId, undefined, c.folderId) });
    else if (c.kind === 'modified') out.push({ type: 'ModifiedEvent', folder: c.item.folder, body: base(c.item.id, c.item.changeKey, c.item.folder) });
    else {
      const body = base(c.item.id, c.item.changeKey, c.item.folder) + el('t:OldItemId', { Id: c.oldItemId }) + this.folderEl('t:OldParentFolderId', c.oldFolderId);
      out.push({ type: 'MovedEvent', folder: c.item.folder, body }, { type: 'MovedEvent', folder: c.oldFolderId, body });
    }
    for (const s of this.subs.values()) {
      const fresh: SimEvent[] = [];
      const seen = new Set<string>();
      for (const e of out) {
        if (!s.types.has(e.type) || (s.folderIds !== 'all' && !s.folderIds.has(e.folder)) || seen.has(e.type)) continue;
        seen.add(e.type);
        const watermark = newWatermark();
        fresh.push({ type: e.type, watermark, xml: `<t:${e.type}>${textEl('t:Watermark', watermark)}${e.body}</t:${e.type}>` });
      }
      if (fresh.length === 0) continue;
      if (s.streaming) {
        if (!this.silenced) for (const send of s.streams) send(s.id, fresh);
      } else s.queue.push(...fresh);
    }
  }

  /** Subscribe: one response message with the SubscriptionId (and, for pull, the Watermark). */
  subscribe(req: XmlElement, ctx: OpContext): string[] {
    const spec = req.children[0];
    if (!spec || !['PullSubscriptionRequest', 'StreamingSubscriptionRequest'].includes(spec.name)) return [err('Subscribe', 'ErrorInvalidRequest')];
    let folderIds: Set<string> | 'all' = 'all';
    if (spec.attrs['SubscribeToAllFolders'] !== 'true') {
      folderIds = new Set();
      for (const ref of child(spec, 'FolderIds')?.children ?? []) {
        const f = resolveFolder(ref, ctx);
        if (typeof f === 'string') return [err('Subscribe', f)];
        folderIds.add(f.id);
      }
    }
    const sub: Subscription = {
      id: randomBytes(36).toString('base64'),
      streaming: spec.name === 'StreamingSubscriptionRequest',
      folderIds,
      types: new Set(childrenNamed(child(spec, 'EventTypes'), 'EventType').map((e) => e.text.trim())),
      queue: [],
      watermark: newWatermark(),
      streams: new Set(),
    };
    this.subs.set(sub.id, sub);
    return [success('SubscribeResponseMessage', textEl('m:SubscriptionId', sub.id) + (sub.streaming ? '' : textEl('m:Watermark', sub.watermark)))];
  }

  unsubscribe(req: XmlElement): string[] {
    const id = child(req, 'SubscriptionId')?.text.trim() ?? '';
    if (!this.subs.delete(id)) return [err('Unsubscribe', 'ErrorSubscriptionNotFound')];
    return [success('UnsubscribeResponseMessage')];
  }

  /** GetEvents: the queued events after the watermark (those before it are acknowledged), at most 50 at a time. */
  getEvents(req: XmlElement): string[] {
    const s = this.subs.get(child(req, 'SubscriptionId')?.text.trim() ?? '');
    if (!s || s.streaming) return [err('GetEvents', 'ErrorSubscriptionNotFound')];
    const previous = child(req, 'Watermark')?.text.trim() ?? s.watermark;
    const acked = s.queue.findIndex((e) => e.watermark === previous);
    if (acked >= 0) s.queue.splice(0, acked + 1);
    const batch = s.queue.slice(0, 50);
    const more = s.queue.length > batch.length;
    if (batch.length > 0) s.watermark = batch.at(-1)!.watermark;
    const events = batch.length > 0 ? batch.map((e) => e.xml).join('') : `<t:StatusEvent>${textEl('t:Watermark', s.watermark)}</t:StatusEvent>`;
    return [success('GetEventsResponseMessage',
      `<m:Notification>${textEl('t:SubscriptionId', s.id)}${textEl('t:PreviousWatermark', previous)}${textEl('t:MoreEvents', more)}${events}</m:Notification>`)];
  }

  private streamEnvelope(inner: string): string {
    return envelope(this.opts.version(), responseBody('GetStreamingEvents', [success('GetStreamingEventsResponseMessage', inner)]));
  }

  /**
   * GetStreamingEvents: writes the chunked response itself. Unknown subscription ids get an
   * error message and the response ends, as Exchange does.
   */
  stream(req: XmlElement, res: ServerResponse, onWrite: (s: string) => void): void {
    const ids = childrenNamed(child(req, 'SubscriptionIds'), 'SubscriptionId').map((e) => e.text.trim());
    const subs = ids.map((id) => this.subs.get(id));
    const version = this.opts.version();
    if (subs.some((s) => !s || !s.streaming)) {
      const body = envelope(version, responseBody('GetStreamingEvents', [err('GetStreamingEvents', 'ErrorSubscriptionNotFound')]));
      onWrite(body);
      res.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8' }).end(body);
      return;
    }
    const minutes = Number(child(req, 'ConnectionTimeout')?.text ?? 30);
    res.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8', 'Transfer-Encoding': 'chunked' });
    this.open.add(res);
    const write = (inner: string): void => {
      const env = this.streamEnvelope(inner);
      onWrite(env);
      res.write(env);
    };
    const send = (subscriptionId: string, events: SimEvent[]): void => {
      write(`<m:Notifications><t:Notification>${textEl('t:SubscriptionId', subscriptionId)}${events.map((e) => e.xml).join('')}</t:Notification></m:Notifications>` +
        '<m:ConnectionStatus>OK</m:ConnectionStatus>');
    };
    const finish = (): void => {
      clearInterval(keepAlive);
      clearTimeout(closeTimer);
      for (const s of subs) s!.streams.delete(send);
      this.open.delete(res);
    };
    for (const s of subs) s!.streams.add(send);
    write('<m:ConnectionStatus>OK</m:ConnectionStatus>');
    const keepAlive = setInterval(() => write('<m:ConnectionStatus>OK</m:ConnectionStatus>'), this.opts.keepAliveMs);
    const closeTimer = setTimeout(() => {
      write('<m:ConnectionStatus>Closed</m:ConnectionStatus>');
      finish();
      res.end();
    }, this.opts.connectionTimeoutMs ?? minutes * 60_000);
    res.on('close', finish);
  }

  /** Ends every open streaming response (at stop). */
  closeAll(): void {
    for (const r of this.open) r.destroy();
    this.open.clear();
  }
}
