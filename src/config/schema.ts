/**
 * The one configuration schema (SPEC "Configuration file"). Defaults sit next to their keys;
 * `docs/configuration.md` is generated from this file and a test keeps the two equal.
 */
import { z } from 'zod';
import { parseListenAddress, parsePublicUrl } from './api-address.js';
import { PROTOCOL_NAMES } from './protocols.js';
import { ATTRIBUTE_NAMES } from '../core/message/attributes.js';
import { attributeMappingProblems } from '../core/routing/route-attributes.js';
import { modeSchema, scaleOutSchema } from './scale-out-schema.js';
import { headerValue, hostName, isSecretSchema, nonNegativeInt, peerTls, port, relayEndpoint, secret, systemName } from './schema-common.js';
import { alertChannel, alertRule, alerts } from './alerts-schema.js';
import { retention } from './retention-schema.js';
import { brokers } from './brokers-schema.js';

export { isSecretSchema };
/** One alert rule's settings (`alerts.rules[]`): the API's edit of a rule is described by it (`api/config-body-schemas.ts`). */
export { alertRule as alertRuleSchema };


const tlsOptions = z
  .strictObject({
    verify: z.boolean().default(true).meta({ description: 'Reject server certificates that fail verification.' }),
    ca: secret.optional().meta({ description: 'PEM of the CA(s) to trust instead of the system store: PEM text, { env } or { file: PATH } (a bare path is refused: write { file: /path/ca.pem }).' }),
    clientCert: secret.optional().meta({ description: 'PEM client certificate for TLS client authentication (PEM text, { env } or { file }).' }),
    clientKey: secret.optional().meta({ description: 'PEM private key of clientCert (PEM text, { env } or { file }).' }),
    pfx: secret.optional().meta({ description: 'PFX/PKCS#12 bundle instead of clientCert/clientKey: base64 (literal or { env }), or { file } holding the .pfx itself or its base64.' }),
    passphrase: secret.optional().meta({ description: 'Passphrase of clientKey or pfx.' }),
    minVersion: z.enum(['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']).default('TLSv1.2').meta({ description: 'Lowest TLS version accepted.' }),
    servername: z.string().optional().meta({ description: 'Name to verify the certificate against when it differs from host.' }),
  })
  .default({ verify: true, minVersion: 'TLSv1.2' });

const auth = z
  .strictObject({
    type: z
      .enum(['none', 'basic', 'ntlm', 'xoauth2', 'oauthbearer'])
      .default('basic')
      .meta({ description: 'none | basic (LOGIN / SASL PLAIN) | ntlm (Windows authentication, NTLMv2: IMAP AUTHENTICATE NTLM, POP3 AUTH NTLM, EWS HTTP NTLM with channel binding; never falls back to another mechanism) | xoauth2 | oauthbearer (RFC 7628): OAuth2 over IMAP and POP3, the token from tokenUrl (renewed before it expires) or a fixed accessToken; only the named mechanism is tried.' }),
    username: z.string().optional().meta({ description: 'user, DOMAIN\\user, dom\\juser\\J.User or an address; passed through intact.' }),
    password: secret.optional().meta({ description: 'Password (basic, ntlm).' }),
    accessToken: secret.optional().meta({ description: 'xoauth2/oauthbearer: a fixed OAuth2 access token the operator renews (instead of tokenUrl).' }),
    tokenUrl: z.string().optional().meta({ description: 'xoauth2/oauthbearer: the OAuth2 token endpoint (https; http only on loopback), e.g. https://login.microsoftonline.com/TENANT/oauth2/v2.0/token.' }),
    clientId: z.string().optional().meta({ description: 'xoauth2/oauthbearer: the client (application) id presented to tokenUrl.' }),
    clientSecret: secret.optional().meta({ description: 'xoauth2/oauthbearer: the client secret presented to tokenUrl (client credentials grant; with refreshToken, for a confidential client).' }),
    clientCertificate: secret.optional().meta({ description: 'xoauth2/oauthbearer: instead of clientSecret, PEM of a certificate registered with the client and its unencrypted RSA private key (usually { file }); requests are signed (private_key_jwt, RS256), the key is never sent.' }),
    refreshToken: secret.optional().meta({ description: 'xoauth2/oauthbearer: a refresh token; with it the refresh_token grant is used instead of client credentials.' }),
    scope: z.string().optional().meta({ description: 'xoauth2/oauthbearer: the scope asked of tokenUrl, e.g. https://outlook.office365.com/.default (Exchange Online app-only).' }),
    domain: z.string().optional().meta({ description: 'Windows domain (ntlm only, or given in the username as DOMAIN\\user; with basic, write DOMAIN\\user as the username).' }),
    disablePlain: z.boolean().default(false).meta({ description: 'Never use SASL PLAIN; log in with LOGIN instead (Exchange bug).' }),
    apop: z.boolean().default(false).meta({ description: 'POP3: log in with APOP (an MD5 digest; the password never crosses the wire). The server must offer it in its greeting.' }),
  })
  .default({ type: 'basic', disablePlain: false, apop: false });

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time HH:MM (00:00 to 23:59)');
const day = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);

