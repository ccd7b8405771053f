/**
 * The alerts of `start` (issue 14, item 6; ADR 0026): every `alerts.checkSeconds` the readings
 * the rules need are taken (the runners' status, the dead letters on a thread of their own, the
 * data directory's free space, the audit chain at most every quarter of an hour), the core's
 * `AlertBook` decides what is owed, and each notification goes out through its channels'
 * notifiers. A send that fails is logged with its code and owed again at the next check; nothing
 * here waits on or slows the drain, and a failure of its own never stops the service.
 */
import { statfs } from 'node:fs/promises';
import { AlertBook, type AlertReadings, type AlertRule, type AlertSend, type AlertState, type RunnerReading } from '../core/alerts/index.js';
import { MailsluiceError, toMailsluiceError } from '../core/errors/index.js';
import type { AlertNotifier } from '../core/ports/alert-notifier.js';
import type { AlertsConfig } from '../config/loader.js';
import { signStandardWebhook } from '../adapters/action-webhook/index.js';
import { createWebhookNotifier } from '../adapters/notifier-webhook/index.js';
import { createSmtpNotifier } from '../adapters/notifier-smtp/index.js';
import type { AlertsView, AlertTestResult } from '../api/index.js';
import { createMetricsReader, type MetricsReader } from './metrics-reader.js';
import { dataPaths, type EmbeddedApp } from './embedded.js';
import { verifyAuditLog } from './audit.js';

/** Internal tunables, each with its reason. */
export const ALERT_TUNING = {
  /**
   * The audit chain is verified at most this often: the walk reads every record on the drain's
   * thread, so it runs rarely; a broken chain is news that a quarter of an hour does not stale.
   */
  auditEveryMs: 15 * 60_000,
} as const;

/** The alerts of a run: their loop and what the API reads of them. */
export interface Alerting {
  /** Checks the rules until `signal` aborts; never rejects. */
  run(signal: AbortSignal): Promise<void>;
  /** The API's view: rules with their state, and a test send. */
  view: AlertsView;
  /** Ends the dead-letter reader's thread. */
  close(): Promise<void>;
}

/** The notifier of each configured channel, by name. */
function notifiers(config: AlertsConfig): Map<string, AlertNotifier> {
  const made = new Map<string, AlertNotifier>();
  for (const ch of config.channels) {
    made.set(
      ch.name,
      ch.type === 'webhook'
        ? createWebhookNotifier({ name: ch.name, url: ch.url, timeoutMs: ch.timeoutMs, ...(ch.secret !== undefined ? { secret: ch.secret, sign: signStandardWebhook } : {}) })
        : createSmtpNotifier({ name: ch.name, relay: ch.relay, from: ch.from, to: ch.to, timeoutMs: ch.timeoutMs }),
    );
  }
  return made;
}

/**
 * The alerts of `app` over the runners `runners()` reports (none until they exist); null
 * without rules. The loop starts with {@link Alerting.run}.
 */
