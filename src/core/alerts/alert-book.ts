/**
 * The alerts' state between checks (issue 14, item 6), pure: per rule whether it fires and
 * since when, when it was last sent and the last send error, and which channels are still owed
 * its current notification. A check decides what to send: `firing` when a condition starts,
 * `reminder` every resend interval while it holds, `resolved` when it ends. A channel whose send
 * failed stays owed and is tried again at the next check; a send never blocks a check.
 */
import { checkRule, RunnerMemory, type AlertReadings, type AlertRule, type RunnerMemorySnapshot } from './alert-conditions.js';

/** Why a notification is sent. */
export type AlertEvent = 'firing' | 'reminder' | 'resolved' | 'test';

/** One notification of one rule, to its channels. */
export interface AlertNotification {
  rule: string;
  kind: AlertRule['kind'];
  event: AlertEvent;
  /** What holds (or held), in one sentence. */
  summary: string;
  /** Since when the rule fires (firing, reminder) or fired (resolved); ms since the epoch. */
  since: number | null;
  /** When the notification was made (ms since the epoch). */
  at: number;
}

/** A notification owed to some channels. */
export interface AlertSend {
  notification: AlertNotification;
  channels: string[];
}

/** A rule's state as the API lists it. */
export interface AlertState {
  rule: string;
  kind: AlertRule['kind'];
  enabled: boolean;
  channels: string[];
  /** What it watches, beyond its kind: its threshold (`minutes`, `days`, `freePercentBelow`) and subject (`connection`, `route`) as configured ({@link ruleSettings}). */
  settings: Record<string, string | number>;
  /** `unknown`: not checked yet (or its reading failed every time so far). */
  state: 'ok' | 'firing' | 'unknown';
  /** Since when it is in this state (ms since the epoch); null while unknown. */
  since: number | null;
  summary: string | null;
  /** When a notification of it last reached a channel. */
  lastSentAt: number | null;
  lastError: { channel: string; code: string; message: string; at: number } | null;
  /** Channels still owed its current notification (retried at the next check). */
  owed: string[];
}

interface Entry {
  rule: AlertRule;
  state: 'ok' | 'firing' | 'unknown';
  since: number | null;
  summary: string | null;
  lastSentAt: number | null;
  lastError: AlertState['lastError'];
  owed: { notification: AlertNotification; channels: Set<string> } | null;
}

/** One rule's state as plain data (the alert state file keeps it between runs). */
export interface AlertEntrySnapshot {
  rule: string;
  /** The rule's condition ({@link conditionKey}) the state was reached under. */
  condition: string;
  state: 'ok' | 'firing' | 'unknown';
  since: number | null;
  summary: string | null;
  lastSentAt: number | null;
  lastError: AlertState['lastError'];
  owed: { notification: AlertNotification; channels: string[] } | null;
}

/** Everything an {@link AlertBook} knows, as plain data: what outlives a restart. */
export interface AlertBookSnapshot {
  rules: AlertEntrySnapshot[];
  runners: RunnerMemorySnapshot;
}

/** What a change of rules did to the book's state (the app logs it). */
export interface AlertRulesChange {
  /** Rules new (or whose condition changed): they start unknown. */
  added: string[];
  /** Rules gone (or whose condition changed): their state is dropped, without a "resolved". */
  removed: string[];
  /** Rules whose condition stayed: their state goes on (channels and `enabled` may differ). */
  kept: string[];
}

/**
 * What a rule watches, as a key: every setting but its channels and `enabled` (which change where
 * and whether it is sent, not what is true), keys sorted. Two rules of one name with the same key
 * are the same condition, so the state reached under one holds for the other.
 */
