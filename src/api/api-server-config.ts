/**
 * Options of the API server and the tunables behind them, each with its reason.
 */
import type { Logger } from '../core/ports/logger.js';
import type { ArchiveReader } from '../core/ports/archive-reader.js';
import type { BlobStore } from '../core/ports/blob-store.js';
import type { AttachmentFinder } from '../core/ports/attachment-finder.js';
import type { UrlSigner } from './signed-url.js';
import type { ConsoleFiles } from './console-files.js';
import type { ByteBudget } from '../core/memory/byte-budget.js';
import type { SearchIndex } from '../core/ports/search-index.js';
import type { IndexProgress } from '../core/ports/search-rebuild.js';
import type { ConnectionStatus } from '../core/connection/connection-runner.js';
import type { Authorize } from './access.js';
import type { Principal } from '../core/access/index.js';
import type { MessageParser } from '../core/ports/message-parser.js';
import type { Metrics } from '../core/ports/metrics.js';
import type { ResponseLedger } from '../core/ports/response-ledger.js';
import type { AuditFilter } from '../core/ports/audit-log.js';
import type { DeliveryAdmin } from '../core/ports/delivery-admin.js';
import type { VerifyReport } from '../core/archive/archive-verify.js';
import type { PurgeReportSchema, RetentionViewSchema } from './routes/archive-retention.js';
import type { AlertState } from '../core/alerts/index.js';
import type { TokenInfo } from '../core/ports/token-store.js';
import type { Role } from '../core/access/index.js';
import type { HoldView } from './hold-schemas.js';

import type { z } from '@hono/zod-openapi';
import type { AuditPruneSchema, AuditRecordSchema, AuditVerdictSchema, ConnectionStoredSettingsSchema, RouteSchema, RouteStoredSettingsSchema } from './schemas.js';

/** Every setting of a connection, no secret (`GET /api/v1/connections/{name}`'s `settings`). */
export type ConnectionStoredSettings = z.infer<typeof ConnectionStoredSettingsSchema>;

/** Every setting of a route as the file writes it, secrets as references (`GET /api/v1/routes/{name}`'s `settings`). */
export type RouteStoredSettings = z.infer<typeof RouteStoredSettingsSchema>;

/** A route's settings as the API shows them: never a secret, in any form. */
export type RouteSettings = z.infer<typeof RouteSchema>;

/**
 * Records an action on the audit log before it is done: who (the token's name), from where (the
 * remote address), what. A rejection refuses the request (an action that cannot be recorded is
 * not done).
 */
export type RecordAction = (who: string, origin: string, action: string, detail: Record<string, unknown>) => Promise<void>;

/** The audit log as the API reads it. */
export interface AuditView {
  /** The records matching `filter` in sequence order, as `audit list --json` shows them. */
  list(filter: AuditFilter): Promise<Array<z.infer<typeof AuditRecordSchema>>>;
  /** Walks the chain from its checkpoint (with `withArchive`, the archive files first): intact, or the first bad record. */
  verify(options?: { withArchive?: boolean }): Promise<z.infer<typeof AuditVerdictSchema>>;
  /** Moves records older than `keepDays` (default: the configured `audit.keepDays`) to the archive files (ADR 0029); absent: nothing here runs the retention. */
  prune?(keepDays?: number): Promise<z.infer<typeof AuditPruneSchema>>;
}

/** API tokens as the admin manages them (`routes/tokens.ts`, `mailsluice token …`). */
export interface TokensAdmin {
  /** Makes a token; throws `TOKEN_EXISTS` when the name is taken. The answer holds the token, once. */
  create(name: string, role: Role): Promise<{ token: string; name: string; role: Role; created: string }>;
  /** Every token, ordered by name; never a token or its hash. */
  list(): Promise<TokenInfo[]>;
  /** Revokes `name`; whether there was one. */
  revoke(name: string): Promise<boolean>;
}

/** The legal holds (`routes/holds.ts`, `mailsluice hold …`; docs/legal-hold.md). */
export interface HoldsAdmin {
  /** The active holds (with `all`, released ones too), each with what it keeps now. */
  list(all: boolean): Promise<HoldView[]>;
  /** Hold `name`, or null. */
  get(name: string): Promise<HoldView | null>;
  /** Places a hold by `who`: `HOLD_INVALID` by field, `HOLD_EXISTS`. */
  place(who: string, request: { name: string; reason: string; query?: string | null; ids?: number[] }): Promise<HoldView>;
  /** Releases `name` by `who`: `HOLD_NOT_FOUND`, `HOLD_RELEASED`, `HOLD_INVALID` without a reason. */
  release(who: string, name: string, reason: string): Promise<HoldView>;
  /** The active holds that keep the archived message `archiveId`. */
  holdsOf(archiveId: string): Promise<string[]>;
}

