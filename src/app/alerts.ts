/**
 * The alerts of `start` (issue 14, item 6; ADR 0026): every `alerts.checkSeconds` the readings
 * the rules need are taken (the runners' status, the dead letters on a thread of their own, the
 * data directory's free space, the audit chain at most every quarter of an hour), the core's
 * `AlertBook` decides what is owed, and each notification goes out through its channels'
 * notifiers. A send that fails is logged with its code and owed again at the next check; nothing
 * here waits on or slows the drain, and a failure of its own never stops the service. A
 * configuration applied live hands in new rules and channels ({@link Alerting.reconfigure}); the
 * book's state is kept in `alert-state-file.ts` after every check that changed it, and read back
 * at the start, so a restart neither repeats an alert nor forgets a resolution.
 */
import { readScrubVerdict } from './scrub.js';
import { statfs } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { AlertBook, type AlertReadings, type AlertRule, type AlertSend, type AlertState, type RunnerReading } from '../core/alerts/index.js';
import { MailsluiceError, toMailsluiceError } from '../core/errors/index.js';
import type { AlertNotifier } from '../core/ports/alert-notifier.js';
import type { AlertsConfig } from '../config/loader.js';
import { signStandardWebhook } from '../adapters/action-webhook/index.js';
import { createWebhookNotifier } from '../adapters/notifier-webhook/index.js';
import { createMailNotifier } from './alert-mail-notifier.js';
import type { AlertsView, AlertTestResult } from '../api/index.js';
import { createMetricsReader, type MetricsReader } from './metrics-reader.js';
import { dataPaths, type EmbeddedApp } from './embedded.js';
import { verifyAuditLog } from './audit.js';
import { AlertStateFile, alertStatePath } from './alert-state-file.js';
import type { Logger } from '../core/ports/logger.js';

/**
 * The audit chain is verified at most this often: the walk reads every record on the drain's
 * thread, so it runs rarely; a broken chain is news that a quarter of an hour does not stale.
 */
export const AUDIT_CHECK_EVERY_MS = 15 * 60_000;

/** The alerts of a run: their loop and what the API reads of them. */
export interface Alerting {
  /** Checks the rules until `signal` aborts; never rejects. */
  run(signal: AbortSignal): Promise<void>;
  /** The API's view: rules with their state, and a test send. */
  view: AlertsView;
  /**
   * Takes the rules and channels of `config` (a configuration applied live): rules unchanged keep
   * their state, new ones start unknown, removed ones are dropped; a channel whose settings
   * changed gets a new notifier. Logged; the next check uses them.
   */
  reconfigure(config: AlertsConfig): Promise<void>;
  /** Ends the dead-letter reader's thread and the notifiers. */
  close(): Promise<void>;
}

type ChannelConfig = AlertsConfig['channels'][number];

/** The notifier of one configured channel. */
function notifier(ch: ChannelConfig): AlertNotifier {
  return ch.type === 'webhook'
    ? createWebhookNotifier({ name: ch.name, url: ch.url, timeoutMs: ch.timeoutMs, ...(ch.secret !== undefined ? { secret: ch.secret, sign: signStandardWebhook } : {}) })
    : createMailNotifier(ch);
}

/**
 * The alerts of `app` over the runners `runners()` reports (none until they exist), their state
 * resumed from the data directory's alert state file. Made for every `start`, with or without
 * rules (a reload may add some). The loop starts with {@link Alerting.run}.
 */
export async function createAlerting(app: EmbeddedApp, runners: () => readonly RunnerReading[]): Promise<Alerting> {
  const logger = app.logger.child({ component: 'alerts' });
  const state = new AlertStateFile(alertStatePath(app.config.dataDir), app.clock, logger);
  const loop = new AlertLoop(app, runners, logger, state);
  const saved = await state.read();
  if (saved) {
    const resumed = loop.book.restore(saved);
    if (resumed.length > 0) logger.info('alerts: state resumed from the last run', { rules: resumed, file: state.file });
  }
  return {
    reconfigure: (next) => loop.reconfigure(next),
    run: (signal) => loop.run(signal),
    view: { states: (): AlertState[] => loop.book.states(), test: (rule) => loop.test(rule) },
    close: () => loop.close(),
  };
}

