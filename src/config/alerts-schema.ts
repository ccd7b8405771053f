/**
 * The `alerts` section of the configuration schema (ADR 0026): channels (a webhook, a mail through
 * a relay) and rules, with their defaults.
 */
import { z } from 'zod';
import { relayEndpoint, secret, systemName } from './schema-common.js';

/** Minutes as a decimal (0.05 is 3 seconds), so a short threshold can be tried out. */
const minutes = (what: string, dflt: number) =>
  z.number().positive('must be above 0').max(525600, 'must be at most 525600 (a year)').default(dflt).meta({ description: `${what}, in minutes (decimals allowed: 0.5 is 30 seconds). Default ${dflt}.` });

export const alertChannel = z.discriminatedUnion('type', [
  z.strictObject({
    name: systemName,
    type: z.literal('webhook').meta({ description: 'POST of the alert as JSON (Standard Webhooks headers; signed with secret when given).' }),
    url: z.string().url('must be an http(s) URL').regex(/^https?:\/\//i, 'must be an http(s) URL').meta({ description: 'Receiver URL.' }),
    secret: secret.optional().meta({ description: 'Signing secret, as a webhook action\'s (Standard Webhooks: webhook-signature: v1,<base64 HMAC-SHA256 of "webhook-id.webhook-timestamp.body">; whsec_<base64> is used as the decoded key bytes).' }),
    timeoutMs: z.number().int('must be a whole number').min(1).max(600000).default(10000).meta({ description: 'Time limit of one request; over it the send failed and is tried again at the next check.' }),
  }),
  z.strictObject({
    name: systemName,
    type: z.literal('email').meta({ description: 'A plain-text mail through an SMTP (or LMTP) relay.' }),
    relay: relayEndpoint('relay', 'starttls-if-available').meta({ description: 'The relay the mail goes through.' }),
    from: z.string().email().meta({ description: 'Sender address (From and MAIL FROM).' }),
    to: z.array(z.string().min(1)).min(1, 'must name at least one recipient').meta({ description: 'Recipients: addresses (over LMTP, a local user name without a domain is accepted too).' }),
    timeoutMs: z.number().int('must be a whole number').min(1).max(600000).default(30000).meta({ description: 'Time limit for connecting, the greeting and any silence of the relay.' }),
  }),
]);

const ruleBase = {
  name: systemName,
  enabled: z.boolean().default(true).meta({ description: 'A disabled rule is listed and can be tested, but is not checked.' }),
  channels: z.array(systemName).min(1, 'must name at least one channel').meta({ description: 'Names of the channels (alerts.channels) the alert goes to.' }),
};
const ruleConnection = systemName.optional().meta({ description: 'The connection watched; absent: every connection.' });

export const alertRule = z.discriminatedUnion('kind', [
  z.strictObject({
    ...ruleBase,
    kind: z.literal('connection-failing').meta({ description: 'A connection whose sessions have failed (error or back-off, no successful cycle since) for minutes.' }),
    connection: ruleConnection,
    minutes: minutes('How long the failures last before the alert', 10),
  }),
  z.strictObject({
    ...ruleBase,
    kind: z.literal('connection-silent').meta({ description: 'A connection with no successful cycle for minutes (failing, hanging, or outside its schedule).' }),
    connection: ruleConnection,
    minutes: minutes('How long without a successful cycle', 60),
  }),
  z.strictObject({
    ...ruleBase,
    kind: z.literal('dead-letters').meta({ description: 'Dead letters (deliveries that used up their attempts) exist; resolved when none is left (retried or never there).' }),
    route: systemName.optional().meta({ description: 'The route watched; absent: every route.' }),
  }),
  z.strictObject({
    ...ruleBase,
    kind: z.literal('disk-space').meta({ description: "The data directory's filesystem is filling." }),
    freePercentBelow: z.number().positive('must be above 0').max(100).default(10).meta({ description: 'Fires when less than this percentage of the filesystem is free to mailsluice. Default 10.' }),
  }),
  z.strictObject({
    ...ruleBase,
    kind: z.literal('certificate-expiry').meta({ description: "A connection's server certificate (as presented at its last TLS session) expires soon or has expired." }),
    connection: ruleConnection,
    days: z.number().positive('must be above 0').max(3650).default(14).meta({ description: 'Fires when the certificate expires within this many days. Default 14.' }),
  }),
  z.strictObject({
    ...ruleBase,
    kind: z.literal('audit-chain-broken').meta({ description: 'The audit log fails verification (a record removed or altered, as mailsluice audit verify reports).' }),
  }),
  z.strictObject({
    ...ruleBase,
    kind: z.literal('archive-damaged').meta({ description: "The background scrub's last pass (archive.scrub) found the archive damaged: a message's blob corrupt or missing, an orphan blob, a damaged record (as mailsluice verify reports); or the pass itself failed. Unknown until a first pass." }),
  }),
]);

/** Alerts (issue 14, item 6): what an operator hears about without watching. */
export const alerts = z
  .strictObject({
    checkSeconds: z.number().int('must be a whole number').min(1).max(3600).default(30).meta({ description: 'How often the rules are checked (and failed sends tried again), in seconds. Default 30.' }),
    resendMinutes: minutes('A condition still true is sent again after this', 60),
    channels: z.array(alertChannel).default([]).meta({ description: 'Where alerts go: webhook (POST JSON) or email (through a relay).' }),
    rules: z
      .array(alertRule)
      .default([])
      .meta({ description: 'What is watched: connection-failing, connection-silent, dead-letters, disk-space, certificate-expiry, audit-chain-broken, archive-damaged. Each rule fires once when its condition starts, again every resendMinutes while it holds, and once more when it resolves.' }),
  })
  .default({ checkSeconds: 30, resendMinutes: 60, channels: [], rules: [] })
  .meta({ description: 'Alerts sent while mailsluice start runs, listed and tested through the API (GET /api/v1/alerts, POST /api/v1/alerts/{rule}/test).' });

