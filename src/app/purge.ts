/**
 * The purge (issue 16, item 3; docs/retention.md): the messages past their retention
 * (`core/archive/retention.ts`) removed from the archive's metadata, a page at a time so no
 * archive is ever loaded whole, and in one transaction per batch with its `archive.purge` audit
 * record (`RetentionStore.purgeBatch`); held messages (`HeldLookup`) and messages still being
 * processed are kept and counted; then the pack space is reclaimed (`ReclaimSpace`). A dry run
 * lists what would go and changes nothing. `createPurger` is `start`'s: every
 * `archive.retention.everyHours`, one purge at a time, the last report in
 * `dataDir/purge-state.json`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { factsNeeded, nextPurgeAt, policyPurges, retentionDecision, type RetentionPolicy } from '../core/archive/retention.js';
import { toMailsluiceError } from '../core/errors/index.js';
import type { AuditEntry } from '../core/ports/audit-log.js';
import type { Clock } from '../core/ports/clock.js';
import type { Logger } from '../core/ports/logger.js';
import type { HeldLookup, PurgedMessage, ReclaimSpace, RetentionRow, RetentionStore, SpaceReport } from '../core/ports/retention-store.js';
import { writeFileAtomic } from '../adapters/fs-node/atomic-write.js';
import { PRIVATE_FILE_MODE } from '../adapters/fs-node/private-files.js';

/** The audit action of a purge's batch. */
export const PURGE_ACTION = 'archive.purge';
/** The last purge's report, in the data directory. */
export const PURGE_STATE_FILE = 'purge-state.json';
/** Messages read per page (their facts only, no bodies). */
const PAGE = 1000;
/** Messages removed per transaction: the drain waits for the write lock at most that long (a few ms per hundred). */
const BATCH = 500;
/** Items a report lists at most when asked to keep its list (the API's dry run); the command line streams them all. */
export const LISTED_AT_MOST = 1000;

/** One message a purge removes, or a dry run would. No subject or address: the list is safe to print and log. */
export interface PurgeItem {
  id: number;
  connection: string;
  sha256: string;
  size: number;
  /** ISO 8601. */
  takenAt: string;
  /** Its Date header as saved, or null. */
  receivedDate: string | null;
  /** The rule that decided (`(default)` for the default). */
  rule: string;
}

/** What one purge did (or, dry, would do). */
export interface PurgeReport {
  dryRun: boolean;
  /** The instant retention was judged at (ISO 8601): now, or a dry run's `--as-of`. */
  asOf: string;
  startedAt: string;
  seconds: number;
  /** Messages looked at. */
  scanned: number;
  /** Past their retention. */
  expired: number;
  /** Removed (dry: would be). */
  purged: number;
  /** Their bytes (as received). */
  bytesPurged: number;
  /** Catalogue rows removed: blobs no other message shares (0 on a dry run). */
  blobsRemoved: number;
  /** Expired but kept by a legal hold: the number, and per hold name the messages it kept. */
  keptByHolds: number;
  holds: Record<string, number>;
  /** Expired but kept: not done being processed (not parsed, server action or deliveries pending) or a journal report merged into it. */
  keptPending: number;
  /** The `archive.purge` audit records written (sequence numbers). */
  auditRecords: number[];
  /** Full-text rows of an earlier purge a crash left, removed now. */
  searchRowsSettled: number;
  /** What reclaiming the pack space did; null on a dry run. */
  space: SpaceReport | null;
  /** What went (or would go), when kept: the first {@link LISTED_AT_MOST}. */
  items?: PurgeItem[];
  /** A scheduled purge that failed: its code and sentence (`purge-state.json` only). */
  error?: string;
}

/** What a purge works through. */
export interface PurgeDeps {
  store: RetentionStore;
  clock: Clock;
  logger: Logger;
  policy: RetentionPolicy;
  /** Legal holds (issue 16, item 4). */
  held: HeldLookup;
  /** The blob store's compaction. */
  reclaimSpace: ReclaimSpace;
  /** Who the audit records name, and from where. */
  who: string;
  origin: string;
}

