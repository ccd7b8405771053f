/**
 * Push for the EWS source (`idle: true`): streaming notifications (Subscribe, then a
 * GetStreamingEvents answer held open, Exchange 2010 SP1 and later) or, before 2010 SP1, a pull
 * subscription polled with GetEvents. Either only shortens a wait: `wait(ms)` ends on a
 * NewMailEvent or CreatedEvent, or when `ms` pass (the safety poll), so a subscription that goes
 * silent, or a server that refuses subscriptions, never stalls archiving. A subscription the
 * server no longer knows is made again.
 */
import type { Logger } from '../../core/ports/logger.js';
import type { EwsClient } from './ews-client.js';
import { responseCode, responseMessages } from './ews-client.js';
import { getEvents, getStreamingEvents, subscribePull, subscribeStreaming, unsubscribe, type EwsFolderRef } from './ews-soap.js';
import { EWS_TUNING } from './ews-source-config.js';
import { child, childrenNamed, parseXml, path, type XmlNode } from './ews-xml.js';
import { pause } from '../timer-node/pause.js';

/** ResponseCodes that mean the subscription is gone and must be made again. */
const GONE = new Set(['ErrorSubscriptionNotFound', 'ErrorInvalidSubscription', 'ErrorExpiredSubscription', 'ErrorInvalidWatermark', 'ErrorReadEventsFailed', 'ErrorSubscriptionAccessDenied']);

/** Whether a Notification element holds a new or created item. */
function hasNewMail(notification: XmlNode | undefined): boolean {
  return !!notification && notification.children.some((e) => e.name === 'NewMailEvent' || e.name === 'CreatedEvent');
}

/** Splits a stream of concatenated SOAP envelopes (GetStreamingEvents) into whole ones. */
export class EnvelopeSplitter {
  private buf = '';
  private readonly decoder = new TextDecoder('utf-8');

  /** Takes bytes; returns the envelopes they completed. */
  push(chunk: Uint8Array): string[] {
    this.buf += this.decoder.decode(chunk, { stream: true });
    const out: string[] = [];
    const end = /<\/(?:[A-Za-z_][\w.-]*:)?Envelope\s*>/g;
    let from = 0;
    for (let m = end.exec(this.buf); m; m = end.exec(this.buf)) {
      out.push(this.buf.slice(from, m.index + m[0].length));
      from = m.index + m[0].length;
    }
    this.buf = this.buf.slice(from);
    if (this.buf.length > EWS_TUNING.maxEnvelopeBytes) throw new Error(`a streaming notification is longer than ${EWS_TUNING.maxEnvelopeBytes} characters`);
    return out;
  }
}

/** The push of one folder on a client of its own (a streaming answer holds its connection). */
export class EwsNotifier {
  private changed = false;
  private wake: (() => void) | undefined;
  private closed = false;
  private running: Promise<void> | undefined;
  private pull: { id: string; watermark: string } | undefined;

  constructor(
    private readonly client: EwsClient,
    private readonly folder: EwsFolderRef,
    private readonly streaming: boolean,
    private readonly logger: Logger,
  ) {}

  /** Waits until new mail is signalled (or was since the last wait) or `ms` pass; ends early on abort. */
  async wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.streaming) this.running ??= this.streamLoop();
    if (this.changed) {
      this.changed = false;
      return;
    }
    const until = Date.now() + ms;
    await pause(ms, signal, (end) => {
      this.wake = end;
      if (!this.streaming) void this.pollUntil(until, signal);
    });
    this.wake = undefined;
    this.changed = false;
  }

  private signal(): void {
    this.changed = true;
    this.wake?.();
  }

  /** Subscribes and reads the streaming answers for as long as the notifier lives. */
  private async streamLoop(): Promise<void> {
    let id: string | undefined;
    while (!this.closed) {
      try {
        id ??= await this.subscribe(subscribeStreaming(this.folder));
        const ans = await this.client.open('GetStreamingEvents', getStreamingEvents(id, EWS_TUNING.streamingConnectionMinutes));
        const split = new EnvelopeSplitter();
        for await (const chunk of ans.res as AsyncIterable<Buffer>) {
          for (const env of split.push(chunk)) {
            for (const m of responseMessages(parseXml(env, EWS_TUNING.maxEnvelopeBytes))) {
              const { code } = responseCode(m);
              if (GONE.has(code)) {
                this.logger.info('EWS streaming subscription is gone; subscribing again', { code });
                id = undefined;
                continue;
              }
              for (const n of childrenNamed(child(m, 'Notifications'), 'Notification')) if (hasNewMail(n)) this.signal();
            }
          }
          if (id === undefined) break;
        }
        if (id === undefined) ans.res.destroy();
      } catch (err) {
        if (this.closed) return;
        // The safety poll keeps archiving going; try again after a pause.
        this.logger.warn('EWS streaming notifications failed; the safety poll goes on, subscribing again shortly', { error: err instanceof Error ? err.message : String(err) });
        id = undefined;
        // Unref'd: a pause before trying again must not keep a closing process alive.
        await new Promise((r) => setTimeout(r, EWS_TUNING.pullEveryMs).unref());
      }
    }
  }

  private async subscribe(body: string): Promise<string> {
    const tree = await this.client.call('Subscribe', body);
    const m = responseMessages(tree)[0];
    const { code, text } = m ? responseCode(m) : { code: 'no response message', text: '' };
    if (code !== 'NoError') throw this.client.responseError('Subscribe', code, text);
    const id = child(m, 'SubscriptionId')?.text.trim();
    if (!id) throw this.client.responseError('Subscribe', 'no SubscriptionId', '');
    if (!this.streaming) this.pull = { id, watermark: child(m, 'Watermark')?.text.trim() ?? '' };
    return id;
  }

  /** Polls the pull subscription until an event, `until`, or the end of the wait. */
  private async pollUntil(until: number, signal?: AbortSignal): Promise<void> {
    while (!this.closed && this.wake && !signal?.aborted && Date.now() < until) {
      try {
        if (!this.pull) await this.subscribe(subscribePull(this.folder, EWS_TUNING.pullTimeoutMinutes));
        const p = this.pull!;
        const m = responseMessages(await this.client.call('GetEvents', getEvents(p.id, p.watermark)))[0];
        const { code, text } = m ? responseCode(m) : { code: 'no response message', text: '' };
        if (GONE.has(code)) {
          this.logger.info('EWS pull subscription is gone; subscribing again', { code });
          this.pull = undefined;
          continue;
        }
        if (code !== 'NoError') throw this.client.responseError('GetEvents', code, text);
        const n = path(m, 'Notification');
        const marks = (n?.children ?? []).map((e) => child(e, 'Watermark')?.text.trim()).filter((w): w is string => !!w);
        if (marks.length) p.watermark = marks[marks.length - 1]!;
        if (hasNewMail(n)) return this.signal();
        if (child(n, 'MoreEvents')?.text.trim() === 'true') continue;
      } catch (err) {
        if (this.closed) return;
        this.logger.warn('EWS pull notifications failed; waiting for the safety poll', { error: err instanceof Error ? err.message : String(err) });
        this.pull = undefined;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(EWS_TUNING.pullEveryMs, until - Date.now()))));
    }
  }

  /** Ends the subscription (a pull one is unsubscribed, politely and without waiting long). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    const p = this.pull;
    if (p) await Promise.race([this.client.call('Unsubscribe', unsubscribe(p.id)).catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
    this.client.close();
  }
}