/** The loop of one run: the book, the channels' notifiers, the readings it takes. */
class AlertLoop {
  readonly book: AlertBook;
  private config: AlertsConfig;
  private readonly channels: Map<string, AlertNotifier>;
  /** The dead letters come from a count over the deliveries table: on a thread of its own, as the metrics' counts. */
  private reader: MetricsReader | null;
  private audit: { at: number; verdict: NonNullable<AlertReadings['audit']> } | null = null;
  /** The notifiers a reconfiguration replaced, closed once the sends under way with them ended. */
  private retired: AlertNotifier[] = [];

  constructor(
    private readonly app: EmbeddedApp,
    private readonly runners: () => readonly RunnerReading[],
    private readonly logger: Logger,
    private readonly state: AlertStateFile,
  ) {
    this.config = app.config.alerts;
    this.book = new AlertBook(this.rules, this.config.resendMinutes * 60_000);
    this.channels = new Map(this.config.channels.map((ch) => [ch.name, notifier(ch)]));
    this.reader = this.wantReader();
  }

  private get rules(): readonly AlertRule[] {
    return this.config.rules as readonly AlertRule[];
  }

  private enabled(kind: AlertRule['kind']): boolean {
    return this.rules.some((r) => r.enabled && r.kind === kind);
  }

  private wantReader(): MetricsReader | null {
    return this.enabled('dead-letters') ? createMetricsReader(dataPaths(this.app.config.dataDir).db, this.app.databaseKey ?? null) : null;
  }

  async run(signal: AbortSignal): Promise<void> {
    this.logger.info('alerts checked', { rules: this.rules.map((r) => r.name), everySeconds: this.config.checkSeconds });
    while (!signal.aborted) {
      try {
        await this.checkOnce(signal);
      } catch (err) {
        // A check that fails is tried again at the next; alerts never stop the service.
        this.logger.error('alerts: the check failed', { error: String((err as Error)?.message ?? err) });
      }
      await this.app.clock.sleep(this.config.checkSeconds * 1000, signal);
    }
  }

  /** One check: readings taken, what is owed sent, the state saved. */
  private async checkOnce(signal: AbortSignal): Promise<void> {
    await this.closeRetired();
    const now = this.app.clock.now();
    const sends = this.book.check(await this.readings(now), now);
    if (sends.length > 0 && !signal.aborted) await this.deliver(sends, signal);
    await this.state.save(this.book);
  }

  private failedReading(reading: string, err: unknown): undefined {
    const e = toMailsluiceError(err);
    this.logger.warn(`alerts: could not read ${reading}`, { code: 'ALERT_READING_FAILED', reading, error: `${e.code}: ${e.message}` });
    return undefined;
  }

  private async readings(now: number): Promise<AlertReadings> {
    const out: AlertReadings = { runners: this.runners() };
    if (this.reader) {
      const counts = await this.reader.read().catch((err: unknown) => this.failedReading('the dead letters', err));
      if (counts) out.deadLetters = Object.fromEntries(Object.entries(counts.deliveries).map(([route, c]) => [route, c.dead]));
    }
    if (this.enabled('disk-space')) {
      const fs = await statfs(this.app.config.dataDir).catch((err: unknown) => this.failedReading('the free space of the data directory', err));
      if (fs && fs.blocks > 0) out.disk = { freePercent: (fs.bavail / fs.blocks) * 100, freeBytes: fs.bavail * fs.bsize };
    }
    if (this.enabled('audit-chain-broken')) {
      if (!this.audit || now - this.audit.at >= AUDIT_CHECK_EVERY_MS) {
        const v = await verifyAuditLog(this.app.audit).catch((err: unknown) => this.failedReading('the audit chain', err));
        if (v) this.audit = { at: now, verdict: v.ok ? { ok: true } : { ok: false, problem: `record ${v.seq}: ${v.problem} (mailsluice audit verify)` } };
      }
      if (this.audit) out.audit = this.audit.verdict;
    }
    if (this.enabled('archive-damaged')) {
      const v = await readScrubVerdict(this.app.config.dataDir);
      if (v) out.archive = v.ok ? { ok: true } : { ok: false, problems: v.problems, first: v.first[0] ?? '' };
    }
    return out;
  }