/** The configured routes and their deliveries. */
export interface RoutesView {
  /** Every configured route, in the configuration's order. */
  configured(): readonly RouteSettings[];
  /** Every setting of route `name` as the file writes it (secrets as references), for an edit form; absent or undefined: not shown. */
  stored?(name: string): RouteStoredSettings | undefined;
  /** The number of buses the service runs (routes' `bus` is 0..buses-1); absent: not known here. */
  buses?(): number;
  deliveries: Pick<DeliveryAdmin, 'list' | 'replay'>;
  /** Where each delivery's server response stands (`GET /api/v1/deliveries`); absent: shown pending. */
  responses?: Pick<ResponseLedger, 'responseStatuses'>;
}

/** A connection's settings as the API shows them: never a secret, in any form. */
export interface ConnectionSettings {
  name: string;
  enabled: boolean;
  protocol: string;
  host: string;
  port: number;
  security: string;
  folders: string[];
  auth: { type: string; username?: string; credentialSet?: boolean };
  /** EWS only: the URL as configured (`host[:port]/path`, always HTTPS) and the Exchange version; host and port are the URL's, security `tls`. */
  ews?: { url: string; version: string };
  /** The probe test's recipients (ADR 0027). */
  testRecipients?: string[];
  /** The probe test's relay without its password; null: none. */
  testRelay?: { host: string; port: number; protocol: 'smtp' | 'lmtp'; security: 'none' | 'starttls-if-available' | 'starttls' | 'tls'; from: string; authUser?: string; waitMs: number } | null;
}

/** The configured connections and what their runners report now. */
export interface ConnectionsView {
  /** Every configured connection, enabled or not, in the configuration's order. */
  configured(): readonly ConnectionSettings[];
  /** The live status of every running runner (one per connection and folder; none outside `start` or `drain`). */
  statuses(): readonly ConnectionStatus[];
  /** Every setting of connection `name` (no secret), for an edit form; absent or undefined: not shown. */
  stored?(name: string): ConnectionStoredSettings | undefined;
}

/** One step of a connection test, as it completes. */
export interface ConnectionTestStep {
  step: string;
  ok: boolean;
  detail: string;
  /** On failure, the catalogue code. */
  code?: string;
  ms: number;
}

/** A whole connection test (what `mailsluice test-connection --json` prints). */
export interface ConnectionTestResult {
  ok: boolean;
  steps: ConnectionTestStep[];
  messages?: number;
  tls?: boolean;
  warnings?: string[];
  /** A probe test's probe: its Message-ID (without angle brackets). */
  probe?: { messageId: string };
}

/**
 * What applying the configuration file again did (SIGHUP, the file changing, or an edit through
 * the API): only the runners of changed connections restart (issue 14, item 2).
 */
export interface ReloadReport {
  /** Connections whose runners started: new ones, or ones enabled. */
  started: string[];
  /** Connections whose settings changed: their runners stopped after their in-flight batch committed and started again. */
  restarted: string[];
  /** Connections removed or disabled: their runners stopped after their in-flight batch committed. */
  stopped: string[];
  /** Whether the routes changed (the matcher and the dispatcher took the new ones). */
  routesChanged: boolean;
  /** Settings that changed but apply only at the next start (`dataDir`, `api.listen`, `buses`, …), as config paths. */
  waitingForRestart: string[];
}

/** What a configuration edit works on: `connections[]`, `routes[]` or `alerts.rules[]` of the file, by name. */
export type ConfigKind = 'connection' | 'route' | 'alert';

/**
 * One edit of a connection or route, in the YAML's shape as JSON. `patch` is a JSON merge patch
 * (RFC 7386): objects merge, `null` removes a key, anything else (arrays too) replaces.
 */
export type ConfigChange =
  | { op: 'add'; value: Record<string, unknown> }
  | { op: 'patch'; name: string; patch: Record<string, unknown> }
  | { op: 'remove'; name: string }
  | { op: 'enable'; name: string; enabled: boolean };

/** What an edit did: the file's new version, and what applying it to the running service did. */
export interface ConfigEditResult {
  /** The new version of the file (its SHA-256, the `ETag`). */
  etag: string;
  /** The name of the connection or route edited. */
  name: string;
  /** The connection or route as the file now holds it, as GET shows it (no secret); null after a removal. */
  entry: Record<string, unknown> | null;
  /** The keys the edit set or removed, dotted; never a value. */
  changed: string[];
  /** Whether the running service applied it; false: saved, and waiting for the next start. */
  applied: boolean;
  /** What applying it did; null when nothing runs here to apply it to. */
  reload: ReloadReport | null;
}