/** What a purge is asked. */
export interface PurgeOptions {
  dryRun?: boolean;
  /** Judge retention at this instant instead of now (ms; a dry run only: the caller checks). */
  asOf?: number;
  /** Told each message that goes (or would), in id order: the command line prints them as they come. */
  onItem?: (item: PurgeItem) => void;
  /** Keep the first {@link LISTED_AT_MOST} items in the report. */
  keepItems?: boolean;
  signal?: AbortSignal;
}

function emptyReport(dryRun: boolean, asOf: number, startedAt: number): PurgeReport {
  return {
    dryRun,
    asOf: new Date(asOf).toISOString(),
    startedAt: new Date(startedAt).toISOString(),
    seconds: 0,
    scanned: 0,
    expired: 0,
    purged: 0,
    bytesPurged: 0,
    blobsRemoved: 0,
    keptByHolds: 0,
    holds: {},
    keptPending: 0,
    auditRecords: [],
    searchRowsSettled: 0,
    space: null,
  };
}

function itemOf(r: RetentionRow, rule: string): PurgeItem {
  return { id: r.id, connection: r.connection, sha256: r.sha256, size: r.size, takenAt: new Date(r.takenAt).toISOString(), receivedDate: r.receivedDate, rule };
}

/** The audit entry of one batch: the purged ids and their SHA-256s, in the same order. */
function auditEntry(deps: PurgeDeps, purged: readonly PurgedMessage[]): AuditEntry {
  return {
    at: deps.clock.now(),
    who: deps.who,
    origin: deps.origin,
    action: PURGE_ACTION,
    detail: { count: purged.length, ids: purged.map((p) => p.id), sha256: purged.map((p) => p.sha256), bytes: purged.reduce((n, p) => n + p.size, 0) },
  };
}

/** Runs one purge (or dry run) over the whole archive, page by page. */
export async function runPurge(deps: PurgeDeps, options: PurgeOptions = {}): Promise<PurgeReport> {
  const dryRun = options.dryRun === true;
  const startedAt = deps.clock.now();
  const asOf = options.asOf ?? startedAt;
  const report = emptyReport(dryRun, asOf, startedAt);
  if (options.keepItems) report.items = [];
  if (!dryRun) report.searchRowsSettled = await deps.store.sweepSearch();
  const want = factsNeeded(deps.policy);
  const emit = (item: PurgeItem): void => {
    options.onItem?.(item);
    if (report.items && report.items.length < LISTED_AT_MOST) report.items.push(item);
  };
  if (policyPurges(deps.policy)) {
    for (let after = 0; !options.signal?.aborted; ) {
      const rows = await deps.store.page(after, PAGE, want);
      if (rows.length === 0) break;
      after = rows[rows.length - 1]!.id;
      report.scanned += rows.length;
      await purgePage(deps, rows, asOf, report, dryRun, emit);
      // Other work (the drain's commits, the API) runs between pages.
      await nextTurn();
    }
  }
  if (!dryRun) {
    report.space = await deps.reclaimSpace();
    // Only when rows went: a purge that removed nothing freed no page (and converts no database).
    if (report.purged > 0 || report.searchRowsSettled > 0) {
      try {
        report.space.databases = await deps.store.compactDatabases();
      } catch (err) {
        // The rows went and are audited: a compaction that failed (each step is a transaction,
        // nothing half done) is not a failed purge; the next purge that removes anything tries again.
        const e = toMailsluiceError(err);
        deps.logger.warn('giving the databases\' space back failed; the next purge tries again', { code: e.code, error: e.message });
      }
    }
  }
  report.seconds = (deps.clock.now() - startedAt) / 1000;
  return report;
}

