/**
 * Retention policies (issue 16, item 3; docs/retention.md), their decisions without I/O: how long
 * a message is kept (`retentionDecision`: the rules that match it, the longest keeping wins, the
 * default for a message no rule matches, kept for ever without one), the periods as written
 * (`parsePeriod`, `addPeriod`), the addresses a message is matched by (`messageAddresses`) and
 * when the service's next purge is due (`nextPurgeAt`). The purge itself (which rows go, in which
 * transaction) is the store's and the app's (`app/purge.ts`).
 */
import type { MessageAttributes } from '../message/attributes.js';

/** A period's unit: days, weeks, calendar months, calendar years. */
export type PeriodUnit = 'd' | 'w' | 'm' | 'y';

/** A retention period as written (`90d`, `7y`). */
export interface Period {
  count: number;
  unit: PeriodUnit;
  /** As written, for reports. */
  text: string;
}

const PERIOD = /^([1-9][0-9]{0,5})([dwmy])$/;
const DAY_MS = 86_400_000;

/** `90d`, `12w`, `18m`, `7y` → a period; anything else → null. */
export function parsePeriod(text: string): Period | null {
  const m = PERIOD.exec(text.trim());
  if (!m) return null;
  return { count: Number(m[1]), unit: m[2] as PeriodUnit, text: text.trim() };
}

/**
 * The instant `period` after `start` (ms since the epoch). Months and years are calendar ones in
 * UTC (7y after 2020-02-29 is 2027-03-01), never a fixed count of days: a law's "seven years" is
 * never cut short by leap days. Date arithmetic here is pure (no clock is read).
 */
export function addPeriod(start: number, period: Period): number {
  if (period.unit === 'd') return start + period.count * DAY_MS;
  if (period.unit === 'w') return start + period.count * 7 * DAY_MS;
  const d = new Date(start);
  if (period.unit === 'm') d.setUTCMonth(d.getUTCMonth() + period.count);
  else d.setUTCFullYear(d.getUTCFullYear() + period.count);
  return d.getTime();
}

/** What a rule matches: each field given must match (AND); within a field, any value (OR). */
export interface RetentionMatch {
  connections?: readonly string[];
  routes?: readonly string[];
  /** Whole addresses, compared without case, against the sender and every recipient (journal envelope included). */
  addresses?: readonly string[];
  /** Domains (`example.com`, not its subdomains), compared without case, against the same addresses. */
  domains?: readonly string[];
}

/** Where a rule's age counts from: archiving (`taken_at`, the default) or the message's own Date header. */
export type RetentionSince = 'archived' | 'received';

/** One rule of `archive.retention.rules`. */
export interface RetentionRule {
  name: string;
  keep: Period;
  match: RetentionMatch;
  since: RetentionSince;
}

/** `archive.retention` as the purge reads it. */
export interface RetentionPolicy {
  /** Kept this long when no rule matches (from archiving); absent: kept for ever. */
  default?: Period;
  rules: readonly RetentionRule[];
}

/** What a decision reads of one message. */
export interface RetentionFacts {
  connection: string;
  /** When it was archived (`taken_at`, ms since the epoch). */
  takenAt: number;
  /** Its Date header (ISO 8601), or null when it has none or it could not be read. */
  receivedDate: string | null;
  /** The routes it was routed to (only read when a rule matches by route). */
  routes?: readonly string[];
  /** Its sender and recipients, lowercase ({@link messageAddresses}; only read when a rule matches by address or domain). */
  addresses?: readonly string[];
}

/** The name reports give the default when it decided. */
export const DEFAULT_RULE = '(default)';

/** How long one message is kept. */
export interface RetentionDecision {
  /** Whether it is past its retention at the instant asked about. */
  expired: boolean;
  /** The rule that decided ({@link DEFAULT_RULE} for the default), or null: kept for ever. */
  rule: string | null;
  /** When it expires (ms since the epoch), or null: never. */
  expiresAt: number | null;
}

function matchesAny(values: readonly string[] | undefined, wanted: readonly string[] | undefined, same: (a: string, b: string) => boolean): boolean {
  if (!wanted) return true;
  return (values ?? []).some((v) => wanted.some((w) => same(v, w)));
}

