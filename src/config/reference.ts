/**
 * Renders `docs/configuration.md` from the one schema, so the reference can never describe a key
 * the loader does not accept (or miss one it does). `test/docs/configuration-doc.test.ts` fails
 * when the committed file differs from {@link renderConfigReference}; regenerate it with
 * `npm run build && node dist/src/config/write-reference.js`.
 *
 * It walks the JSON Schema that zod emits for the *input* side (what an operator writes, before
 * defaults apply) rather than zod's internals, because that form is a published standard and
 * stays stable across zod releases.
 */
import { z } from 'zod';
import { configSchema } from './schema.js';

/** The minimal working file of SPEC "Configuration file (contract)", shown in the reference and checked by a test. */
export const MINIMAL_EXAMPLE = `dataDir: ./data                 # archive, database, logs (embedded mode)
connections:
  - name: journal               # system name
    protocol: imap              # imap | pop3 | ews | graph
    host: mail.example.com
    port: 143
    tlsPort: 993
    security: starttls-if-available   # none | starttls-if-available | starttls | tls
    tls: { verify: true }             # ca, clientCert, clientKey, pfx, passphrase, minVersion
    auth: { type: basic, username: journal, password: { env: JOURNAL_PASSWORD } }  # domain, disablePlain
    mailbox: INBOX
    pollIntervalMs: 1000
    maxMessagesPerCycle: 500
    unseenOnly: false
    idle: false
    partialFetch: false
    deletePolicy: delete-and-expunge  # delete | mark-seen | move | leave   (moveTo: Folder)
    expungeEvery: 0
    connectTimeoutMs: 0
    dataTimeoutMs: 0
    logging: errors                   # full | errors | off
    schedule: any-time                # or { timezone, windows: [{ days: [mon..sun], from: "20:00", to: "06:00" }] }
routes:
  - name: archive_all
    connection: journal
    bus: 0
    scenario:
      - action: archive
      - action: webhook
        url: https://example.com/hooks/mail
        secret: { env: HOOK_SECRET }
`;

/** The subset of JSON Schema that zod emits for this config. */
interface JsonSchema {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  pattern?: string;
  format?: string;
}

/** One row of the reference table. */
interface Row {
  path: string;
  type: string;
  required: boolean;
  defaultValue: string;
  allowed: string;
  description: string;
}

// zod writes Number.MAX_SAFE_INTEGER as the maximum of an unbounded int(): not a real limit.
const UNBOUNDED = Number.MAX_SAFE_INTEGER;

function code(text: string): string {
  return '`' + text + '`';
}

/** Escapes a table cell: `|` would end the cell (also inside code spans, in GFM). */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function literal(value: unknown): string {
  return code(JSON.stringify(value));
}

/** A secret is `string | { env } | { file } | { secret }`: shown as one word, explained in the intro. */
function isSecret(s: JsonSchema): boolean {
  const branches = s.anyOf;
  if (!branches || branches.length !== 4) return false;
  const keys = branches.map((b) => (b.type === 'object' ? Object.keys(b.properties ?? {}).join(',') : b.type));
  return keys[0] === 'string' && keys[1] === 'env' && keys[2] === 'file' && keys[3] === 'secret';
}

/** For a tagged union (objects told apart by one constant key, e.g. `action`): the key and its values. */
function tagOf(s: JsonSchema): { key: string; values: unknown[] } | null {
  const variants = s.oneOf ?? s.anyOf;
  if (!variants || !variants.every((v) => v.type === 'object')) return null;
  const first = Object.entries(variants[0]?.properties ?? {}).find(([, p]) => p.const !== undefined);
  if (!first) return null;
  const key = first[0];
  const values = variants.map((v) => v.properties?.[key]?.const);
  return values.every((v) => v !== undefined) ? { key, values } : null;
}

function typeOf(s: JsonSchema): string {
  if (isSecret(s)) return 'secret';
  if (s.const !== undefined) return literal(s.const);
  const tag = tagOf(s);
  if (tag) return `object by ${code(tag.key)}`;
  if (s.anyOf) return s.anyOf.map(typeOf).join(' or ');
  if (s.oneOf) return s.oneOf.map(typeOf).join(' or ');
  if (s.type === 'array') return `list of ${s.items ? typeOf(s.items) : 'any'}`;
  if (s.type === 'string' && s.format === 'email') return 'email address';
  if (s.type === 'string' && s.format === 'uri') return 'URL';
  return s.type ?? 'any';
}