  /** Sends one notification to one channel; the error, if any, as a catalogue error. */
  private async sendOne(send: AlertSend, name: string, signal?: AbortSignal): Promise<MailsluiceError | null> {
    const n = this.channels.get(name);
    try {
      if (!n) throw new MailsluiceError('ALERT_SEND_FAILED', `no alert channel named ${name}`);
      await n.send(send.notification, signal);
      return null;
    } catch (err) {
      return toMailsluiceError(err);
    }
  }

  private async deliver(sends: AlertSend[], signal: AbortSignal): Promise<void> {
    const { logger } = this;
    await Promise.all(
      sends.flatMap((s) =>
        s.channels.map(async (name) => {
          const err = await this.sendOne(s, name, signal);
          const at = this.app.clock.now();
          if (err) logger.warn('alert not sent; tried again at the next check', { code: 'ALERT_SEND_FAILED', rule: s.notification.rule, event: s.notification.event, channel: name, error: err.message });
          else logger.info('alert sent', { rule: s.notification.rule, event: s.notification.event, channel: name });
          this.book.sent(s.notification.rule, name, at, err ? { code: err.code, message: err.message } : undefined);
        }),
      ),
    );
  }

  /** A test notification of `rule` to each of its channels now; its state does not change. */
  async test(rule: string): Promise<AlertTestResult | undefined> {
    const send = this.book.test(rule, this.app.clock.now());
    if (!send) return undefined;
    const results = await Promise.all(
      send.channels.map(async (channel) => {
        const err = await this.sendOne(send, channel);
        return err ? { channel, ok: false, code: err.code, message: err.message } : { channel, ok: true };
      }),
    );
    this.logger.info('alert test sent', { rule, results: results.map((r) => `${r.channel}: ${r.ok ? 'ok' : r.code}`) });
    return { rule, results };
  }

  async reconfigure(next: AlertsConfig): Promise<void> {
    const change = this.book.reconfigure(next.rules as readonly AlertRule[], next.resendMinutes * 60_000);
    const { renewed, removed } = this.renewChannels(next.channels);
    const hadReader = this.enabled('dead-letters');
    this.config = next;
    if (this.enabled('dead-letters') !== hadReader) {
      // Swapped before the old one is closed: a check under way never reads a closed reader.
      const old = this.reader;
      this.reader = this.wantReader();
      await old?.close();
    }
    if (change.removed.length > 0) this.logger.info('alerts: rules removed (their state dropped, no "resolved" sent)', { rules: change.removed });
    this.logger.info('alerts: rules and channels applied', { kept: change.kept, added: change.added, removed: change.removed, channelsRenewed: renewed, channelsRemoved: removed, resendMinutes: next.resendMinutes });
    await this.state.save(this.book);
  }

  /** New notifiers for the channels whose settings changed or that are new; those removed retired. */
  private renewChannels(next: readonly ChannelConfig[]): { renewed: string[]; removed: string[] } {
    const before = new Map(this.config.channels.map((ch) => [ch.name, ch]));
    const renewed: string[] = [];
    for (const ch of next) {
      const old = before.get(ch.name);
      before.delete(ch.name);
      if (old && isDeepStrictEqual(old, ch)) continue;
      const was = this.channels.get(ch.name);
      if (was) this.retired.push(was);
      this.channels.set(ch.name, notifier(ch));
      renewed.push(ch.name);
    }
    for (const name of before.keys()) {
      this.retired.push(this.channels.get(name)!);
      this.channels.delete(name);
    }
    return { renewed, removed: [...before.keys()] };
  }

  /** Closes the notifiers a reconfiguration replaced (none is sending: sends happen inside a check). */
  private async closeRetired(): Promise<void> {
    const old = this.retired;
    this.retired = [];
    await Promise.all(old.map((n) => n.close().catch(() => undefined)));
  }

  async close(): Promise<void> {
    await this.reader?.close();
    this.reader = null;
    await this.closeRetired();
    await Promise.all([...this.channels.values()].map((n) => n.close()));
  }
}
