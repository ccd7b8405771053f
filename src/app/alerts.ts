/**
 * The alerts of `start` (issue 14, item 6; ADR 0026): every `alerts.checkSeconds` the readings
 * the rules need are taken (the runners' status, the dead letters on a thread of their own, the
 * data directory's free space, the audit chain at most every quarter of an hour), the core's
 * `AlertBook` decides what is owed, and each notification goes out through its channels'
 * notifiers. A send that fails is logged with its code and owed again at the next check; nothing
 * here waits on or slows the drain, and a failure of its own never stops the service. A
 * configuration applied live hands in new rules and channels ({@link Alerting.reconfigure}); the
 * book's state is written to `dataDir/alert-state.json` after every check that changed it, and
 * read back at the start, so a restart neither repeats an alert nor forgets a resolution.
 */
import { readFile, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { AlertBook, type AlertBookSnapshot, type AlertReadings, type AlertRule, type AlertSend, type AlertState, type RunnerReading } from '../core/alerts/index.js';
import { MailsluiceError, toMailsluiceError } from '../core/errors/index.js';
import type { AlertNotifier } from '../core/ports/alert-notifier.js';
import type { AlertsConfig } from '../config/loader.js';
import { signStandardWebhook } from '../adapters/action-webhook/index.js';
import { createWebhookNotifier } from '../adapters/notifier-webhook/index.js';
import { createSmtpNotifier } from '../adapters/notifier-smtp/index.js';
import { writeFileAtomic } from '../adapters/fs-node/atomic-write.js';
import { PRIVATE_FILE_MODE } from '../adapters/fs-node/private-files.js';
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
  /**
   * The alert state file is written when a rule's state changes, and for the runners' memory
   * alone (their last success, which moves every cycle) at most this often: an fsynced write
   * at every check would be churn for a figure a minute does not stale.
   */
  runnerStateEveryMs: 60_000,
} as const;

/** The alert state file in the data directory (owner-only, replaced atomically). */
export function alertStatePath(dataDir: string): string {
  return join(dataDir, 'alert-state.json');
}

/** The state file's format: a version, so a later build can tell an old file from its own. */
const STATE_VERSION = 1;

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
    : createSmtpNotifier({ name: ch.name, relay: ch.relay, from: ch.from, to: ch.to, timeoutMs: ch.timeoutMs });
}

/** The saved state, or null when there is none or it cannot be read (then every rule starts unknown, as before this file existed). */
async function readState(file: string, warn: (message: string, fields: Record<string, unknown>) => void): Promise<AlertBookSnapshot | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') warn('alerts: the saved alert state could not be read; every rule starts unknown', { file, error: String((err as Error).message) });
    return null;
  }
  try {
    const parsed = JSON.parse(text) as { version?: unknown; rules?: unknown; runners?: unknown };
    if (parsed.version !== STATE_VERSION || !Array.isArray(parsed.rules)) throw new Error(`not an alert state of version ${STATE_VERSION}`);
    return { rules: parsed.rules as AlertBookSnapshot['rules'], runners: (parsed.runners ?? {}) as AlertBookSnapshot['runners'] };
  } catch (err) {
    warn('alerts: the saved alert state is not readable; every rule starts unknown', { file, error: String((err as Error).message) });
    return null;
  }
}

/**
 * The alerts of `app` over the runners `runners()` reports (none until they exist), their state
 * resumed from the data directory's alert state file. Made for every `start`, with or without
 * rules (a reload may add some). The loop starts with {@link Alerting.run}.
 */
