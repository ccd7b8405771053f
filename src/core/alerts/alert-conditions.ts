/**
 * The conditions of the alert rules (issue 14, item 6), pure: given the readings the service
 * took (connection statuses, dead letters per route, the data directory's free space, the
 * certificates its servers presented, the audit chain's verdict) and the time, whether each
 * rule's condition holds now, and a sentence saying why. A reading that could not be taken is
 * `undefined`: the rule's state is then left as it was (unknown is not "resolved").
 */
import type { ConnectionStatus } from '../connection/connection-runner.js';

/** The rule settings the core reads (the validated `alerts.rules[]` has them all). */
export type AlertRule = { name: string; enabled: boolean; channels: readonly string[] } & (
  | { kind: 'connection-failing'; connection?: string; minutes: number }
  | { kind: 'connection-silent'; connection?: string; minutes: number }
  | { kind: 'dead-letters'; route?: string }
  | { kind: 'disk-space'; freePercentBelow: number }
  | { kind: 'certificate-expiry'; connection?: string; days: number }
  | { kind: 'audit-chain-broken' }
  | { kind: 'archive-damaged' }
);

/** One runner's status with the connection it belongs to (a runner per folder: `status.name` may be `<connection>/<folder>`). */
export interface RunnerReading {
  connection: string;
  status: Pick<ConnectionStatus, 'name' | 'state' | 'lastError' | 'lastSuccessAt'> & { certificateExpiresAt?: number };
}

/** What the rules are checked against; `undefined`: not read this time (or the read failed). */
export interface AlertReadings {
  runners?: readonly RunnerReading[];
  /** Dead letters per route. */
  deadLetters?: Readonly<Record<string, number>>;
  /** The data directory's filesystem. */
  disk?: { freePercent: number; freeBytes: number };
  /** The audit chain: intact, or the problem `audit verify` names. */
  audit?: { ok: true } | { ok: false; problem: string };
  /** The background scrub's last pass (ADR 0031): intact, or its problems' count and the first named. */
  archive?: { ok: true } | { ok: false; problems: number; first: string };
}

/** Whether a rule's condition holds, and why (the alert's text). */
export interface Finding {
  holds: boolean;
  summary: string;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

/** What {@link RunnerMemory} keeps, as plain data (written to the alert state file between runs). */
export interface RunnerMemorySnapshot {
  /** Per runner: since when it fails. */
  failingSince: Record<string, number>;
  /** Per runner: its last successful cycle seen. */
  lastSuccess: Record<string, number>;
  /** Per runner: when the certificate its server last presented expires. */
  certificate: Record<string, number>;
}

/**
 * What the evaluator remembers between checks to measure how long a runner has failed or been
 * silent: per runner, since when its failures last (the first failure's time seen after a
 * success), its last successful cycle and server certificate, and when it was first seen in this
 * process (a runner that never succeeded is silent since then). All but the first sighting
 * outlive a restart ({@link snapshot}): a runner that has reported no outcome yet in this
 * process (a restart's first cycle still under way) is judged on what was known of it before,
 * so a rule firing at the stop is neither "resolved" by the blank status of a fresh runner nor
 * fired again once its first cycle fails too.
 */
export class RunnerMemory {
  private readonly failingSince = new Map<string, number>();
  private readonly firstSeen = new Map<string, number>();
  private readonly lastSuccess = new Map<string, number>();
  private readonly certificate = new Map<string, number>();

  /** Updates the memory from this check's runners. */
  observe(runners: readonly RunnerReading[], now: number): void {
    for (const { status } of runners) {
      if (!this.firstSeen.has(status.name)) this.firstSeen.set(status.name, now);
      if (status.lastSuccessAt !== null) this.lastSuccess.set(status.name, Math.max(status.lastSuccessAt, this.lastSuccess.get(status.name) ?? 0));
      if (status.certificateExpiresAt !== undefined) this.certificate.set(status.name, status.certificateExpiresAt);
      // No outcome yet in this process: what was known before stands.
      if (status.lastError === null && status.lastSuccessAt === null && status.state !== 'stopped' && status.state !== 'outside-schedule') continue;
      if (isFailing(status)) {
        if (!this.failingSince.has(status.name)) this.failingSince.set(status.name, status.lastError?.at ?? now);
      } else this.failingSince.delete(status.name);
    }
  }

  /** Since when `runner` fails (null: it does not). */
  failing(runner: string): number | null {
    return this.failingSince.get(runner) ?? null;
  }

  /** When `runner` was first seen by the evaluator. */
  seen(runner: string, now: number): number {
    return this.firstSeen.get(runner) ?? now;
  }

  /** `runner`'s last successful cycle, in this process or (remembered) before it; null: none known. */
  succeeded(runner: string): number | null {
    return this.lastSuccess.get(runner) ?? null;
  }

  /** When the certificate `runner`'s server last presented expires; undefined: none seen. */
  certificateExpiresAt(runner: string): number | undefined {
    return this.certificate.get(runner);
  }

  /** What outlives a restart. */
  snapshot(): RunnerMemorySnapshot {
    return { failingSince: Object.fromEntries(this.failingSince), lastSuccess: Object.fromEntries(this.lastSuccess), certificate: Object.fromEntries(this.certificate) };
  }