export function createAlerting(app: EmbeddedApp, runners: () => readonly RunnerReading[]): Alerting | null {
  const config = app.config.alerts;
  if (config.rules.length === 0) return null;
  const logger = app.logger.child({ component: 'alerts' });
  const rules = config.rules as readonly AlertRule[];
  const book = new AlertBook(rules, config.resendMinutes * 60_000);
  const channels = notifiers(config);
  const enabled = (kind: AlertRule['kind']): boolean => rules.some((r) => r.enabled && r.kind === kind);
  // The dead letters come from a count over the deliveries table: on a thread of its own, as the metrics' counts.
  let reader: MetricsReader | null = enabled('dead-letters') ? createMetricsReader(dataPaths(app.config.dataDir).db) : null;
  let audit: { at: number; verdict: NonNullable<AlertReadings['audit']> } | null = null;

  const failedReading = (reading: string, err: unknown): undefined => {
    const e = toMailsluiceError(err);
    logger.warn(`alerts: could not read ${reading}`, { code: 'ALERT_READING_FAILED', reading, error: `${e.code}: ${e.message}` });
    return undefined;
  };

  const readings = async (now: number): Promise<AlertReadings> => {
    const out: AlertReadings = { runners: runners() };
    if (reader) {
      const counts = await reader.read().catch((err: unknown) => failedReading('the dead letters', err));
      if (counts) out.deadLetters = Object.fromEntries(Object.entries(counts.deliveries).map(([route, c]) => [route, c.dead]));
    }
    if (enabled('disk-space')) {
      const fs = await statfs(app.config.dataDir).catch((err: unknown) => failedReading('the free space of the data directory', err));
      if (fs && fs.blocks > 0) out.disk = { freePercent: (fs.bavail / fs.blocks) * 100, freeBytes: fs.bavail * fs.bsize };
    }
    if (enabled('audit-chain-broken')) {
      if (!audit || now - audit.at >= ALERT_TUNING.auditEveryMs) {
        const v = await verifyAuditLog(app.audit).catch((err: unknown) => failedReading('the audit chain', err));
        if (v) audit = { at: now, verdict: v.ok ? { ok: true } : { ok: false, problem: `record ${v.seq}: ${v.problem} (mailsluice audit verify)` } };
      }
      if (audit) out.audit = audit.verdict;
    }
    return out;
  };

  /** Sends one notification to one channel; the error, if any, as a catalogue error. */
  const sendOne = async (send: AlertSend, name: string, signal?: AbortSignal): Promise<MailsluiceError | null> => {
    const notifier = channels.get(name);
    try {
      if (!notifier) throw new MailsluiceError('ALERT_SEND_FAILED', `no alert channel named ${name}`);
      await notifier.send(send.notification, signal);
      return null;
    } catch (err) {
      return toMailsluiceError(err);
    }
  };

  const deliver = async (sends: AlertSend[], signal: AbortSignal): Promise<void> => {
    await Promise.all(
      sends.flatMap((s) =>
        s.channels.map(async (name) => {
          const err = await sendOne(s, name, signal);
          const at = app.clock.now();
          if (err) logger.warn('alert not sent; tried again at the next check', { code: 'ALERT_SEND_FAILED', rule: s.notification.rule, event: s.notification.event, channel: name, error: err.message });
          else logger.info('alert sent', { rule: s.notification.rule, event: s.notification.event, channel: name });
          book.sent(s.notification.rule, name, at, err ? { code: err.code, message: err.message } : undefined);
        }),
      ),
    );
  };

  return {
    async run(signal) {
      logger.info('alerts checked', { rules: rules.map((r) => r.name), everySeconds: config.checkSeconds });
      while (!signal.aborted) {
        try {
          const now = app.clock.now();
          const sends = book.check(await readings(now), now);
          if (sends.length > 0 && !signal.aborted) await deliver(sends, signal);
        } catch (err) {
          // A check that fails is tried again at the next; alerts never stop the service.
          logger.error('alerts: the check failed', { error: String((err as Error)?.message ?? err) });
        }
        await app.clock.sleep(config.checkSeconds * 1000, signal);
      }
    },
    view: {
      states: (): AlertState[] => book.states(),
      async test(rule): Promise<AlertTestResult | undefined> {
        const send = book.test(rule, app.clock.now());
        if (!send) return undefined;
        const results = await Promise.all(
          send.channels.map(async (channel) => {
            const err = await sendOne(send, channel);
            return err ? { channel, ok: false, code: err.code, message: err.message } : { channel, ok: true };
          }),
        );
        logger.info('alert test sent', { rule, results: results.map((r) => `${r.channel}: ${r.ok ? 'ok' : r.code}`) });
        return { rule, results };
      },
    },
    async close() {
      await reader?.close();
      reader = null;
      await Promise.all([...channels.values()].map((n) => n.close()));
    },
  };
}
