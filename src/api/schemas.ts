/**
 * The schemas the API's requests and answers share. Each one validates what comes in, types the
 * handlers, and is the OpenAPI document's description of it (`openapi.ts`): they cannot drift.
 */
import { z } from '@hono/zod-openapi';

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** A SHA-256 in 64 lowercase hex digits (an `ArchiveId`, an attachment's `Sha256`). */
export const hexSha256 = z
  .string()
  .regex(HEX_SHA256, { error: 'must be a SHA-256 in 64 lowercase hex digits' })
  .openapi({ example: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08' });

/** Every error answer. */
export const ErrorSchema = z
  .object({
    code: z.string().openapi({ description: 'A stable code from the error catalogue (docs/errors.md), e.g. API_FORBIDDEN.', example: 'API_FORBIDDEN' }),
    message: z.string().openapi({ description: 'What went wrong, in one sentence.' }),
    problems: z
      .array(
        z.object({
          field: z.string().openapi({ description: 'The field at fault, dotted as in the request body (`port`, `auth.password`, `scenario.0.url`).', example: 'port' }),
          message: z.string().openapi({ description: 'What is wrong with it, in one sentence.' }),
        }),
      )
      .optional()
      .openapi({ description: 'A 400 of a malformed or invalid body: every problem found, each with its field (what a form shows beside the field).' }),
  })
  .openapi('Error');

/** An error answer of the document: `description` says when, and with which code. */
export function errorAnswer(description: string) {
  return { description, content: { 'application/json': { schema: ErrorSchema } } } as const;
}

/** A JSON answer of the document. */
export function jsonAnswer<T extends z.ZodType>(description: string, schema: T) {
  return { description, content: { 'application/json': { schema } } } as const;
}

/** The 401, 403 and 429 of every path that needs credentials. */
export const ACCESS_ANSWERS = {
  401: errorAnswer('No credentials, or none that are valid (API_UNAUTHORIZED).'),
  403: errorAnswer('The credentials lack the role this path needs (API_FORBIDDEN), or a POST, PUT, PATCH or DELETE made with the session cookie lacks its X-CSRF-Token (API_CSRF_REJECTED).'),
  429: errorAnswer('Too many failed sign-ins or unknown tokens from this address within a minute (API_RATE_LIMITED); try again after `Retry-After` seconds.'),
} as const;

export const HealthSchema = z.object({ ok: z.literal(true) }).openapi('Health');

/** A connection's live state, as its runner (one per folder) reports it. */
export const ConnectionStateSchema = z
  .enum(['starting', 'connecting', 'draining', 'waiting', 'outside-schedule', 'backoff', 'disk-full', 'stopped', 'error'])
  .openapi({ description: 'What the runner does now; `error`: it stopped on an error that retrying does not cure.' });

const LastErrorSchema = z
  .object({ code: z.string(), message: z.string(), at: z.string().openapi({ format: 'date-time' }) })
  .nullable()
  .openapi({ description: 'The last error of a cycle, with its catalogue code and when; null when none since the start.' });

/** One folder's runner. */
export const FolderStatusSchema = z
  .object({
    folder: z.string(),
    state: ConnectionStateSchema,
    lastPollAt: z.string().nullable().openapi({ format: 'date-time', description: 'When a cycle last began.' }),
    taken: z.number().int().openapi({ description: 'Messages taken since the service started.' }),
    bytes: z.number().int().openapi({ description: 'Their raw bytes.' }),
    failed: z.number().int(),
    cycles: z.number().int(),
    failures: z.number().int().openapi({ description: 'Cycles that ended with an error since the start.' }),
    lastError: LastErrorSchema,
    lastSuccessAt: z.string().nullable().openapi({ format: 'date-time', description: 'When a cycle last completed; null before the first since the start.' }),
    nextAttemptAt: z
      .string()
      .nullable()
      .openapi({ format: 'date-time', description: 'While the runner waits: when its next cycle or session starts (end of the poll interval, back-off or time outside the schedule). Null while it works, and while it waits on IDLE.' }),
    startedAt: z.string().openapi({ format: 'date-time', description: 'When this runner started: applying a changed configuration restarts only the runners of changed connections.' }),
    sessions: z.number().int().openapi({ description: 'Sessions (logins) this runner opened since it started.' }),
    backlog: z.number().int().openapi({ description: "Messages the folder's last listing found on the server not yet taken, counted down as they are committed; 0 once it is empty. At most the connection's maxMessagesPerCycle." }),
    rateLastMinute: z.number().openapi({ description: 'Messages taken per second over the last minute.' }),
  })
  .openapi('FolderStatus');

export const ConnectionStatusSchema = z
  .object({
    name: z.string(),
    enabled: z.boolean(),
    state: ConnectionStateSchema.nullable().openapi({ description: "The state of its first folder's runner; null when no runner runs it (disabled, or not in this command)." }),
    lastPollAt: z.string().nullable().openapi({ format: 'date-time', description: 'When a cycle of any of its folders last began; null when none did since the start.' }),
    lastSuccessAt: z.string().nullable().openapi({ format: 'date-time', description: 'When a cycle of any of its folders last completed; null when none did since the start.' }),
    lastError: LastErrorSchema.openapi({ description: "The latest of its folders' last errors, with its catalogue code and when; null when none since the start." }),
    nextAttemptAt: z.string().nullable().openapi({ format: 'date-time', description: "The earliest of its waiting folders' next attempts; null when none waits for a known time." }),
    taken: z.number().int().openapi({ description: 'Messages taken since the archive began.' }),
    bytes: z.number().int().openapi({ description: 'Their raw bytes.' }),
    pendingActions: z.number().int().openapi({ description: 'Server actions (delete, move, flag) not yet applied.' }),
    backlog: z.number().int().openapi({ description: 'Messages on the server not yet taken, as the last listings of its folders found them (the sum of the folders\' backlog).' }),
    rateLastMinute: z.number().openapi({ description: 'Messages taken per second over the last minute (all its folders).' }),
    folders: z.array(FolderStatusSchema),
  })
  .openapi('ConnectionStatus');

const SECURITY = z.enum(['none', 'starttls-if-available', 'starttls', 'tls']);

/**
 * Every setting of a connection in the configuration file's keys (docs/configuration.md), as the
 * running configuration holds it (defaults filled in, ports resolved), what an edit form starts
 * from; no secret in any form: `secretsSet` names the secret keys that hold one.
 */
export const ConnectionStoredSettingsSchema = z
  .object({
    description: z.string(),
    logging: z.enum(['full', 'errors', 'off']),
    host: z.string(),
    port: z.number().int(),
    tlsPort: z.number().int(),
    security: SECURITY,
    tls: z.object({ verify: z.boolean(), minVersion: z.string(), servername: z.string().optional() }),
    auth: z.object({
      type: z.string(),
      username: z.string().optional(),
      domain: z.string().optional(),
      disablePlain: z.boolean(),
      apop: z.boolean(),
      tokenUrl: z.string().optional(),
      clientId: z.string().optional(),
      scope: z.string().optional(),
    }),
    mailbox: z.union([z.string(), z.array(z.string())]),
    pollIntervalMs: z.number().int(),
    maxMessagesPerCycle: z.number().int(),
    unseenOnly: z.boolean(),
    idle: z.boolean(),
    idleSafetyPollMs: z.number().int(),
    partialFetch: z.boolean(),
    deletePolicy: z.string(),
    moveTo: z.string().optional(),
    expungeEvery: z.number().int(),
    connectTimeoutMs: z.number().int(),
    dataTimeoutMs: z.number().int(),
    schedule: z.union([
      z.literal('any-time'),
      z.object({ timezone: z.string(), windows: z.array(z.object({ days: z.array(z.string()), from: z.string(), to: z.string() })) }),
    ]),
    testRecipients: z.array(z.string()),
    testRelay: z
      .object({
        host: z.string(),
        port: z.number().int(),
        protocol: z.enum(['smtp', 'lmtp']),
        security: SECURITY,
        tls: z.object({ verify: z.boolean(), servername: z.string().optional() }),
        auth: z.object({ user: z.string() }).optional(),
        from: z.string(),
        timeoutMs: z.number().int(),
        waitMs: z.number().int(),
      })
      .optional(),
    ews: z.object({ url: z.string(), version: z.string() }).optional(),
    graph: z.object({ tenant: z.string(), clientId: z.string(), mailbox: z.string(), folder: z.string(), authority: z.string(), endpoint: z.string(), scope: z.string().optional() }).optional().openapi({ description: 'Protocol graph: where and as which app; clientSecret and clientCertificate are only named in secretsSet.' }),
    secretsSet: z.array(z.string()).openapi({ description: 'The secret keys that hold a value (dotted: auth.password, tls.ca, testRelay.auth.pass, …); the values never leave the service.' }),
  })
  .openapi('ConnectionStoredSettings');

/** A connection's settings, without a secret in any form. */
export const ConnectionSchema = z
  .object({
    name: z.string(),
    enabled: z.boolean(),
    protocol: z.string(),
    host: z.string(),
    port: z.number().int(),
    security: z.string(),
    folders: z.array(z.string()),
    auth: z
      .object({ type: z.string(), username: z.string().optional(), credentialSet: z.boolean().optional().openapi({ description: 'Whether a password (or access token) is configured; its value is never shown.' }) })
      .openapi({ description: 'How it logs in; passwords, tokens and keys never leave the service.' }),
    ews: z
      .object({ url: z.string(), version: z.string() })
      .optional()
      .openapi({ description: 'Protocol ews only: the EWS URL as configured (host[:port]/path, always HTTPS) and the Exchange version; host and port are the URL\'s, security is tls.' }),
    testRecipients: z.array(z.string()).optional().openapi({ description: 'Where the probe test sends its probe (the seeds\' "test recipients").' }),
    testRelay: z
      .object({
        host: z.string(),
        port: z.number().int(),
        protocol: z.enum(['smtp', 'lmtp']),
        security: z.enum(['none', 'starttls-if-available', 'starttls', 'tls']),
        from: z.string(),
        authUser: z.string().optional().openapi({ description: 'The SMTP AUTH user; the password never leaves the service.' }),
        waitMs: z.number().int(),
      })
      .nullable()
      .optional()
      .openapi({ description: 'The relay the probe test sends through (ADR 0027); null: no probe test.' }),
    settings: ConnectionStoredSettingsSchema.optional().openapi({ description: 'GET /api/v1/connections/{name} only: every setting, for an edit form.' }),
  })
  .openapi('Connection');

export const ReadySchema = z
  .object({
    ready: z.boolean(),
    archive: z.object({ readable: z.boolean(), code: z.string().optional() }),
    connections: z.array(z.object({ name: z.string(), state: ConnectionStateSchema.nullable() })),
  })
  .openapi('Ready');

export const StatsSchema = z
  .object({
    messages: z.number().int(),
    bytes: z.number().int(),
    blobs: z.number().int(),
    storedBytes: z.number().int(),
    unparsed: z.number().int(),
    unparsable: z.number().int(),
    journalMerged: z.number().int(),
    connections: z.record(z.string(), z.object({ messages: z.number().int(), bytes: z.number().int(), pendingActions: z.number().int(), journalMerged: z.number().int() })),
  })
  .openapi('Stats');

/** Counts per minute of one series (`GET /api/v1/stats/throughput`). */
const ThroughputSeriesShape = {
  messages: z.array(z.number().int()).openapi({ description: 'Messages taken in each minute, oldest first: index i is the minute starting at `from` + i minutes; the last is the current minute, still filling.' }),
  bytes: z.array(z.number().int()).openapi({ description: 'Their raw bytes, per minute as `messages`.' }),
};

export const ThroughputSchema = z
  .object({
    from: z.string().openapi({ format: 'date-time', description: 'Start of the first minute (a whole minute, UTC).' }),
    to: z.string().openapi({ format: 'date-time', description: 'End of the last minute (exclusive): the end of the current minute.' }),
    minutes: z.number().int().openapi({ description: 'How many minutes (the length of every series).' }),
    bucketSeconds: z.literal(60),
    total: z.object(ThroughputSeriesShape).openapi({ description: 'Every connection together.' }),
    connections: z
      .array(z.object({ name: z.string(), ...ThroughputSeriesShape }))
      .openapi({ description: 'Each connection that took a message in the window, by name (a connection that took none is not listed).' }),
  })
  .openapi('Throughput');

export const AttachmentInfoSchema = z
  .object({
    name: z.string(),
    contentType: z.string(),
    size: z.number().int(),
    sha256: z.string(),
    url: z.string().openapi({ description: 'A signed URL of its bytes (GET /api/v1/messages/{archiveId}/attachments/{sha256}), valid for `api.referenceTtlSeconds`.' }),
  })
  .openapi('AttachmentInfo');

export const SearchHitSchema = z
  .object({
    id: z.number().int().openapi({ description: "The message's row in the archive (as `mailsluice search --json` prints it); `archiveId` is what names it." }),
    archiveId: z.string(),
    connection: z.string(),
    from: z.string(),
    subject: z.string(),
    date: z.string().nullable(),
    size: z.number().int(),
    excerpt: z.string().openapi({
      description:
        'About 200 characters of the text body (or the HTML body without tags) around the first word of `text` it holds, each matched word marked «…», `…` where text was cut; the beginning of the text when `text` is absent or matched only headers; "" when the message cannot be read again.',
    }),
    probe: z.boolean().optional().openapi({ description: "true for a connection test's probe message (archived, routed nowhere; ADR 0027); absent otherwise." }),
  })
  .openapi('SearchHit');

export const SearchPageSchema = z
  .object({
    hits: z.array(SearchHitSchema),
    total: z.number().int().openapi({
      description:
        'How many messages match in all (the whole search, not the page): exact up to 10,000, then 10,000 with `more` ("more than 10,000"); also with `more`, what was counted when confirming the matches took longer than the page may wait (30 ms: e.g. a phrase of common words in a large archive).',
    }),
    more: z.boolean().openapi({ description: 'True when more messages match than `total` says.' }),
    nextCursor: z.string().nullable().openapi({ description: 'The `cursor` of the next page (opaque); null on the last.' }),
    next: z.string().nullable().openapi({ description: 'The same as `nextCursor` (its older name).', deprecated: true }),
    reindex: z
      .object({ done: z.number().int(), total: z.number().int() })
      .optional()
      .openapi({
        description:
          'Present only while the search index is being rebuilt for this build (ADR 0041): the hits come from what is indexed, and the messages not yet rebuilt (`total` − `done`) are found as the older index finds them (an index from before word forms: by their exact words only).',
      }),
  })
  .openapi('SearchPage');

const AddressSchema = z.object({ name: z.string(), address: z.string() }).openapi('Address');

/** What a fresh parse of the raw message shows (the index keeps no text, so it is read again). */
export const MessageContentSchema = z
  .object({
    // A union, not `.nullable()`: the generator wrote the shared Address component itself as nullable.
    from: z.union([AddressSchema, z.null()]),
    to: z.array(AddressSchema),
    cc: z.array(AddressSchema),
    bcc: z.array(AddressSchema),
    subject: z.string(),
    date: z.string().nullable().openapi({ description: 'ISO 8601 from the Date header; null when it has none that can be read.' }),
    messageId: z.string().openapi({ description: 'The Message-ID without angle brackets; "" when absent.' }),
    inReplyTo: z.string(),
    references: z.array(z.string()),
    textBody: z.string(),
    htmlBody: z.string().openapi({ description: 'As the mail has it: never render it unsandboxed.' }),
    journal: z
      .object({
        sender: z.string(),
        recipients: z.array(z.object({ address: z.string(), kind: z.string() })),
        onBehalfOf: z.string().optional(),
      })
      .nullable()
      .openapi({ description: 'The envelope of an unwrapped Exchange journal report; null for other mail.' }),
    parseError: z.string().nullable().openapi({ description: 'The catalogue code when the message could be read only in part (PARSE_LIMIT_EXCEEDED, …); the fields are then what could be read.' }),
  })
  .openapi('MessageContent');

export const MessageSchema = z
  .object({
    archiveId: z.string(),
    size: z.number().int(),
    parsed: z.boolean().openapi({ description: 'False while the message waits to be parsed (attachments are then unknown).' }),
    attachments: z.array(AttachmentInfoSchema),
    content: z.union([MessageContentSchema, z.null()]).openapi({ description: 'Headers and bodies, from a fresh parse of the raw message; null where this API has no parser.' }),
    holds: z.array(z.string()).openapi({ description: 'The names of the active legal holds that keep this message from the purge (by id or by query); empty when none, or where this API keeps no holds.' }),
  })
  .openapi('Message');

/** One record of the audit log, as `mailsluice audit list --json` shows it. */
export const AuditRecordSchema = z
  .object({
    seq: z.number().int().openapi({ description: 'Sequence number: 1, 2, 3… with no gap.' }),
    at: z.string().openapi({ format: 'date-time' }),
    who: z.string().openapi({ description: 'The token name (API) or the OS user (command line).' }),
    origin: z.string().openapi({ description: 'Where from: `cli`, or the remote address of an API request.' }),
    action: z.string().openapi({ example: 'archive.search' }),
    detail: z.unknown().openapi({ description: 'What: the query, the message id, the ids retried; never a secret.' }),
    prevHash: z.string(),
    hash: z.string(),
  })
  .openapi('AuditRecord');

export const AuditPageSchema = z
  .object({
    records: z.array(AuditRecordSchema),
    next: z.string().nullable().openapi({ description: 'The `cursor` of the next page; null on the last.' }),
  })
  .openapi('AuditPage');

export const AuditVerdictSchema = z
  .object({
    ok: z.boolean().openapi({ description: 'True when every record and the head hold.' }),
    records: z.number().int().optional().openapi({ description: 'Records verified (ok).' }),
    head: z.string().optional().openapi({ description: "The last record's hash (ok)." }),
    verified: z.number().int().optional().openapi({ description: 'Records that held before the first bad one (not ok).' }),
    seq: z.number().int().optional().openapi({ description: 'The first bad record (not ok).' }),
    problem: z.string().optional().openapi({ description: 'What is wrong with it (not ok).' }),
    file: z.string().optional().openapi({ description: 'The archive file (in dataDir/audit-archive/) the problem is in (not ok, withArchive).' }),
    from: z.number().int().optional().openapi({ description: 'The first record the walk of the live log started at: the one after the retention checkpoint (ADR 0029); absent, the first record.' }),
    checkpoint: z
      .object({ seq: z.number().int(), file: z.string() })
      .optional()
      .openapi({ description: 'The retention checkpoint: records up to `seq` were moved to this archive file (ok).' }),
    archive: z
      .object({ files: z.number().int(), records: z.number().int() })
      .optional()
      .openapi({ description: 'The archive files walked and the records in them (ok, withArchive).' }),
  })
  .openapi('AuditVerdict');

export const AuditPruneSchema = z
  .object({
    keepDays: z.number().int(),
    cutoff: z.string().openapi({ format: 'date-time', description: 'Records before this were moved.' }),
    moved: z.number().int().openapi({ description: 'Records moved.' }),
    files: z.array(z.object({ file: z.string(), firstSeq: z.number().int(), lastSeq: z.number().int(), count: z.number().int() })).openapi({ description: 'The archive files written, oldest first.' }),
    checkpoint: z.object({ seq: z.number().int(), file: z.string() }).nullable().openapi({ description: 'Where the live chain starts now; null when nothing was ever moved.' }),
  })
  .openapi('AuditPrune');

const ServerResponseSchema = z.object({ addFlags: z.array(z.string()).optional(), moveTo: z.string().optional() }).openapi('ServerResponse');

/** One scenario action, without a secret in any form. */
export const RouteActionSchema = z
  .object({
    action: z.string().openapi({ description: 'archive, webhook, script, publish or forward.' }),
    url: z.string().optional().openapi({ description: 'webhook: the receiver, without any user or password it carries.' }),
    signed: z.boolean().optional().openapi({ description: 'webhook: whether requests are signed (the secret is never shown).' }),
    headers: z.array(z.string()).optional().openapi({ description: 'webhook: the names of its extra headers (their values may be credentials).' }),
    pipeline: z.number().int().optional(),
    inlineAttachmentsUpTo: z.number().int().optional(),
    module: z.string().optional().openapi({ description: 'script: its module.' }),
    memoryMb: z.number().int().optional(),
    broker: z.string().optional().openapi({ description: 'publish: the name of the broker (brokers section) it publishes to.' }),
    subject: z.string().optional().openapi({ description: 'publish to a NATS broker: the subject.' }),
    exchange: z.string().optional().openapi({ description: 'publish to a RabbitMQ broker: the exchange.' }),
    routingKey: z.string().optional().openapi({ description: 'publish to a RabbitMQ broker: the routing key.' }),
    to: z.array(z.string()).optional().openapi({ description: 'forward: the envelope recipients.' }),
    relay: z.string().optional(),
    from: z.string().optional(),
    secure: z.boolean().optional(),
    lmtp: z.boolean().optional(),
    authUser: z.string().optional().openapi({ description: 'forward: the SMTP AUTH user (the password is never shown).' }),
    timeoutMs: z.number().int().optional(),
    maxAttempts: z.number().int().optional(),
  })
  .openapi('RouteAction');

/** A configured route. */
/** A route's `attributes` setting as configured (ADR 0027). */
export const RouteAttributesSchema = z
  .object({
    keep: z.array(z.string()).optional().openapi({ description: 'The attributes the scenario receives; absent: all.' }),
    rename: z.record(z.string(), z.string()).optional().openapi({ description: 'A kept attribute → the name the scenario receives it under.' }),
    add: z
      .array(z.object({ name: z.string(), header: z.string().optional(), value: z.string().optional() }))
      .optional()
      .openapi({ description: 'Attributes added from a header (`header`: its first value) or a constant (`value`).' }),
  })
  .openapi('RouteAttributes');

/** A secret as an edit form sees it: what, sent back in a patch, keeps it; never its value. */
export const SecretShownSchema = z
  .union([
    z.object({ env: z.string() }).openapi({ description: 'Read from this environment variable.' }),
    z.object({ file: z.string() }).openapi({ description: 'Read from this file (relative to the configuration file).' }),
    z.object({ secret: z.string() }).openapi({ description: 'A value of the encrypted secret store, by its name.' }),
    z.object({ keep: z.string() }).openapi({ description: 'A literal written in the configuration file, by its path in the entry (`scenario[0].secret`); sent back, the file keeps it as written.' }),
  ])
  .openapi('SecretShown', { description: 'A secret as the configuration file refers to it, never its value; each form is also what a patch sends to keep it (ADR 0023).' });

/**
 * Every setting of a route as the configuration file writes it (RouteInput's keys; a key not
 * written is absent and its default applies), each secret (a webhook's `secret`, its `headers`'
 * values, a forward's `auth.pass`, `tls.ca`) as a {@link SecretShownSchema}.
 */
export const RouteStoredSettingsSchema = z
  .object({
    connection: z.string(),
    enabled: z.boolean().optional(),
    description: z.string().optional(),
    bus: z.number().int().optional(),
    filter: z.record(z.string(), z.unknown()).optional(),
    attributes: z.record(z.string(), z.unknown()).optional(),
    scenario: z.array(z.record(z.string(), z.unknown()).openapi({ description: 'One action as written: `action` and its keys (RouteInput), secrets as SecretShown.' })),
    response: ServerResponseSchema.optional(),
    errorResponse: ServerResponseSchema.optional(),
  })
  .openapi('RouteStoredSettings');

export const RouteSchema = z
  .object({
    name: z.string(),
    connection: z.string(),
    enabled: z.boolean(),
    description: z.string(),
    bus: z.number().int(),
    filter: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'Its conditions as configured; null: every message.' }),
    scenario: z.array(RouteActionSchema),
    response: z.union([ServerResponseSchema, z.null()]),
    errorResponse: z.union([ServerResponseSchema, z.null()]),
    attributes: z.union([RouteAttributesSchema, z.null()]).openapi({ description: 'Which message attributes the scenario receives (the route form\'s "Message attributes"); null: every attribute as it is.' }),
    settings: RouteStoredSettingsSchema.optional().openapi({ description: 'GET /api/v1/routes/{name} and the answer of an edit only: every setting as the file writes it, for an edit form (secrets as references).' }),
  })
  .openapi('Route');

export const DeliveryStateSchema = z.enum(['pending', 'done', 'dead']);

/** What every delivery shows (`Delivery`, and `ListedDelivery` with more). */
const deliveryShape = {
  id: z.string().openapi({ description: '`<connection>.<route>.<message id>`.' }),
  connection: z.string(),
  route: z.string(),
  bus: z.number().int(),
  state: DeliveryStateSchema,
  step: z.number().int().openapi({ description: 'The scenario action it is at (the failed one, for a dead letter).' }),
  attempts: z.number().int(),
  lastError: z.string().nullable().openapi({ description: 'The last failure, `CODE: sentence`; null when none.' }),
  createdAt: z.string().openapi({ format: 'date-time' }),
  nextAt: z.string().openapi({ format: 'date-time', description: 'When it is due next (pending).' }),
  doneAt: z.string().nullable().openapi({ format: 'date-time', description: 'When it was delivered or dead-lettered.' }),
};

/** One delivery of a message on a route. */
export const DeliverySchema = z.object(deliveryShape).openapi('Delivery');

/** One delivery in the list across routes (`GET /api/v1/deliveries`): with its message and server response. */
export const ListedDeliverySchema = z
  .object({
    ...deliveryShape,
    messageId: z.number().int().openapi({ description: "The archived message's id (the last part of `id`)." }),
    response: z
      .object({ addFlags: z.array(z.string()).optional(), moveTo: z.string().optional() })
      .nullable()
      .openapi({ description: "The server response to apply on the message (the route's `response` after success, `errorResponse` after a dead letter); null when none." }),
    responseResult: z
      .enum(['pending', 'applied', 'not-applicable', 'failed'])
      .nullable()
      .openapi({ description: 'Where the server response stands: `pending` until the connection has applied it; null without a response.' }),
    responseNote: z.string().nullable().openapi({ description: 'Why a response was not applicable or failed; null otherwise.' }),
    responseAt: z.string().nullable().openapi({ format: 'date-time', description: 'When the response result was recorded; null while pending or without a response.' }),
  })
  .openapi('ListedDelivery');

/** A page of the deliveries across routes. */
export const DeliveryListSchema = z
  .object({
    deliveries: z.array(ListedDeliverySchema),
    next: z.string().nullable().openapi({ description: 'The `cursor` of the next page (`<message id>.<route>` of the last delivery here); null on the last.' }),
  })
  .openapi('DeliveryList');

export const DeliveryPageSchema = z
  .object({
    deliveries: z.array(DeliverySchema),
    next: z.string().nullable().openapi({ description: 'The `cursor` of the next page; null on the last.' }),
  })
  .openapi('DeliveryPage');

/** One step of a connection test (`POST /api/v1/connections/{name}/test`). */
export const ConnectionTestStepSchema = z
  .object({
    step: z.string().openapi({ description: 'resolve, connect, tls, greeting, capabilities, auth, version (EWS: the server version), mailbox or count, in this order (an OAuth2 login adds token, the token obtained, before auth; POP3 right after resolve); with a probe then send, arrive and archive.', example: 'auth' }),
    ok: z.boolean(),
    ms: z.number().int().openapi({ description: 'How long the step took.' }),
    detail: z.string().openapi({ description: 'What the step found, or on failure why it failed, in one sentence.' }),
    code: z.string().optional().openapi({ description: 'On failure: the catalogue code (docs/errors.md).', example: 'SOURCE_AUTH_REJECTED' }),
    summary: z.string().optional().openapi({ description: "On failure: the catalogue's sentence for the code." }),
  })
  .openapi('ConnectionTestStep');

/** A whole connection test: what `mailsluice test-connection NAME --json` prints. */
export const ConnectionTestSchema = z
  .object({
    ok: z.boolean().openapi({ description: 'Every step passed.' }),
    steps: z.array(ConnectionTestStepSchema).openapi({ description: 'The steps run, in order; the test stops at the first that fails.' }),
    messages: z.number().int().optional().openapi({ description: 'Messages in the mailbox, when the test got that far.' }),
    tls: z.boolean().optional().openapi({ description: 'Whether the session ran over TLS.' }),
    warnings: z.array(z.string()).openapi({ description: 'What works but the operator should know (credentials crossing unencrypted).' }),
    probe: z
      .object({ messageId: z.string().openapi({ description: 'Without angle brackets; `GET /api/v1/messages?messageId=` finds it.', example: 'probe-5f0c2a9e41d7b3c8a6e21f04@mailsluice.invalid' }) })
      .optional()
      .openapi({ description: 'With `probe=true`, once a probe was made: the probe message sent.' }),
  })
  .openapi('ConnectionTest');

/** The answer to "run now". */
export const RunNowSchema = z
  .object({
    name: z.string(),
    runners: z.number().int().openapi({ description: 'The runners woken (one per folder).' }),
    status: ConnectionStatusSchema,
  })
  .openapi('RunNow');

/** One record of a connection's JSON-lines log, as written. */
export const LogRecordSchema = z
  .record(z.string(), z.unknown())
  .openapi('LogRecord', { description: 'A record as the log file holds it: `time`, `level`, `msg`, then its fields (secrets are written as [redacted]). A line that is not JSON is `{ "line": … }`.' });

/** A page of a connection's log, newest first. */
export const LogPageSchema = z
  .object({
    records: z.array(LogRecordSchema).openapi({ description: 'Newest first.' }),
    next: z.string().nullable().openapi({ description: 'The `cursor` of the next (older) page: the byte offset where this page began in the current file, or `<n>:<offset>` in rotated file n; null at the start of the oldest kept file.' }),
  })
  .openapi('LogPage');

/** One alert rule with its state (issue 14, item 6). */
export const AlertSchema = z
  .object({
    rule: z.string().openapi({ description: "The rule's name (`alerts.rules[].name`)." }),
    kind: z.enum(['connection-failing', 'connection-silent', 'dead-letters', 'disk-space', 'certificate-expiry', 'audit-chain-broken', 'archive-damaged']),
    enabled: z.boolean().openapi({ description: 'A disabled rule is not checked (it can still be tested).' }),
    channels: z.array(z.string()).openapi({ description: 'The channels its notifications go to.' }),
    settings: z
      .record(z.string(), z.union([z.string(), z.number()]))
      .openapi({ description: 'What it watches beyond its kind, as configured: its threshold (`minutes`, `days`, `freePercentBelow`) and subject (`connection`, `route`), by the keys of `alerts.rules[]`.' }),
    state: z.enum(['ok', 'firing', 'unknown']).openapi({ description: '`unknown`: not checked yet, or its reading failed every time so far.' }),
    since: z.string().nullable().openapi({ format: 'date-time', description: 'Since when it is in this state.' }),
    summary: z.string().nullable().openapi({ description: 'What the last check found, in one sentence.' }),
    lastSentAt: z.string().nullable().openapi({ format: 'date-time', description: 'When a notification of it last reached a channel.' }),
    lastError: z
      .object({ channel: z.string(), code: z.string(), message: z.string(), at: z.string().openapi({ format: 'date-time' }) })
      .nullable()
      .openapi({ description: 'The last send that failed: the channel, the catalogue code (ALERT_SEND_FAILED) and why.' }),
    owed: z.array(z.string()).openapi({ description: 'Channels its current notification has not reached yet; tried again at the next check.' }),
  })
  .openapi('Alert');

/** What a test notification did, per channel. */
export const AlertTestSchema = z
  .object({
    rule: z.string(),
    results: z
      .array(z.object({ channel: z.string(), ok: z.boolean(), code: z.string().optional().openapi({ description: 'On failure: the catalogue code.' }), message: z.string().optional().openapi({ description: 'On failure: why.' }) }))
      .openapi({ description: "One per channel of the rule, in the rule's order." }),
  })
  .openapi('AlertTest');