const schedule = z
  .union([
    z.literal('any-time'),
    z.strictObject({
      timezone: z
        .string()
        .refine((tz) => isTimeZone(tz), { message: 'must be an IANA time zone such as Europe/Moscow or UTC' })
        .meta({ description: 'IANA time zone of the windows.' }),
      windows: z
        .array(
          z.strictObject({
            days: z.array(day).min(1).meta({ description: 'Days the window opens on: mon..sun.' }),
            from: hhmm.meta({ description: 'Opening time HH:MM.' }),
            to: hhmm.meta({ description: 'Closing time HH:MM; earlier than from means the window runs past midnight.' }),
          }),
        )
        .min(1),
    }),
  ])
  .default('any-time')
  .meta({ description: "'any-time', or { timezone, windows: [{ days, from, to }] } outside which the connection idles." });

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** One mailbox connection (SPEC "Connection settings"). */
export const connectionSchema = z.strictObject({
  name: systemName,
  protocol: z.enum(PROTOCOL_NAMES).meta({ description: `${PROTOCOL_NAMES.join(' | ')}.` }),
  enabled: z.boolean().default(true).meta({ description: 'A disabled connection keeps its config and is not polled.' }),
  description: z.string().default('').meta({ description: 'Free text.' }),
  logging: z.enum(['full', 'errors', 'off']).default('errors').meta({ description: 'Per-connection file log: full (every message), errors, off.' }),
  host: hostName.optional().meta({ description: 'Server host name or IP address (bare, no port). Required for imap and pop3; for ews the host of ews.url, for graph the host of graph.endpoint is used when it is not given.' }),
  port: port.optional().meta({ description: 'Plain/STARTTLS port; default 143 (IMAP) or 110 (POP3). Not used with security: tls (config check warns when it is set there without tlsPort).' }),
  tlsPort: port.optional().meta({ description: 'Implicit TLS port used with security: tls; default 993 (IMAP) or 995 (POP3).' }),
  security: z
    .enum(['none', 'starttls-if-available', 'starttls', 'tls'])
    .default('starttls-if-available')
    .meta({ description: 'none (never TLS: the explicit way to accept unencrypted logins) | starttls-if-available (STARTTLS when offered; once a server offered it, a session without it is refused: SOURCE_TLS_DOWNGRADE, reset with mailsluice connection reset-tls NAME) | starttls (required) | tls (implicit, on tlsPort).' }),
  tls: tlsOptions,
  auth,
  mailbox: z
    .union([z.string().min(1, 'must not be empty'), z.array(z.string().min(1, 'must not be empty')).min(1, 'must name at least one folder')])
    .default('INBOX')
    .meta({ description: 'IMAP folder to drain (EWS: INBOX is the well-known inbox, anything else a path of display names from the top of the mailbox, e.g. Inbox/Journal), or a list of folders (SPEC "folder(s)"): each folder is drained by a runner of its own, with its own two sessions, under the connection\'s name (test-connection opens the first).' }),
  pollIntervalMs: nonNegativeInt.default(1000).meta({ description: 'Pause between polling cycles when IDLE is off; 0 polls continuously.' }),
  maxMessagesPerCycle: z.number().int('must be a whole number').min(1).max(100000).default(500).meta({ description: 'At most this many messages taken per cycle.' }),
  unseenOnly: z.boolean().default(false).meta({ description: 'IMAP: take only messages without \\Seen; EWS: only unread items (IsRead false).' }),
  idle: z.boolean().default(false).meta({ description: 'IMAP: wait for IDLE push between cycles (re-armed periodically, with a safety poll); EWS: streaming notifications (2010SP1 and later) or a pull subscription (2007SP1, 2010), with the same safety poll. A server without IDLE is polled every pollIntervalMs, with a warning in the log.' }),
  idleSafetyPollMs: z
    .number()
    .int('must be a whole number')
    .min(1000, 'must be at least 1000')
    .max(29 * 60 * 1000, 'must be under 29 minutes')
    .default(60000)
    .meta({ description: 'IMAP or EWS with idle: poll this often anyway, because servers are known to stop sending IDLE notifications silently.' }),
  partialFetch: z.boolean().default(false).meta({ description: 'IMAP: fetch every message in chunks (BODY.PEEK[]<offset.length>), one round trip each; off, a cycle is one bulk FETCH and a body over 4 MiB streams through it (never whole in memory either way).' }),
  deletePolicy: z
    .enum(['delete-and-expunge', 'delete', 'mark-seen', 'move', 'leave'])
    .default('delete-and-expunge')
    .meta({ description: 'What happens on the server after the archive commit.' }),
  moveTo: z.string().min(1).optional().meta({ description: 'Target folder for deletePolicy: move.' }),
  expungeEvery: nonNegativeInt.default(0).meta({ description: 'Expunge after every N messages flagged deleted; 0 = at the end of each cycle.' }),
  connectTimeoutMs: nonNegativeInt.default(30000).meta({ description: 'Connect timeout; 0 waits forever. Default 30000 (SPEC allows a sane non-zero default).' }),
  dataTimeoutMs: nonNegativeInt.default(0).meta({
    description:
      'Drop the connection when nothing arrives for this long while a command waits for the server. 0 = no limit set here: mailsluice still drops a connection silent for 5 minutes (its internal limit, so a server that stops answering cannot hang a drain) and logs a warning every 30 s of silence before that.',
  }),
  schedule,
  testRecipients: z
    .array(z.string().email())
    .default([])
    .meta({ description: 'Addresses for the probe test (SPEC "test recipients"): test-connection NAME --probe (and the API test with ?probe=true) sends a probe message through testRelay to them and follows it into the mailbox and the archive. They must end up in this connection\'s mailbox.' }),
  testRelay: relayEndpoint('test relay', 'starttls')
    .extend({
      from: z.string().email().default('probe@mailsluice.invalid').meta({ description: 'Envelope sender and From of the probe message.' }),
      timeoutMs: z.number().int('must be a whole number').min(1000, 'must be at least 1000').max(600000).default(30000).meta({ description: 'Time limit for connecting to the relay, its greeting and any silence of it.' }),
      waitMs: z
        .number()
        .int('must be a whole number')
        .min(1000, 'must be at least 1000')
        .max(3600000, 'must be at most 3600000 (one hour)')
        .default(60000)
        .meta({ description: 'How long the probe test waits for the message to arrive in the mailbox, and again to be archived, before that step fails.' }),
    })
    .optional()
    .meta({ description: 'The relay the probe test sends through (SMTP or LMTP); with testRecipients, enables test-connection --probe. A probe carries X-Mailsluice-Probe signed with probe.key in dataDir: it is archived marked Probe and routed nowhere (ADR 0027).' }),
  ews: z
    .strictObject({
      url: z
        .string()
        .min(1, 'must not be empty')
        .superRefine((u, ctx) => {
          if (/^[a-z][a-z0-9+.-]*:\/\//i.test(u)) {
            ctx.addIssue({ code: 'custom', message: `must be written without a protocol prefix (write ${u.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')}, not ${u}): EWS is always HTTPS` });
          } else if (/\s/.test(u) || !/^[^/?#]+(\/|$)/.test(u) || u.startsWith('/')) {
            ctx.addIssue({ code: 'custom', message: 'must be host[:port]/path, e.g. mail.example.com/EWS/Exchange.asmx (no spaces)' });
          }
        })
        .meta({ description: 'EWS URL without the protocol prefix: host[:port]/path, e.g. mail.example.com/EWS/Exchange.asmx; always HTTPS (certificates checked as tls says). Replaces host, port and security for protocol ews.' }),
      version: z.enum(['2007SP1', '2010', '2010SP1', '2010SP2', '2013', '2013SP1', '2016']).default('2016').meta({ description: 'Exchange version: 2007SP1, 2010, 2010SP1, 2010SP2, 2013, 2013SP1 or 2016.' }),
    })
    .optional()
    .meta({ description: 'Exchange Web Services settings (protocol: ews).' }),
  graph: z
    .strictObject({
      tenant: z.string().min(1, 'must not be empty').meta({ description: 'The Entra ID (Azure AD) tenant: its id (a GUID) or a verified domain, e.g. contoso.onmicrosoft.com.' }),
      clientId: z.string().min(1, 'must not be empty').meta({ description: 'The application (client) id of the app registration granted the Mail.ReadWrite application permission.' }),
      clientSecret: secret.optional().meta({ description: 'A client secret of the app registration (client credentials grant); or clientCertificate.' }),
      clientCertificate: secret.optional().meta({ description: 'Instead of clientSecret: PEM of a certificate registered with the app and its unencrypted RSA private key (usually { file }); token requests are signed (private_key_jwt, RS256), the key is never sent.' }),
      mailbox: z.string().min(1, 'must not be empty').meta({ description: 'The mailbox drained: its user id (a GUID) or user principal name, e.g. journal@contoso.com.' }),
      folder: z.string().min(1, 'must not be empty').default('inbox').meta({ description: 'The folder drained: a well-known folder name (inbox, archive, junkemail, …) or a path of display names from the top of the mailbox, e.g. Inbox/Journal.' }),
      authority: z.string().min(1).default('https://login.microsoftonline.com').meta({ description: 'The Microsoft identity platform host tokens are asked of (https://login.microsoftonline.us and others for national clouds); the token endpoint is AUTHORITY/TENANT/oauth2/v2.0/token.' }),
      endpoint: z.string().min(1).default('https://graph.microsoft.com').meta({ description: 'The Microsoft Graph service root (https://graph.microsoft.us and others for national clouds); the token is asked for ENDPOINT/.default. Replaces host, port and security for protocol graph.' }),
      scope: z.string().min(1).optional().meta({ description: 'The scope asked of the token endpoint; default ENDPOINT/.default (every application permission granted to the app on Graph). Set it when endpoint is a proxy or test server standing in for Graph, e.g. https://graph.microsoft.com/.default.' }),
    })
    .optional()
    .meta({ description: 'Microsoft Graph settings (protocol: graph): app-only access to one mailbox of an Exchange Online tenant.' }),
});

const filter = z
  .strictObject({
    from: z.string().optional().meta({ description: 'Condition on the From address and name.' }),
    to: z.string().optional().meta({ description: 'Condition on any To/Cc/Bcc address.' }),
    subject: z.string().optional().meta({ description: 'Condition on the subject.' }),
    header: z
      .strictObject({ name: z.string().min(1).meta({ description: 'Header name.' }), value: z.string().meta({ description: 'Condition on its value.' }) })
      .optional()
      .meta({ description: 'Condition on one header.' }),
    minSize: nonNegativeInt.optional().meta({ description: 'Raw size at least this many bytes.' }),
    maxSize: nonNegativeInt.optional().meta({ description: 'Raw size at most this many bytes.' }),
    hasAttachment: z.boolean().optional().meta({ description: 'Whether the message must (true) or must not (false) have attachments.' }),
    match: z
      .enum(['contains', 'regex'])
      .default('contains')
      .meta({
        description:
          'How the text conditions match: contains (case-insensitive substring) or regex: RE2 syntax (https://github.com/google/re2/wiki/Syntax), case-insensitive, Unicode-aware (\\p{L}, \\p{Greek}; code points as \\x{e9}), matching anywhere unless anchored with ^ and $, run in time linear in the text. Lookahead, lookbehind and backreferences are not RE2 syntax and config check refuses them, as it refuses a pattern over 500 compiled instructions (about 500 characters of literals). A regex condition reads at most the first 64 KiB of a message\'s values (all recipients of to together).',
      }),
  })
  .meta({ description: 'Optional conditions; all given must hold.' });

const maxAttempts = z
  .number()
  .int('must be a whole number')
  .min(1, 'must be at least 1')
  .max(1000, 'must be at most 1000')
  .default(10)
  .meta({ description: 'Attempts of this action per message before the delivery is dead-lettered (a non-retryable failure dead-letters at once).' });

const action = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('archive').meta({ description: 'Keep in the archive (every message is archived anyway).' }) }),
  z.strictObject({
    action: z.literal('webhook').meta({ description: 'HTTP POST of the message attributes, signed, retried, dead-lettered.' }),
    url: z.string().url('must be an http(s) URL').regex(/^https?:\/\//i, 'must be an http(s) URL').meta({ description: 'Receiver URL.' }),
    secret: secret.optional().meta({ description: 'Signing secret (Standard Webhooks): webhook-signature: v1,<base64 HMAC-SHA256 of "webhook-id.webhook-timestamp.body">; whsec_<base64> is used as the decoded key bytes, any other value as its UTF-8 bytes. Also sent for one release: X-Mailsluice-Signature: sha256=<hex HMAC of the body only> (deprecated: replayable).' }),
    maxAttempts,
    timeoutMs: z.number().int('must be a whole number').min(1).max(600000).default(30000).meta({ description: 'Time limit of one request (connect to last byte of the answer); over it the attempt failed and is retried.' }),
    inlineAttachmentsUpTo: nonNegativeInt
      .default(262144)
      .meta({ description: 'Attachments up to this many bytes (decoded) are sent inline as base64 Content; larger ones as a reference { Reference: { ArchiveId, Sha256, Url } }, Url being a signed URL of the API that serves the bytes (absent when api.enabled is false). 0 sends none inline.' }),
    headers: z
      .record(
        z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be a valid HTTP header name'),
        headerValue,
      )
      .optional()
      .meta({ description: 'Extra request headers (e.g. Authorization), each a literal, { env: NAME }, { file: PATH } or { secret: NAME } (a value of the secret store, which a value entered through the API becomes); they cannot replace the signature, idempotency or content-type headers.' }),
    pipeline: z
      .number()
      .int('must be a whole number')
      .min(1)
      .max(64)
      .default(32)
      .meta({
        description:
          'Requests on their way at once, pipelined (HTTP/1.1) on one connection: they leave and arrive in mailbox order. A failed one is retried after up to pipeline - 1 later messages were sent; 1 sends one at a time, so the receiver gets mailbox order even across retries.',
      }),
    tls: peerTls('receiver (https URLs)'),
  }),
  z.strictObject({
    action: z.literal('script').meta({ description: 'A user JS/TS module exporting handle(message, ctx), run in a process of its own (limits on open files, CPU time and memory; no environment; as nobody when the service is root).' }),
    module: z.string().min(1).meta({ description: 'Path of the module (relative to the configuration file).' }),
    timeoutMs: z.number().int().min(1).default(30000).meta({ description: 'Time limit per message.' }),
    memoryMb: z.number().int('must be a whole number').min(16, 'must be at least 16').max(16384).default(128).meta({ description: "Memory limit of the script's process, in MB: its JS heap, and with 64 MB added for Node itself its resident set (Buffers included); over it, the process is killed and the attempt fails." }),
    maxAttempts,
  }),
  z.strictObject({
    action: z.literal('publish').meta({ description: 'Send the message attributes document (what a webhook POSTs) to a broker of the brokers section: a NATS subject or a RabbitMQ exchange; the idempotency key travels as Nats-Msg-Id / messageId.' }),
    broker: systemName.meta({ description: 'The name of a broker in the brokers section.' }),
    subject: z
      .string()
      .regex(/^[^\s*>.]+(\.[^\s*>.]+)*$/, 'must be a NATS subject without wildcards (tokens separated by dots, no spaces, * or >)')
      .optional()
      .meta({ description: 'NATS broker: the subject published to (e.g. mail.archived). A subject a JetStream stream captures is published to the stream, waiting for its ack.' }),
    exchange: z.string().min(1).max(255).optional().meta({ description: 'RabbitMQ broker: the exchange published to; it must exist (mailsluice does not declare it). amq.direct, amq.topic and the like are there on every broker.' }),
    routingKey: z.string().max(255).default('').meta({ description: 'RabbitMQ broker: the routing key of every message (a queue name when the exchange is amq.default\'s "", a topic for a topic exchange).' }),
    inlineAttachmentsUpTo: nonNegativeInt
      .default(0)
      .meta({ description: 'Attachments up to this many bytes (decoded) are sent inline as base64 Content; larger ones as a reference, as with the webhook. Default 0 (references only): brokers limit a message (NATS max_payload is 1 MiB by default).' }),
    maxAttempts,
  }),
  z.strictObject({
    action: z.literal('forward').meta({ description: 'Re-send the original message through an SMTP relay.' }),
    to: z.array(z.string().email()).min(1).meta({ description: 'Envelope recipients (RCPT TO).' }),
    relay: z.string().min(1).meta({ description: 'SMTP relay host, host:port or [ipv6]:port (port default 25, 465 with secure, 24 with lmtp).' }),
    from: z.string().optional().meta({ description: 'Envelope sender (MAIL FROM); default the null sender <>, so bounces never loop back.' }),
    secure: z.boolean().default(false).meta({ description: 'Implicit TLS from the first byte (port 465); otherwise STARTTLS when the relay offers it.' }),
    lmtp: z.boolean().default(false).meta({ description: 'Speak LMTP instead of SMTP.' }),
    auth: z
      .strictObject({ user: z.string().min(1).meta({ description: 'SMTP AUTH user.' }), pass: secret.meta({ description: 'SMTP AUTH password.' }) })
      .optional()
      .meta({ description: 'SMTP AUTH credentials.' }),
    tls: peerTls('relay'),
    timeoutMs: z.number().int('must be a whole number').min(1).default(60000).meta({ description: 'Time limit for connecting, the greeting and any silence of the relay.' }),
    maxAttempts,
  }),
]);