function constraints(s: JsonSchema): string {
  const out: string[] = [];
  if (s.enum) out.push(s.enum.map(literal).join(', '));
  const hasMax = s.maximum !== undefined && s.maximum !== UNBOUNDED;
  if (s.minimum !== undefined && hasMax) out.push(`${s.minimum} to ${s.maximum}`);
  else if (s.minimum !== undefined) out.push(`≥ ${s.minimum}`);
  else if (hasMax) out.push(`≤ ${s.maximum}`);
  if (s.minLength === 1) out.push('non-empty');
  else if (s.minLength !== undefined) out.push(`at least ${s.minLength} characters`);
  if (s.maxLength !== undefined) out.push(`at most ${s.maxLength} characters`);
  // Email patterns are zod's implementation detail; the type already says "email address".
  if (s.pattern !== undefined && s.format === undefined) out.push(`matches ${code(s.pattern)}`);
  if (s.minItems !== undefined) out.push(`at least ${s.minItems} item${s.minItems === 1 ? '' : 's'}`);
  const tag = tagOf(s);
  if (tag) out.push(`${tag.key}: ${tag.values.map(literal).join(', ')}`);
  if (s.type === 'array' && s.items && tagOf(s.items)) out.push(`each: ${constraints(s.items)}`);
  if (s.type === 'array' && s.items && !s.items.properties && !s.items.oneOf && !s.items.anyOf) {
    const inner = constraints(s.items);
    if (inner) out.push(`each: ${inner}`);
  }
  return out.join('; ');
}

/** Walks a schema node, adding a row for it and recursing into object members and list items. */
function walk(s: JsonSchema, path: string, required: boolean, rows: Row[], note = ''): void {
  if (path !== '') {
    rows.push({
      path,
      type: typeOf(s),
      required: required && s.default === undefined,
      defaultValue: s.default === undefined ? '' : literal(s.default),
      allowed: constraints(s),
      description: [note, s.description ?? ''].filter(Boolean).join(' '),
    });
  }
  if (isSecret(s)) return;
  if (s.properties) {
    const req = new Set(s.required ?? []);
    for (const [key, child] of Object.entries(s.properties)) walk(child, path ? `${path}.${key}` : key, req.has(key), rows, '');
  }
  // Lists of scalars are described by their "each:" constraint; lists of objects get rows per key.
  if (s.type === 'array' && s.items && (s.items.properties || tagOf(s.items))) walkMembers(s.items, `${path}[]`, rows);
  for (const branch of s.anyOf ?? []) {
    // e.g. schedule: 'any-time' or an object whose keys are listed under the same path.
    if (branch.properties) walkMembers(branch, path, rows);
  }
}

/** Rows for the members of an object (or of each variant of a tagged union) without a row for the object itself. */
function walkMembers(s: JsonSchema, path: string, rows: Row[]): void {
  if (s.properties) {
    const req = new Set(s.required ?? []);
    for (const [key, child] of Object.entries(s.properties)) walk(child, `${path}.${key}`, req.has(key), rows, '');
    return;
  }
  const tag = tagOf(s);
  if (tag) {
    rows.push({
      path: `${path}.${tag.key}`,
      type: 'string',
      required: true,
      defaultValue: '',
      allowed: tag.values.map(literal).join(', '),
      description: `Which kind of item this is; the keys marked (${tag.key}: …) below belong to that kind.`,
    });
    for (const v of s.oneOf ?? s.anyOf ?? []) {
      const note = `(${tag.key}: ${String(v.properties?.[tag.key]?.const)})`;
      const req = new Set(v.required ?? []);
      for (const [key, child] of Object.entries(v.properties ?? {})) {
        if (key !== tag.key) walk(child, `${path}.${key}`, req.has(key), rows, note);
      }
    }
  }
}

