/**
 * A connection's every setting as the API shows it to an edit form (`GET
 * /api/v1/connections/{name}`'s `settings`): the configuration file's keys with the running
 * configuration's values, a whitelist so that a secret added to the schema later never leaks;
 * the secrets only named (`secretsSet`), never their values.
 */
import type { ConnectionStoredSettings } from '../api/index.js';
import type { ConnectionConfig } from '../config/loader.js';

/** `{ [key]: value }` when the value is there, else nothing (optional keys stay absent). */
const opt = <K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> => (value === undefined ? {} : ({ [key]: value } as Record<K, V>));

/** The dotted secret keys of `c` that hold a value. */
function secretsSet(c: ConnectionConfig): string[] {
  const held: Array<[string, unknown]> = [
    ['auth.password', c.auth.password],
    ['auth.accessToken', c.auth.accessToken],
    ['auth.clientSecret', c.auth.clientSecret],
    ['auth.clientCertificate', c.auth.clientCertificate],
    ['auth.refreshToken', c.auth.refreshToken],
    ['tls.ca', c.tls.ca],
    ['tls.clientCert', c.tls.clientCert],
    ['tls.clientKey', c.tls.clientKey],
    ['tls.pfx', c.tls.pfx],
    ['tls.passphrase', c.tls.passphrase],
    ['graph.clientSecret', c.graph?.clientSecret],
    ['graph.clientCertificate', c.graph?.clientCertificate],
    ['testRelay.tls.ca', c.testRelay?.tls.ca],
    ['testRelay.auth.pass', c.testRelay?.auth?.pass],
  ];
  return held.filter(([, v]) => v !== undefined).map(([k]) => k);
}

/** Every setting of `c` for an edit form, without a secret. */
export function connectionStored(c: ConnectionConfig): ConnectionStoredSettings {
  const r = c.testRelay;
  return {
    description: c.description,
    logging: c.logging,
    host: c.host ?? '',
    port: c.port,
    tlsPort: c.tlsPort,
    security: c.security,
    tls: { verify: c.tls.verify, minVersion: c.tls.minVersion, ...opt('servername', c.tls.servername) },
    auth: {
      type: c.auth.type,
      ...opt('username', c.auth.username),
      ...opt('domain', c.auth.domain),
      disablePlain: c.auth.disablePlain,
      apop: c.auth.apop,
      ...opt('tokenUrl', c.auth.tokenUrl),
      ...opt('clientId', c.auth.clientId),
      ...opt('scope', c.auth.scope),
    },
    mailbox: c.folders.length === 1 ? c.folders[0]! : [...c.folders],
    pollIntervalMs: c.pollIntervalMs,
    maxMessagesPerCycle: c.maxMessagesPerCycle,
    unseenOnly: c.unseenOnly,
    idle: c.idle,
    idleSafetyPollMs: c.idleSafetyPollMs,
    partialFetch: c.partialFetch,
    deletePolicy: c.deletePolicy,
    ...opt('moveTo', c.moveTo),
    expungeEvery: c.expungeEvery,
    connectTimeoutMs: c.connectTimeoutMs,
    dataTimeoutMs: c.dataTimeoutMs,
    schedule: c.schedule === 'any-time' ? 'any-time' : { timezone: c.schedule.timezone, windows: c.schedule.windows.map((w) => ({ days: [...w.days], from: w.from, to: w.to })) },
    testRecipients: [...c.testRecipients],
    ...(r
      ? {
          testRelay: {
            host: r.host,
            port: r.port,
            protocol: r.protocol,
            security: r.security,
            tls: { verify: r.tls.verify, ...opt('servername', r.tls.servername) },
            ...(r.auth ? { auth: { user: r.auth.user } } : {}),
            from: r.from,
            timeoutMs: r.timeoutMs,
            waitMs: r.waitMs,
          },
        }
      : {}),
    ...(c.ews ? { ews: { url: c.ews.url, version: c.ews.version } } : {}),
    ...(c.graph ? { graph: { tenant: c.graph.tenant, clientId: c.graph.clientId, mailbox: c.graph.mailbox, folder: c.graph.folder, authority: c.graph.authority, endpoint: c.graph.endpoint, ...opt('scope', c.graph.scope) } } : {}),
    secretsSet: secretsSet(c),
  };
}