const serverResponse = z
  .strictObject({
    addFlags: z
      .array(z.string().regex(/^\\?[A-Za-z0-9$_.-]+$/, 'must be an IMAP flag such as \\Seen or $Processed'))
      .min(1)
      .optional()
      .meta({ description: 'IMAP flags to add to the message on the server (EWS and Graph: \\Seen marks the item read, a keyword becomes a category).' }),
    moveTo: z.string().min(1).optional().meta({ description: 'Folder to move the message to (EWS: a path of display names from the top of the mailbox, as mailbox; Graph: as graph.folder, a well-known name or a path of display names).' }),
  })
  .meta({ description: 'What the connection does with the message on the server afterwards (IMAP, EWS or Graph; the message must still be there: deletePolicy leave, mark-seen, or on IMAP delete).' });

/** A route's message attributes (SPEC: "a route may map or add attributes"; ADR 0027). */
const routeAttributes = z
  .strictObject({
    keep: z
      .array(z.string())
      .optional()
      .meta({ description: `The attributes the scenario receives, by name (${ATTRIBUTE_NAMES.join(', ')}); absent: all of them.` }),
    rename: z.record(z.string(), z.string()).optional().meta({ description: 'A kept attribute → the name the scenario receives it under, e.g. { Subject: Title }.' }),
    add: z
      .array(
        z
          .strictObject({
            name: z.string().meta({ description: 'The name the scenario receives it under (letters, digits, _ . -, starting with a letter).' }),
            header: z.string().min(1).optional().meta({ description: 'A header whose first value (unfolded, decoded) becomes the attribute; "" when the message has none.' }),
            value: z.string().optional().meta({ description: 'A constant.' }),
          })
          .refine((a) => (a.header === undefined) !== (a.value === undefined), { message: 'must give exactly one of header or value' }),
      )
      .optional()
      .meta({ description: 'Attributes added after keeping and renaming: { name, header } or { name, value }.' }),
  })
  .superRefine((m, ctx) => {
    for (const p of attributeMappingProblems(m)) ctx.addIssue({ code: 'custom', message: p.message, path: p.path.split(/\.|\[|\]\.?/).filter(Boolean).map((x) => (/^\d+$/.test(x) ? Number(x) : x)) });
  })
  .optional()
  .meta({ description: 'Which message attributes the scenario (webhook body, script) receives: keep (default all), rename, and add from a header or a constant. The filter always sees every attribute.' });