/** One page: what expired, less what is busy or held, removed in batches (or listed). */
async function purgePage(deps: PurgeDeps, rows: readonly RetentionRow[], asOf: number, report: PurgeReport, dryRun: boolean, emit: (i: PurgeItem) => void): Promise<void> {
  const expired: Array<{ row: RetentionRow; rule: string }> = [];
  for (const row of rows) {
    const d = retentionDecision(deps.policy, row, asOf);
    if (!d.expired) continue;
    report.expired++;
    if (row.busy) report.keptPending++;
    else expired.push({ row, rule: d.rule! });
  }
  if (expired.length === 0) return;
  const held = await deps.held(expired.map((e) => e.row.id));
  const go: Array<{ row: RetentionRow; rule: string }> = [];
  for (const e of expired) {
    const holds = held.get(e.row.id);
    if (!holds || holds.length === 0) {
      go.push(e);
      continue;
    }
    report.keptByHolds++;
    for (const h of holds) report.holds[h] = (report.holds[h] ?? 0) + 1;
  }
  if (dryRun) {
    for (const e of go) {
      report.purged++;
      report.bytesPurged += e.row.size;
      emit(itemOf(e.row, e.rule));
    }
    return;
  }
  const ruleOf = new Map(go.map((e) => [e.row.id, e]));
  for (let i = 0; i < go.length; i += BATCH) {
    const ids = go.slice(i, i + BATCH).map((e) => e.row.id);
    const r = await deps.store.purgeBatch(ids, (purged) => auditEntry(deps, purged));
    report.keptPending += r.keptBusy;
    report.blobsRemoved += r.blobsRemoved;
    if (r.record) report.auditRecords.push(r.record.seq);
    for (const p of r.purged) {
      const e = ruleOf.get(p.id)!;
      report.purged++;
      report.bytesPurged += p.size;
      emit(itemOf(e.row, e.rule));
    }
  }
}

/** One line for the log and the command line. */
export function purgeSummary(r: PurgeReport): string {
  const holds = Object.entries(r.holds).map(([n, c]) => `${n}: ${c}`).join(', ');
  const db = r.space?.databases;
  const space = r.space
    ? `; blob store ${r.space.bytesBefore} → ${r.space.bytesAfter} bytes (${r.space.packsRewritten} packs rewritten)` +
      (db ? `; databases ${db.bytesBefore} → ${db.bytesAfter} bytes${db.converted.length ? ` (${db.converted.join(', ')} converted to incremental vacuum)` : ''}` : '')
    : '';
  return (
    `${r.dryRun ? 'would purge' : 'purged'} ${r.purged} of ${r.expired} expired messages (${r.bytesPurged} bytes) after looking at ${r.scanned}` +
    `; kept by holds ${r.keptByHolds}${holds ? ` (${holds})` : ''}; kept as pending ${r.keptPending}` +
    `${r.dryRun ? '' : `; ${r.blobsRemoved} blobs released`}${space} in ${r.seconds.toFixed(1)} s`
  );
}

/** The last purge's report kept by `start`, or null (none, or unreadable). */
export async function readPurgeState(dataDir: string): Promise<PurgeReport | null> {
  try {
    const r = JSON.parse(await readFile(join(dataDir, PURGE_STATE_FILE), 'utf8')) as PurgeReport;
    return typeof r.startedAt === 'string' && typeof r.purged === 'number' ? r : null;
  } catch {
    return null;
  }
}

/** What `GET /api/v1/archive/retention` answers. */
export interface RetentionView {
  everyHours: number;
  default: string | null;
  rules: Array<{ name: string; keep: string; since: 'archived' | 'received'; match: { connection?: string[]; route?: string[]; address?: string[]; domain?: string[] } }>;
  /** The last purge's report (no item list), or null. */
  lastPurge: PurgeReport | null;
  /** When `start` purges next (ISO 8601), or null: no rule and no default, nothing to purge. */
  nextPurgeAt: string | null;
}

/** The app's side a purger works over. */
export interface PurgerApp {
  readonly config: { dataDir: string; archive: { retention: { everyHours: number; policy: RetentionPolicy } } };
  retention: RetentionStore;
  heldAmong: HeldLookup;
  reclaimSpace: ReclaimSpace;
  clock: Clock;
  logger: Logger;
}