function table(rows: Row[]): string {
  const lines = ['| Key | Type | Required | Default | Allowed values | Description |', '| --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    lines.push(
      `| ${[code(r.path), r.type, r.required ? 'yes' : '', r.defaultValue, r.allowed, r.description].map(cell).join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

const INTRO = `# Configuration reference

<!-- Generated from src/config/schema.ts by src/config/reference.ts. Do not edit by hand:
     run \`npm run build && node dist/src/config/write-reference.js\`. A test fails when this file is stale. -->

mailsluice reads one YAML file (default \`./mailsluice.yaml\`, or \`--config FILE\`). Keys are
camelCase. The file is validated at start, every problem is reported with its key path
(\`mailsluice config check\` prints them all), and the result is frozen. A running \`start\` applies
it again on SIGHUP and when it changes on disk: connections, routes and alerts apply live (only
the changed connections' runners restart; an alert rule whose condition is unchanged keeps its
state, ADR 0026), \`dataDir\`, \`buses\`, \`api\` and \`logging\` wait for a
restart, and a file that does not validate changes nothing (docs/pipeline.md, ADR 0024).

- **Unknown keys are an error** naming the key and its path, so a typo never silently does nothing.
- **Numbers are parsed strictly**: \`port: "993"\` is an error, not a port.
- **Relative paths** (\`dataDir\`, \`{ file: PATH }\` secrets) are relative to the configuration file.
- A **secret** is a literal string, \`{ env: NAME }\` (read from the environment variable NAME),
  \`{ file: PATH }\` (the file's content, one trailing newline removed) or \`{ secret: NAME }\` (a
  value of the encrypted secret store \`dataDir/secrets.enc\`, under the key \`secretsKey\`: what a
  secret entered through the API becomes, so the file never holds it in clear; ADR 0023). A
  variable that is not set, a file that cannot be read, or a stored secret that is missing or does
  not decrypt is reported like any other problem. Secrets are never logged.
- A **system name** (\`connections[].name\`, \`routes[].name\`) uses Latin letters, digits and \`_\` only.
- A **host** is a bare name or address: \`imap://mail.example.com\` and \`imap:mail.example.com\` are
  rejected (choose TLS with \`security: tls\`), so are \`mail.example.com:993\` (the port goes in
  \`port\`/\`tlsPort\`) and \`[::1]\` (IPv6 is written bare: \`::1\`).
- \`Key\` paths use \`[]\` for "every item of the list"; a list of variants (\`routes[].scenario[]\`)
  names the variant a key belongs to in its description.

Rules that involve several keys are checked after the schema (see \`src/config/loader.ts\`), also
on the valid parts of a file whose shape is wrong, so \`config check\` lists both kinds at once:
\`moveTo\` is required with \`deletePolicy: move\` and allowed only then; POP3 connections cannot use
\`unseenOnly\`, \`idle\`, \`partialFetch\`, \`mark-seen\` or \`move\`; \`protocol: ews\` needs \`ews\`
(\`ews.url\` is \`host[:port]/path\` without \`https://\`, always HTTPS; \`partialFetch\`, \`xoauth2\` and \`oauthbearer\` do not apply),
and \`ews\` applies to no other protocol; a route's \`response\`/\`errorResponse\` is refused on a POP3 connection, and on an
EWS or Graph one may add \`\\Seen\` (the item is marked read) and keywords (each becomes a category), no other system flag;
\`protocol: graph\` needs \`graph\` (\`tenant\`, \`clientId\`, \`mailbox\` and \`clientSecret\` or
\`clientCertificate\`, not both; \`authority\` and \`endpoint\` https, or http on loopback, scheme and host
only; the folder is \`graph.folder\`, not \`mailbox\`; no \`auth\` keys, \`idle\` or \`partialFetch\`), and \`graph\` applies to no other protocol;
\`auth.type: basic\` needs \`username\` and \`password\`; \`xoauth2\` and \`oauthbearer\` need \`username\` and
either \`accessToken\` or \`tokenUrl\` (https, or http on loopback) with \`clientId\` and \`clientSecret\`, \`clientCertificate\`
(PEM of the certificate and its RSA key) or \`refreshToken\` (not both forms, not a secret and a certificate); \`ntlm\` needs \`username\` and \`password\` (the domain in \`auth.domain\` or as
\`DOMAIN\\user\`, not both differing; the alias form \`dom\\user\\alias\` is refused with ntlm), and \`auth.domain\` is
allowed only with \`ntlm\` (nothing is silently sent another way); \`tls.pfx\` excludes \`tls.clientCert\`/\`tls.clientKey\`, which go together;
connection and route names are unique; \`routes[].connection\` names a configured connection;
\`routes[].bus\` is below \`buses\`; \`api.publicUrl\` is required when \`api.listen\` listens on every
interface (\`0.0.0.0\`, \`[::]\`). When \`port\`/\`tlsPort\` are left out they default to the
protocol's (IMAP 143/993, POP3 110/995).

## Microsoft Graph (Exchange Online)

\`protocol: graph\` drains one folder of one Exchange Online mailbox through Microsoft Graph with
app-only access: an app registration in the tenant with the \`Mail.ReadWrite\` application
permission (admin consent; an application access policy may narrow it to the journal mailbox).

\`\`\`yaml
connections:
  - name: journal
    protocol: graph
    graph:
      tenant: contoso.onmicrosoft.com     # or the tenant id
      clientId: 00000000-0000-0000-0000-000000000000
      clientSecret: { env: GRAPH_SECRET } # or clientCertificate: { file: /etc/mailsluice/app.pem }
      mailbox: journal@contoso.com        # user id or principal name
      folder: inbox                       # well-known name or Inbox/Journal
\`\`\`

Tokens come from \`AUTHORITY/TENANT/oauth2/v2.0/token\` (client credentials, scope
\`ENDPOINT/.default\`), are renewed before they expire and once when Graph refuses one, and are
never logged; \`tls\` applies to the token endpoint and to Graph alike. \`deletePolicy\`:
\`delete-and-expunge\` deletes permanently (\`permanentDelete\`), \`delete\` moves to Deleted Items,
\`mark-seen\` sets \`isRead\`, \`move\` moves to \`moveTo\` (a folder as \`graph.folder\` names one).

## Windows authentication (NTLM)

\`auth: { type: ntlm, username: journal, domain: CORP, password: … }\`, or \`username: CORP\\journal\`
without \`domain\`, for \`protocol: imap\` (\`AUTHENTICATE NTLM\`), \`pop3\` (\`AUTH NTLM\`) and \`ews\` (HTTP
\`WWW-Authenticate: NTLM\` on one kept-alive connection). mailsluice
speaks NTLMv2 itself (the password never crosses the wire), with a MIC and, over TLS, the
\`tls-server-end-point\` channel binding that Exchange's Extended Protection asks for. Only NTLM is
tried: a server that does not offer it is \`SOURCE_AUTH_UNSUPPORTED\`, a refusal
\`SOURCE_AUTH_REJECTED\`; \`test-connection\` names the NTLM login in its auth step. The Exchange
alias form \`dom\\user\\alias\` works with \`basic\` only (NTLM cannot ask for another mailbox). Tested
against Dovecot whose NTLM is Samba's winbind (which verifies the MIC, not the channel binding),
and over HTTP against the test harness's EWS simulator (which verifies the channel binding too);
not against a real Exchange (ADR 0043).

## Minimal example

The smallest file that works (SPEC "Configuration file"); set \`JOURNAL_PASSWORD\` and
\`HOOK_SECRET\` in the environment.

\`\`\`yaml
${MINIMAL_EXAMPLE}\`\`\`
`;

/**
 * Returns the Markdown of `docs/configuration.md`: an introduction, the minimal example and one
 * table row per key of the schema (path, type, required, default, allowed values, description).
 */
export function renderConfigReference(): string {
  const root = z.toJSONSchema(configSchema, { io: 'input' }) as JsonSchema;
  const sections: string[] = [INTRO];
  const topLevel: Row[] = [];
  const properties = Object.entries(root.properties ?? {});
  for (const [key, child] of properties) {
    if (child.type === 'array' && child.items?.properties) continue;
    walk(child, key, (root.required ?? []).includes(key), topLevel);
  }
  sections.push(`## Top level\n\n${table(topLevel)}\n`);
  for (const [key, child] of properties) {
    if (!(child.type === 'array' && child.items?.properties)) continue;
    const rows: Row[] = [];
    walk(child, key, (root.required ?? []).includes(key), rows);
    sections.push(`## \`${key}[]\`\n\n${table(rows)}\n`);
  }
  return sections.join('\n');
}