/** One route (SPEC "Route settings"). */
export const routeSchema = z.strictObject({
  name: systemName,
  connection: systemName.meta({ description: 'System name of the connection this route takes messages from.' }),
  enabled: z.boolean().default(true).meta({ description: 'A disabled route takes no messages.' }),
  description: z.string().default('').meta({ description: 'Free text.' }),
  bus: z.number().int().min(0).default(0).meta({ description: 'Bus number (0..buses-1).' }),
  filter: filter.optional().meta({ description: 'Only messages matching every given condition take this route.' }),
  scenario: z.array(action).min(1).meta({ description: 'Ordered actions: archive, webhook, script, publish, forward.' }),
  attributes: routeAttributes,
  response: serverResponse.optional().meta({ description: 'Applied on the server after the scenario succeeded (a script may return its own).' }),
  errorResponse: serverResponse.optional().meta({ description: 'Applied on the server after the delivery was dead-lettered.' }),
});

/** Default of `api.listen`: loopback only, so nothing is reachable from elsewhere until the operator says so. */
export const DEFAULT_API_LISTEN = '127.0.0.1:8025';

/** The HTTP API (SPEC "Interfaces"): what it serves now is in `src/api/README.md`. */
const api = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .meta({
        description:
          'Serve the HTTP API: while `start` runs, and while `drain` runs a webhook route (whose attachment references it serves). false: no API, and webhook references carry no Url.',
      }),
    listen: z
      .string()
      .default(DEFAULT_API_LISTEN)
      .superRefine((text, ctx) => {
        const parsed = parseListenAddress(text);
        if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
      })
      .meta({
        description:
          'Address the API listens on: host:port, [ipv6]:port. Loopback by default; 0.0.0.0:PORT or [::]:PORT listens on every interface (then publicUrl is required). Any address beyond loopback needs api.tls, or api.insecure: true.',
      }),
    tls: z
      .strictObject({
        cert: secret.meta({ description: 'PEM server certificate (with its chain): PEM text, { file: PATH } or { env: NAME }.' }),
        key: secret.meta({ description: 'PEM private key of cert: PEM text, { file: PATH } or { env: NAME }.' }),
      })
      .optional()
      .meta({ description: 'Serve the API over HTTPS with this certificate and key (then publicUrl defaults to https://<listen> and the console cookie is Secure). Required to listen beyond loopback unless api.insecure is true.' }),
    insecure: z
      .boolean()
      .default(false)
      .meta({
        description:
          'Listen beyond loopback over plain HTTP (no api.tls): tokens and session cookies then cross the network in clear, so only behind a TLS-terminating proxy on a trusted link. The service logs a warning at every start.',
      }),
    publicUrl: z
      .string()
      .superRefine((text, ctx) => {
        const parsed = parsePublicUrl(text);
        if (typeof parsed !== 'string') ctx.addIssue({ code: 'custom', message: parsed.problem });
      })
      .optional()
      .meta({
        description:
          'How webhook receivers reach the API: the base of the signed attachment URLs, http(s)://host[:port][/prefix]. Default http://<listen>. A path prefix is for a reverse proxy that strips it before passing the request on.',
      }),
    referenceTtlSeconds: z
      .number()
      .int('must be a whole number')
      .min(60, 'must be at least 60 (seconds)')
      .max(31536000, 'must be at most 31536000 (one year)')
      .default(604800)
      .meta({ description: 'How long a signed attachment URL stays valid after the webhook request that carries it was made (a retried request carries a fresh URL). Default 7 days.' }),
    metricsOpen: z
      .boolean()
      .default(false)
      .meta({
        description:
          'Serve GET /metrics (Prometheus text format) without credentials, for a scraper that sends no token. Default false: it needs an API token of any role (Authorization: Bearer). The series show connection and route names and counts, never message content.',
      }),
  })
  .default({ enabled: true, listen: DEFAULT_API_LISTEN, insecure: false, referenceTtlSeconds: 604800, metricsOpen: false })
  .meta({
    description:
      'The HTTP API: attachment references as signed URLs (GET /api/v1/messages/{archiveId}/attachments/{sha256}), GET /healthz, GET /metrics (Prometheus), the OpenAPI document (GET /api/v1/openapi.json). The URL signing key is api-url.key in dataDir.',
  });