/** `start`'s purges: on demand (the API, the command line through the control socket) and on the schedule, one at a time. */
export interface Purger {
  purge(options: PurgeOptions & { who: string; origin: string }): Promise<PurgeReport>;
  view(): Promise<RetentionView>;
  /** The schedule, until `signal`; never rejects. */
  run(signal: AbortSignal): Promise<void>;
}

/** The deps of a purge over `app`, judged by the policy configured now. */
export function purgeDeps(app: PurgerApp, who: string, origin: string): PurgeDeps {
  return { store: app.retention, clock: app.clock, logger: app.logger, policy: app.config.archive.retention.policy, held: app.heldAmong, reclaimSpace: () => app.reclaimSpace(), who, origin };
}

/** The policy as the API shows it. */
function viewOf(policy: RetentionPolicy, everyHours: number): Omit<RetentionView, 'lastPurge' | 'nextPurgeAt'> {
  return {
    everyHours,
    default: policy.default?.text ?? null,
    rules: policy.rules.map((r) => ({
      name: r.name,
      keep: r.keep.text,
      since: r.since,
      match: {
        ...(r.match.connections ? { connection: [...r.match.connections] } : {}),
        ...(r.match.routes ? { route: [...r.match.routes] } : {}),
        ...(r.match.addresses ? { address: [...r.match.addresses] } : {}),
        ...(r.match.domains ? { domain: [...r.match.domains] } : {}),
      },
    })),
  };
}

/** The purges of a running service over `app`. */
export function createPurger(app: PurgerApp): Purger {
  const logger = app.logger.child({ component: 'purge' });
  const startedAt = app.clock.now();
  let tail: Promise<unknown> = Promise.resolve();
  const purge = (options: PurgeOptions & { who: string; origin: string }): Promise<PurgeReport> => {
    const next = tail.then(async () => {
      const report = await runPurge(purgeDeps(app, options.who, options.origin), options);
      // A purge cut short by the stop is not recorded as done: the next start purges again soon.
      if (!report.dryRun && !options.signal?.aborted) {
        const { items: _items, ...kept } = report;
        await writeFileAtomic(join(app.config.dataDir, PURGE_STATE_FILE), JSON.stringify(kept) + '\n', PRIVATE_FILE_MODE);
        logger.info(purgeSummary(report), { purged: report.purged, keptByHolds: report.keptByHolds, keptPending: report.keptPending });
      }
      return report;
    });
    tail = next.catch(() => undefined);
    return next;
  };
  const dueAt = async (): Promise<number | null> => {
    const { everyHours, policy } = app.config.archive.retention;
    if (!policyPurges(policy)) return null;
    const last = await readPurgeState(app.config.dataDir);
    return nextPurgeAt(last ? Date.parse(last.startedAt) + last.seconds * 1000 : null, app.clock.now(), everyHours, startedAt);
  };
  return {
    purge,
    async view() {
      const { everyHours, policy } = app.config.archive.retention;
      const due = await dueAt();
      return { ...viewOf(policy, everyHours), lastPurge: await readPurgeState(app.config.dataDir), nextPurgeAt: due === null ? null : new Date(due).toISOString() };
    },
    async run(signal) {
      while (!signal.aborted) {
        // Read at every turn: a reload that adds rules or changes the period applies at the next.
        const due = await dueAt();
        const now = app.clock.now();
        if (due === null || due > now) {
          await app.clock.sleep(Math.min(due === null ? 3_600_000 : due - now, 3_600_000), signal).catch(() => undefined);
          continue;
        }
        await purge({ who: 'mailsluice', origin: 'retention', signal }).catch(async (err: unknown) => {
          const e = toMailsluiceError(err);
          // Tried again a period later; the purge never stops the service.
          logger.error('purge failed; tried again a period later', { code: e.code, error: e.message });
          const failed = { ...emptyReport(false, now, now), seconds: (app.clock.now() - now) / 1000, error: `${e.code}: ${e.message}` };
          await writeFileAtomic(join(app.config.dataDir, PURGE_STATE_FILE), JSON.stringify(failed) + '\n', PRIVATE_FILE_MODE).catch(() => undefined);
        });
      }
    },
  };
}