export async function createAlerting(app: EmbeddedApp, runners: () => readonly RunnerReading[]): Promise<Alerting> {
  let config = app.config.alerts;
  const logger = app.logger.child({ component: 'alerts' });
  const stateFile = alertStatePath(app.config.dataDir);
  let rules = config.rules as readonly AlertRule[];
  const book = new AlertBook(rules, config.resendMinutes * 60_000);
  const saved = await readState(stateFile, (m, f) => logger.warn(m, f));
  if (saved) {
    const resumed = book.restore(saved);
    if (resumed.length > 0) logger.info('alerts: state resumed from the last run', { rules: resumed, file: stateFile });
  }
  // What the file holds: its rules' part (a change is written at once) and when it was written.
  let written = { rules: saved ? JSON.stringify(book.snapshot().rules) : '', all: '', at: app.clock.now() };
  const channels = new Map(config.channels.map((ch) => [ch.name, notifier(ch)]));
  const enabled = (kind: AlertRule['kind']): boolean => rules.some((r) => r.enabled && r.kind === kind);
  // The dead letters come from a count over the deliveries table: on a thread of its own, as the metrics' counts.
  const wantReader = (): MetricsReader | null => (enabled('dead-letters') ? createMetricsReader(dataPaths(app.config.dataDir).db) : null);
  let reader: MetricsReader | null = wantReader();
  let audit: { at: number; verdict: NonNullable<AlertReadings['audit']> } | null = null;
  /** The notifiers a reconfiguration replaced, closed once the sends under way with them ended. */
  let retired: AlertNotifier[] = [];

  /** Writes the book's state when it changed since the last write; a failure is logged, and the next check tries again. */
  // One write at a time (a reload's and a check's could otherwise rename in the wrong order).
  let writing: Promise<void> = Promise.resolve();
  const persist = (): Promise<void> => (writing = writing.then(persistNow));
  const persistNow = async (): Promise<void> => {
    const snapshot = book.snapshot();
    const rulesText = JSON.stringify(snapshot.rules);
    // No rules, and no file from a run that had some: nothing worth keeping.
    if (snapshot.rules.length === 0 && written.rules === '') return;
    const text = JSON.stringify({ version: STATE_VERSION, ...snapshot });
    const now = app.clock.now();
    // The runners' part moves at every successful cycle (its last success): written with the
    // rules' next change, or once a minute, not at every check; a minute-old last success only
    // shifts a silent rule's count after a restart by that minute.
    if (text === written.all || (rulesText === written.rules && now - written.at < ALERT_TUNING.runnerStateEveryMs)) return;
    try {
      await writeFileAtomic(stateFile, text + '\n', PRIVATE_FILE_MODE);
      written = { rules: rulesText, all: text, at: now };
    } catch (err) {
      logger.warn('alerts: the alert state could not be saved; tried again at the next check', { file: stateFile, error: String((err as Error)?.message ?? err) });
    }
  };

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

  const reconfigure = async (next: AlertsConfig): Promise<void> => {
    const change = book.reconfigure(next.rules as readonly AlertRule[], next.resendMinutes * 60_000);
    const before = new Map(config.channels.map((ch) => [ch.name, ch]));
    const renewed: string[] = [];
    for (const ch of next.channels) {
      const old = before.get(ch.name);
      before.delete(ch.name);
      if (old && isDeepStrictEqual(old, ch)) continue;
      const was = channels.get(ch.name);
      if (was) retired.push(was);
      channels.set(ch.name, notifier(ch));
      renewed.push(ch.name);
    }
    for (const name of before.keys()) {
      retired.push(channels.get(name)!);
      channels.delete(name);
    }
    const hadReader = enabled('dead-letters');
    config = next;
    rules = next.rules as readonly AlertRule[];
    if (enabled('dead-letters') !== hadReader) {
      // Swapped before the old one is closed: a check under way never reads a closed reader.
      const old = reader;
      reader = wantReader();
      await old?.close();
    }
    if (change.removed.length > 0) logger.info('alerts: rules removed (their state dropped, no "resolved" sent)', { rules: change.removed });
    logger.info('alerts: rules and channels applied', { kept: change.kept, added: change.added, removed: change.removed, channelsRenewed: renewed, channelsRemoved: [...before.keys()], resendMinutes: next.resendMinutes });
    await persist();
  };

  /** Closes the notifiers a reconfiguration replaced (none is sending: sends happen inside a check). */
  const closeRetired = async (): Promise<void> => {
    const old = retired;
    retired = [];
    await Promise.all(old.map((n) => n.close().catch(() => undefined)));
  };

  /** One check: readings taken, what is owed sent, the state saved. */
  const checkOnce = async (signal: AbortSignal): Promise<void> => {
    await closeRetired();
    const now = app.clock.now();
    const sends = book.check(await readings(now), now);
    if (sends.length > 0 && !signal.aborted) await deliver(sends, signal);
    await persist();
  };

  return {
    reconfigure,
    async run(signal) {
      logger.info('alerts checked', { rules: rules.map((r) => r.name), everySeconds: config.checkSeconds });
      while (!signal.aborted) {
        try {
          await checkOnce(signal);
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
      await closeRetired();
      await Promise.all([...channels.values()].map((n) => n.close()));
    },
  };
}