const sameText = (a: string, b: string): boolean => a === b;
const sameAddress = (a: string, b: string): boolean => a === b.toLowerCase();
const inDomain = (a: string, domain: string): boolean => a.endsWith(`@${domain.toLowerCase()}`);

/** Whether `rule` matches the message. */
export function ruleMatches(rule: RetentionRule, facts: RetentionFacts): boolean {
  const m = rule.match;
  if (m.connections && !m.connections.includes(facts.connection)) return false;
  return (
    matchesAny(facts.routes, m.routes, sameText) &&
    matchesAny(facts.addresses, m.addresses, sameAddress) &&
    matchesAny(facts.addresses, m.domains, inDomain)
  );
}

/**
 * Where a rule's age starts for a message: `taken_at`, or with `since: received` its Date header
 * (a sender writes that header as they like: a message without one, or with one that does not
 * read, counts from archiving instead).
 */
function startOf(since: RetentionSince, facts: RetentionFacts): number {
  if (since === 'received' && facts.receivedDate) {
    const t = Date.parse(facts.receivedDate);
    if (Number.isFinite(t)) return t;
  }
  return facts.takenAt;
}

/**
 * The retention of one message at `now`: among the rules that match it, the one that keeps it the
 * longest (the latest expiry, each from its own start) decides; a message no rule matches keeps
 * the default, and with no default it is kept for ever.
 */
export function retentionDecision(policy: RetentionPolicy, facts: RetentionFacts, now: number): RetentionDecision {
  let best: { rule: string; expiresAt: number } | null = null;
  for (const rule of policy.rules) {
    if (!ruleMatches(rule, facts)) continue;
    const expiresAt = addPeriod(startOf(rule.since, facts), rule.keep);
    if (!best || expiresAt > best.expiresAt) best = { rule: rule.name, expiresAt };
  }
  if (!best && policy.default) best = { rule: DEFAULT_RULE, expiresAt: addPeriod(facts.takenAt, policy.default) };
  if (!best) return { expired: false, rule: null, expiresAt: null };
  return { expired: best.expiresAt <= now, rule: best.rule, expiresAt: best.expiresAt };
}

/** What of a message the policy needs read: routes, addresses, neither. */
export function factsNeeded(policy: RetentionPolicy): { routes: boolean; addresses: boolean } {
  return {
    routes: policy.rules.some((r) => r.match.routes !== undefined),
    addresses: policy.rules.some((r) => r.match.addresses !== undefined || r.match.domains !== undefined),
  };
}

/** Whether the policy can expire anything at all (a default, or at least one rule). */
export function policyPurges(policy: RetentionPolicy): boolean {
  return policy.default !== undefined || policy.rules.length > 0;
}

/**
 * A message's addresses as rules match them, lowercase and without names: From, To, Cc, Bcc and,
 * for an unwrapped journal report, its envelope's Sender, On-Behalf-Of and Recipients (the
 * envelope names the Bcc recipients the original's headers hide).
 */
export function messageAddresses(a: Partial<Pick<MessageAttributes, 'From' | 'To' | 'Cc' | 'Bcc' | 'Journal'>>): string[] {
  const out = new Set<string>();
  const add = (s: string | undefined | null): void => {
    const t = (s ?? '').trim().toLowerCase();
    if (t) out.add(t);
  };
  add(a.From?.Address);
  for (const list of [a.To, a.Cc, a.Bcc]) for (const x of list ?? []) add(x?.Address);
  if (a.Journal) {
    add(a.Journal.Sender);
    add(a.Journal.OnBehalfOf);
    for (const r of a.Journal.Recipients ?? []) add(r.Address);
  }
  return [...out];
}

/** The first purge after a start with none recorded waits this long: a restart loop must not purge each time. */
export const FIRST_PURGE_DELAY_MS = 10 * 60_000;

/** When the service's next purge is due: a period after the last one, else shortly after the start. */
export function nextPurgeAt(lastFinishedAt: number | null, now: number, everyHours: number, startedAt = now): number {
  const every = everyHours * 3_600_000;
  if (lastFinishedAt === null) return Math.max(now, startedAt + Math.min(FIRST_PURGE_DELAY_MS, every));
  return Math.max(now, lastFinishedAt + every);
}