/**
 * The configuration file as the API edits it (ADR 0023), implemented by the composition root
 * (`app/config-admin.ts`) so the API holds no file and no secret store. Each edit is validated
 * as `config check` validates, written atomically, and applied live; edits run one at a time,
 * each on the file as it is on disk at that moment.
 */
export interface ConfigAdmin {
  /** The version (SHA-256 of the bytes, 64 hex digits) of the file as it is now. */
  etag(): string;
  /**
   * Applies `change` to the `kind` named. `ifMatch`: the version it was made against (an
   * `If-Match` header as sent, `*` for any); another one throws `CONFIG_CONFLICT`. A result
   * that is no valid configuration throws `API_BAD_REQUEST` naming the field, in `config
   * check`'s sentence; a name taken `CONFIG_EXISTS`, one unknown `API_NOT_FOUND`.
   */
  edit(kind: ConfigKind, change: ConfigChange, ifMatch: string | undefined): Promise<ConfigEditResult>;
}

/** What an operator does to a configured connection (`routes/connection-actions.ts`). */
export interface ConnectionActions {
  /**
   * Runs the step-by-step test of `name` with its stored credentials, telling `onStep` each step
   * as it completes; with `probe`, then the probe steps (`send`, `arrive`, `archive`; ADR 0027).
   */
  test(name: string, onStep: (step: ConnectionTestStep) => void, options?: { probe?: boolean }): Promise<ConnectionTestResult>;
  /** Throws `PROBE_NOT_CONFIGURED` when `name` has no test relay or no test recipients (asked before a probe test starts streaming). */
  assertProbe(name: string): void;
  /** Starts a cycle of every runner of `name` at once, outside its schedule window too; how many runners were woken. */
  runNow(name: string): number;
  /** The path of `name`'s own JSON-lines log (it may not exist yet). */
  logFile(name: string): string;
}

/** What a test notification of an alert rule did, per channel. */
export interface AlertTestResult {
  rule: string;
  results: Array<{ channel: string; ok: boolean; code?: string; message?: string }>;
}

/** The alerts of the running service (`app/alerts.ts`): the rules' state and a test send. */
export interface AlertsView {
  /** Every configured rule with its state, in the configuration's order. */
  states(): readonly AlertState[];
  /** Sends a test notification of `rule` to its channels now; undefined when no rule has that name. */
  test(rule: string): Promise<AlertTestResult | undefined>;
}

/** A console session as the API answers it (`routes/session.ts`). */
export interface OpenSession {
  /** The cookie's value. */
  id: string;
  csrfToken: string;
  principal: Principal;
  /** When it ends unless used again, milliseconds since the epoch. */
  expiresAt: number;
}

/** The console's sessions (ADR 0028): signing in with a token, who is signed in, signing out. */
export interface SessionAccess {
  /**
   * Opens a session for the API token `token`; throws `API_UNAUTHORIZED` for a token the archive
   * does not know and `API_RATE_LIMITED` when `remoteAddress` failed too often.
   */
  signIn(token: string, remoteAddress: string): Promise<OpenSession>;
  /** The open session named `id` (its token not revoked), or null. */
  current(id: string): Promise<OpenSession | null>;
  /** Ends session `id`; whether there was one. */
  signOut(id: string): boolean;
  /** Whether the cookie is marked `Secure` (the API is reached over TLS). */
  secureCookie: boolean;
}

/** What the API reads and how it checks URLs; handed over by the composition root. */
export interface ApiDeps {
  /** Archived messages by `ArchiveId`, and what an export writes of them. */
  archive: Pick<ArchiveReader, 'findArchived' | 'stats' | 'takenPerBucket' | 'listForExport' | 'exportItemsOf'>;
  /** Archived messages by their search columns and text. */
  search: SearchIndex;
  /** Whether the search index is being rebuilt, and how far (a search page says so); absent, never. */
  indexProgress?: () => Promise<IndexProgress>;
  connections: ConnectionsView;
  /** The routes resource; absent, it lists none. */
  routes?: RoutesView;
  /**
   * Records reads of archived content and changes (`RecordAction`). Absent (an API built for a
   * test), nothing is recorded; every composition root that serves an archive hands one over.
   */
  record?: RecordAction;
  /** Edits of the configuration file (create, update, delete, enable, disable); absent, those paths answer 404. */
  config?: ConfigAdmin;
  /** API tokens for `/api/v1/tokens`; absent, those paths answer 404. */
  tokens?: TokensAdmin;

  /** The legal holds for `/api/v1/holds` and a message's `holds`; absent, those paths answer 404 and `holds` is empty. */
  holds?: HoldsAdmin;