  /** Takes back what {@link snapshot} kept (numbers only; anything else is ignored). */
  restore(s: Partial<RunnerMemorySnapshot>): void {
    const load = (into: Map<string, number>, from: unknown): void => {
      if (typeof from !== 'object' || from === null) return;
      for (const [k, v] of Object.entries(from)) if (typeof v === 'number' && Number.isFinite(v)) into.set(k, v);
    };
    load(this.failingSince, s.failingSince);
    load(this.lastSuccess, s.lastSuccess);
    load(this.certificate, s.certificate);
  }
}

/** A runner is failing when its last outcome is a failure: an error later than its last successful cycle, and it is not draining now. */
function isFailing(s: RunnerReading['status']): boolean {
  if (s.state === 'stopped' || s.state === 'outside-schedule') return false;
  if (!s.lastError) return false;
  return s.lastSuccessAt === null || s.lastError.at > s.lastSuccessAt;
}

function watched(runners: readonly RunnerReading[], connection: string | undefined): readonly RunnerReading[] {
  return connection === undefined ? runners : runners.filter((r) => r.connection === connection);
}

function minutesText(ms: number): string {
  const m = ms / MINUTE;
  return m >= 1 ? `${Math.round(m)} min` : `${Math.round(ms / 1000)} s`;
}

/** Whether `rule` holds on `readings` at `now`; undefined when a reading it needs is missing. */
export function checkRule(rule: AlertRule, readings: AlertReadings, memory: RunnerMemory, now: number): Finding | undefined {
  switch (rule.kind) {
    case 'connection-failing': {
      if (!readings.runners) return undefined;
      const over = watched(readings.runners, rule.connection).filter((r) => {
        const since = memory.failing(r.status.name);
        return since !== null && now - since >= rule.minutes * MINUTE;
      });
      return {
        holds: over.length > 0,
        summary:
          over.length > 0
            ? over.map((r) => `${r.status.name} failing for ${minutesText(now - memory.failing(r.status.name)!)} (${r.status.state}; last error ${r.status.lastError?.code ?? '?'}: ${r.status.lastError?.message ?? ''})`).join('; ')
            : `no connection failing for ${minutesText(rule.minutes * MINUTE)}`,
      };
    }
    case 'connection-silent': {
      if (!readings.runners) return undefined;
      const lastGood = (r: RunnerReading): number => r.status.lastSuccessAt ?? memory.succeeded(r.status.name) ?? memory.seen(r.status.name, now);
      const silent = watched(readings.runners, rule.connection).filter((r) => now - lastGood(r) >= rule.minutes * MINUTE);
      return {
        holds: silent.length > 0,
        summary:
          silent.length > 0
            ? silent.map((r) => `${r.status.name}: no successful cycle for ${minutesText(now - lastGood(r))} (${r.status.state})`).join('; ')
            : `every connection had a successful cycle within ${minutesText(rule.minutes * MINUTE)}`,
      };
    }
    case 'dead-letters': {
      if (!readings.deadLetters) return undefined;
      const dead = Object.entries(readings.deadLetters).filter(([route, n]) => n > 0 && (rule.route === undefined || route === rule.route));
      return {
        holds: dead.length > 0,
        summary: dead.length > 0 ? `dead letters: ${dead.map(([route, n]) => `${route} ${n}`).join(', ')} (GET /api/v1/routes/{name}/deliveries?state=dead)` : 'no dead letters',
      };
    }
    case 'disk-space': {
      if (!readings.disk) return undefined;
      const { freePercent, freeBytes } = readings.disk;
      return {
        holds: freePercent < rule.freePercentBelow,
        summary: `the data directory's filesystem has ${freePercent.toFixed(1)} % free (${Math.round(freeBytes / 1048576)} MiB); the rule fires below ${rule.freePercentBelow} %`,
      };
    }
    case 'certificate-expiry': {
      if (!readings.runners) return undefined;
      const expires = (r: RunnerReading): number | undefined => r.status.certificateExpiresAt ?? memory.certificateExpiresAt(r.status.name);
      const soon = watched(readings.runners, rule.connection).filter((r) => expires(r) !== undefined && expires(r)! - now < rule.days * DAY);
      return {
        holds: soon.length > 0,
        summary:
          soon.length > 0
            ? soon.map((r) => `${r.status.name}: the server certificate ${expires(r)! <= now ? 'expired' : 'expires'} ${new Date(expires(r)!).toISOString()}`).join('; ')
            : `no server certificate expires within ${rule.days} days`,
      };
    }
    case 'audit-chain-broken': {
      if (!readings.audit) return undefined;
      return { holds: !readings.audit.ok, summary: readings.audit.ok ? 'the audit chain is intact' : `the audit chain is broken: ${readings.audit.problem}` };
    }
    case 'archive-damaged': {
      if (!readings.archive) return undefined;
      if (readings.archive.ok) return { holds: false, summary: "the scrub's last pass found the archive intact" };
      const n = readings.archive.problems;
      return { holds: true, summary: `the scrub's last pass found ${n > 0 ? `${n} problem${n === 1 ? '' : 's'}` : 'a failure'} (mailsluice verify lists them): ${readings.archive.first}` };
    }
  }
}