/** The whole configuration file. */
export const configSchema = z.strictObject({
  dataDir: z.string().min(1).default('./data').meta({ description: 'Archive, database and logs (embedded mode); relative to the config file. Created 0700 with 0600 files; one start or drain at a time holds it (lock.db, ADR 0014).' }),
  buses: z.number().int().min(1).max(64).default(4).meta({ description: 'Number of buses (lanes).' }),
  busConcurrency: z
    .number()
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(256)
    .default(4)
    .meta({ description: 'Deliveries in flight per bus. Each (connection, route) pair has at most one in flight, to keep mailbox order; this bounds how many pairs of one bus run at once.' }),
  deliveryRetry: z
    .strictObject({
      baseMs: z.number().int('must be a whole number').min(1).default(1000).meta({ description: 'First retry delay; it doubles with every failed attempt (with jitter).' }),
      maxMs: z.number().int('must be a whole number').min(1).default(300000).meta({ description: 'Longest retry delay.' }),
    })
    .default({ baseMs: 1000, maxMs: 300000 })
    .meta({ description: 'Back-off between attempts of a failed delivery (exponential with jitter). A Retry-After answer of a webhook receiver is honoured up to maxMs.' }),
  connections: z.array(connectionSchema).default([]).meta({ description: 'Mailbox connections (SPEC "Connection settings").' }),
  routes: z.array(routeSchema).default([]).meta({ description: 'Routes (SPEC "Route settings"): which messages of a connection go to which scenario, on which bus.' }),
  brokers,
  api,
  secretsKey: z
    .union([z.strictObject({ file: z.string().min(1) }), z.strictObject({ env: z.string().min(1) })])
    .optional()
    .meta({
      description:
        'The key of the secret store (dataDir/secrets.enc, AES-256-GCM): 32 bytes, raw or base64, in a file ({ file: PATH }, relative to the config file) or an environment variable ({ env: NAME }). Keep it outside dataDir so a copy of the data directory does not carry its key. Absent: dataDir/secrets.key, made 0600 when the first secret is stored.',
    }),
  logging: z
    .strictObject({
      maxFileMb: z.number().positive('must be above 0').max(1_000_000).default(50).meta({ description: 'Size cap of each per-connection log file (dataDir/logs/<name>.log), in MiB: a record that would take it past the cap first rotates it to <name>.log.1 (the older ones move up by one).' }),
      keepFiles: z.number().int('must be a whole number').min(0).max(1000).default(5).meta({ description: 'Rotated files kept per connection log (<name>.log.1 … <name>.log.N, .1 the newest); the oldest beyond N is deleted. 0 keeps none: a full file is started afresh.' }),
    })
    .default({ maxFileMb: 50, keepFiles: 5 })
    .meta({ description: 'Per-connection log files: size cap and rotation.' }),
  archive: z
    .strictObject({
      scrub: z
        .strictObject({
          enabled: z.boolean().default(true).meta({ description: 'Whether start reads the archive back in the background. Default true: damage found weeks after it happened is damage nothing else would have found.' }),
          everyHours: z.number().min(0.001, 'must be at least 0.001').max(8760).default(168).meta({ description: 'Hours from the end of one pass to the start of the next (after a start with no pass recorded: 10 minutes, or this if shorter). Default 168 (weekly).' }),
          mbPerSecond: z.number().positive('must be above 0').max(100_000).default(20).meta({ description: 'MiB read from disk per second at most, as stored (compressed). Default 20: a gentle rate beside a drain; 1 GB of packs takes under a minute, 100 GB under an hour and a half.' }),
        })
        .default({ enabled: true, everyHours: 168, mbPerSecond: 20 })
        .meta({ description: 'The background scrub of start (ADR 0031): every blob read back and checked as mailsluice verify does (never a repair); problems are logged naming their messages and kept in dataDir/scrub-state.json for the alert rule archive-damaged.' }),
      encryption: z
        .strictObject({
          key: z
            .union([z.strictObject({ file: z.string().min(1) }), z.strictObject({ env: z.string().min(1) })])
            .meta({
              description:
                'The master key: a file of 32 bytes made by mailsluice keys generate ({ file: PATH }, relative to the config file; keep it outside dataDir) or an environment variable holding 64 hex digits or base64 ({ env: NAME }). Never the key itself in this file. A lost key is a lost archive: keep an escrow copy apart from the backups.',
            }),
        })
        .optional()
        .meta({
          description:
            'Encryption at rest (ADR 0033): every new blob is compressed, then encrypted with AES-256-GCM under a data key kept wrapped by the master key in dataDir/archive-keys.json (in backups; the master key never is). Blobs written before it was turned on stay readable in clear until mailsluice keys encrypt-existing rewrites them encrypted (ADR 0036). A wrong or missing key stops every command that opens the archive before it reads or takes anything (ARCHIVE_KEY_INVALID). The SQLite databases (archive.db, search.db, the migration copies in dataDir/backups) are encrypted too (ADR 0035: SQLCipher 4 format, under a database key wrapped the same way); databases in clear are encrypted at the next start. mailsluice keys export writes the master key for escrow (whole or in Shamir parts: a lost key is a lost archive, docs/encryption.md); mailsluice keys rotate re-wraps the data keys and the database key under a new master key. Turning encryption off again is refused.',
        }),
      retention,
    })
    .default({ scrub: { enabled: true, everyHours: 168, mbPerSecond: 20 }, retention: { everyHours: 24, rules: [] } })
    .meta({ description: 'The archive: its background verification, its encryption at rest and its retention.' }),
  audit: z
    .strictObject({
      keepDays: z
        .number()
        .int('must be a whole number')
        .min(1)
        .max(36_500)
        .optional()
        .meta({
          description:
            'Audit records older than this many days move, oldest first, from archive.db to sealed files in dataDir/audit-archive/ (one per move, with a trailer and SHA-256), leaving a checkpoint from which mailsluice audit verify starts; --with-archive verifies the files too. Run by start at its start and then daily, and by mailsluice audit prune. Absent: every record stays in archive.db (no retention).',
        }),
    })
    .default({})
    .meta({ description: 'The audit log: retention (ADR 0029).' }),
  alerts,
  mode: modeSchema,
  scaleOut: scaleOutSchema,
});

/** A connection as written in the file, after defaults. */
export type ConnectionInput = z.infer<typeof connectionSchema>;
/** The `api` section after defaults, before the loader derives `publicUrl`. */
export type ApiInput = z.infer<typeof api>;
/** A route after defaults. */
export type RouteConfig = z.infer<typeof routeSchema>;
/** The `alerts` section after defaults, before secrets are resolved. */
export type AlertsInput = z.infer<typeof alerts>;
/** One alert rule. */
export type AlertRuleConfig = z.infer<typeof alertRule>;
/** One alert channel, before its secrets are resolved. */
export type AlertChannelInput = z.infer<typeof alertChannel>;
/** The parsed file, before secrets are resolved. */
export type ConfigInput = z.infer<typeof configSchema>;