  /** The audit log for `GET /api/v1/audit`; absent, those paths answer 404. */
  audit?: AuditView;
  /** Test, run now, log; absent: those paths answer 404 (`drain` serves no actions). */
  actions?: ConnectionActions;
  /**
   * Who made a request: every path but `/healthz`, `/readyz`, the OpenAPI document, signed
   * URLs and (with `metricsOpen`) `/metrics` needs a principal with the role the path names
   * (`access.ts`). Absent: those paths
   * answer 401 to everyone.
   */
  authorize?: Authorize;
  /** The console's sessions (`/api/v1/session`); absent, those paths answer 404. */
  sessions?: SessionAccess;
  /** Raw messages: read whole, or streamed (an export). */
  blobs: Pick<BlobStore, 'read' | 'stream'>;
  /** Attachment bytes in a raw message. */
  attachments: AttachmentFinder;
  signer: UrlSigner;
  /** Reads a message's headers and bodies again for the message view (the index keeps no text); absent: the view has none. */
  parser?: Pick<MessageParser, 'parse'>;
  /** Milliseconds since the epoch (URL expiry). */
  now: () => number;
  logger: Logger;
  /**
   * The process's one budget of message bytes in memory (ADR 0017): an attachment read holds its
   * raw message and the decoded attachment, counted here against the same bytes as the drain.
   */
  budget?: ByteBudget;
  /** What `GET /metrics` serves; absent (no pipeline runs), that path answers 404. */
  metrics?: Pick<Metrics, 'render'>;
  /** `api.metricsOpen`: `GET /metrics` without credentials, for a scraper. Default false (role viewer). */
  metricsOpen?: boolean;
  /** The alerts of `start` (present with or without rules: a reload may add some); absent (`drain`, no service), the list is empty and a test answers 404. */
  alerts?: AlertsView;
  /** Reads the archive back whole (`repair`: and indexes orphan blobs again), ADR 0031; absent, those paths answer 404. */
  verifyArchive?: (repair: boolean) => Promise<VerifyReport>;
  /**
   * Retention (docs/retention.md), `start` only: the settings with the last and next purge, and a
   * purge (or dry run) now as `who`; absent, those paths answer 404.
   */
  retention?: {
    view(): Promise<z.infer<typeof RetentionViewSchema>>;
    purge(who: string, options: { dryRun: boolean; asOf?: number }): Promise<z.infer<typeof PurgeReportSchema>>;
  };
  /** Where a search's `total` stops being exact; default `API_TUNING.searchTotalCap` (a test gives a small one). */
  searchTotalCap?: number;
  /**
   * The web console's built files (`console-files.ts`, read at start from the directory the
   * composition root names), served at `/`; absent (the control socket, a `drain`), `/` is 404.
   */
  console?: ConsoleFiles;
}

/** Where {@link startApiServer} listens. */
export interface ApiServerOptions {
  /** Host to bind (IPv6 without brackets). */
  host: string;
  port: number;
  /** HTTPS with this certificate chain and key (PEM text); absent, plain HTTP. */
  tls?: { cert: string; key: string };
}

/** Internal tunables, each with why it has this value. */
export const API_TUNING = {
  /**
   * Attachment requests worked on at once; more wait their turn. Each holds its raw message and
   * the decoded attachment in memory and parses on the thread that also runs the drain, so a
   * burst of receivers fetching large files must not multiply either.
   */
  maxConcurrentAttachmentReads: 2,
  /**
   * Attachment requests that may wait for one of those; more are answered 503 with Retry-After
   * at once. A waiting request holds only its socket, but an unbounded queue let twenty
   * receivers of 23 MB files keep the service at 872 MB (issue 12); a receiver retries anyway.
   */
  maxQueuedAttachmentReads: 8,
  /** The Retry-After of that 503, seconds: about what two large reads take. */
  busyRetryAfterSeconds: 2,
  /** A client that has not sent its request head within this is not going to (slowloris). */
  headersTimeoutMs: 10_000,
  /** The whole request, head and (ignored) body. Answers are not bounded by it. */
  requestTimeoutMs: 30_000,
  /** An idle kept-alive connection is closed after this. */
  keepAliveTimeoutMs: 5_000,
  /**
   * A search's `total` is exact up to this, then says `more`: counting every match of a broad
   * query over millions of messages would cost a full scan of the index per page, for a number
   * no one reads beyond "many" (issue 14).
   */
  searchTotalCap: 10_000,
  /**
   * How long a search's count may take before it says "more than" what it counted instead: a
   * phrase of common words confirms each candidate's word positions (~150 ms for 4,552 of a
   * million messages), which would hold up every page of it (ADR 0042).
   */
  searchCountWithinMs: 30,
  /** Search hits whose excerpts are cut at once: twice the parser's threads on this 2-core machine kind keeps them busy. */
  excerptLanes: 4,
} as const;