export function conditionKey(rule: AlertRule): string {
  const { channels: _channels, enabled: _enabled, ...condition } = rule;
  const sorted = Object.fromEntries(Object.entries(condition).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return JSON.stringify(sorted);
}

/** A rule's own settings (threshold, subject): every key but its name, kind, channels and `enabled`. */
export function ruleSettings(rule: AlertRule): Record<string, string | number> {
  const { name: _name, kind: _kind, channels: _channels, enabled: _enabled, ...settings } = rule;
  return Object.fromEntries(Object.entries(settings).filter((e): e is [string, string | number] => typeof e[1] === 'string' || typeof e[1] === 'number'));
}

function freshEntry(rule: AlertRule): Entry {
  return { rule, state: 'unknown', since: null, summary: null, lastSentAt: null, lastError: null, owed: null };
}

/** The state of every rule, and what each check owes the channels. */
export class AlertBook {
  private entries: Entry[];
  private readonly memory = new RunnerMemory();

  /** `resendMs`: a notification of a rule that still fires is sent again after this. */
  constructor(rules: readonly AlertRule[], private resendMs: number) {
    this.entries = rules.map(freshEntry);
  }

  /**
   * Takes a new rule set and resend interval (a configuration applied live, ADR 0024): a rule of
   * the same name and condition keeps its state (since when it fires, when it was last sent, the
   * channels still owed, these now only those it still names); a new rule starts unknown; a
   * removed rule is dropped, without a "resolved". The rules' order becomes the new one.
   */
  reconfigure(rules: readonly AlertRule[], resendMs: number): AlertRulesChange {
    this.resendMs = resendMs;
    const before = new Map(this.entries.map((e) => [e.rule.name, e]));
    const change: AlertRulesChange = { added: [], removed: [], kept: [] };
    this.entries = rules.map((rule) => {
      const old = before.get(rule.name);
      before.delete(rule.name);
      if (!old || conditionKey(old.rule) !== conditionKey(rule)) {
        if (old) change.removed.push(rule.name);
        change.added.push(rule.name);
        return freshEntry(rule);
      }
      change.kept.push(rule.name);
      return { ...old, rule, owed: keepOwed(old.owed, rule.channels) };
    });
    change.removed.push(...before.keys());
    return change;
  }

  /** Everything the book knows, as plain data. */
  snapshot(): AlertBookSnapshot {
    return {
      rules: this.entries.map((e) => ({
        rule: e.rule.name,
        condition: conditionKey(e.rule),
        state: e.state,
        since: e.since,
        summary: e.summary,
        lastSentAt: e.lastSentAt,
        lastError: e.lastError,
        owed: e.owed ? { notification: { ...e.owed.notification }, channels: [...e.owed.channels] } : null,
      })),
      runners: this.memory.snapshot(),
    };
  }

  /**
   * Takes back a {@link snapshot} of an earlier run: each rule of the same name and condition
   * resumes its state (so one still firing is not sent again before its resend interval, and one
   * that stopped holding meanwhile is sent "resolved" once); the others stay unknown. Returns
   * the names of the rules resumed.
   */
  restore(snapshot: AlertBookSnapshot): string[] {
    const saved = new Map(snapshot.rules.map((r) => [r.rule, r]));
    const resumed: string[] = [];
    this.entries = this.entries.map((e) => {
      const s = saved.get(e.rule.name);
      if (!s || s.condition !== conditionKey(e.rule)) return e;
      resumed.push(e.rule.name);
      const owed = s.owed ? { notification: { ...s.owed.notification }, channels: new Set(s.owed.channels) } : null;
      return { rule: e.rule, state: s.state, since: s.since, summary: s.summary, lastSentAt: s.lastSentAt, lastError: s.lastError, owed: keepOwed(owed, e.rule.channels) };
    });
    this.memory.restore(snapshot.runners ?? {});
    return resumed;
  }

  /**
   * Checks every enabled rule against `readings` at `now` and returns what is owed now: new
   * firings and resolutions, reminders that are due, and earlier sends that failed.
   */
  check(readings: AlertReadings, now: number): AlertSend[] {
    if (readings.runners) this.memory.observe(readings.runners, now);
    for (const e of this.entries) {
      if (!e.rule.enabled) continue;
      const found = checkRule(e.rule, readings, this.memory, now);
      if (!found) continue;
      e.summary = found.summary;
      if (found.holds && e.state !== 'firing') {
        e.state = 'firing';
        e.since = now;
        this.owe(e, 'firing', now);
      } else if (!found.holds && e.state === 'firing') {
        const since = e.since;
        e.state = 'ok';
        e.since = now;
        this.owe(e, 'resolved', now, since);
      } else if (!found.holds && e.state === 'unknown') {
        e.state = 'ok';
        e.since = now;
      } else if (found.holds && this.reminderDue(e, now)) {
        this.owe(e, 'reminder', now);
      }
    }
    return this.entries.filter((e) => e.owed && e.owed.channels.size > 0).map((e) => ({ notification: e.owed!.notification, channels: [...e.owed!.channels] }));
  }

  /** Records a send of `rule`'s owed notification to `channel`: done, or failed with the error (kept owed). */
  sent(rule: string, channel: string, at: number, error?: { code: string; message: string }): void {
    const e = this.entries.find((x) => x.rule.name === rule);
    if (!e) return;
    if (error) {
      e.lastError = { channel, code: error.code, message: error.message, at };
      return;
    }
    e.lastSentAt = at;
    e.owed?.channels.delete(channel);
    if (e.owed?.channels.size === 0) e.owed = null;
  }

  /** A test notification of `rule` (its current summary, or a sentence saying it is a test); undefined for an unknown rule. */
  test(rule: string, at: number): AlertSend | undefined {
    const e = this.entries.find((x) => x.rule.name === rule);
    if (!e) return undefined;
    const summary = `test of alert rule ${rule} (${e.rule.kind}); now: ${e.summary ?? 'not checked yet'}`;
    return { notification: { rule, kind: e.rule.kind, event: 'test', summary, since: e.since, at }, channels: [...e.rule.channels] };
  }

  /** Every rule's state, in the configuration's order. */
  states(): AlertState[] {
    return this.entries.map((e) => ({
      rule: e.rule.name,
      kind: e.rule.kind,
      enabled: e.rule.enabled,
      channels: [...e.rule.channels],
      settings: ruleSettings(e.rule),
      state: e.state,
      since: e.since,
      summary: e.summary,
      lastSentAt: e.lastSentAt,
      lastError: e.lastError,
      owed: e.owed ? [...e.owed.channels] : [],
    }));
  }

  /**
   * A reminder is due a resend interval after the last send that got through; a notification
   * still owed to a failing channel is replaced by it once that is itself an interval old, so
   * the channels that work are reminded even while another keeps failing.
   */
  private reminderDue(e: Entry, now: number): boolean {
    if (e.lastSentAt === null || now - e.lastSentAt < this.resendMs) return false;
    return e.owed === null || now - e.owed.notification.at >= this.resendMs;
  }

  /** Owes every channel of `e` a notification of `event` (replacing one still owed: the newest news wins). */
  private owe(e: Entry, event: AlertEvent, now: number, since: number | null = e.since): void {
    const summary = event === 'resolved' ? `resolved: ${e.summary ?? ''}` : e.summary ?? '';
    e.owed = { notification: { rule: e.rule.name, kind: e.rule.kind, event, summary, since, at: now }, channels: new Set(e.rule.channels) };
  }
}

/** `owed` narrowed to the channels a rule names now (null when none is left). */
function keepOwed(owed: Entry['owed'], channels: readonly string[]): Entry['owed'] {
  if (!owed) return null;
  const left = new Set([...owed.channels].filter((c) => channels.includes(c)));
  return left.size > 0 ? { notification: owed.notification, channels: left } : null;
}
