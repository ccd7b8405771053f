/**
 * What `GET /api/v1/connections/{name}` shows an edit form (`settings`): every setting in the
 * file's keys, defaults filled in, and of the secrets only which are set, never a value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { checkConfigText } from '../../src/config/loader.js';
import { connectionStored } from '../../src/app/connection-stored.js';

test('connection settings for an edit form: every key, defaults filled in, secrets named and never shown', () => {
  const connection = {
    name: 'journal',
    protocol: 'imap',
    host: 'mail.example.com',
    security: 'tls',
    tls: { ca: '-----BEGIN CERTIFICATE-----\nCA-PEM-SECRET\n-----END CERTIFICATE-----\n', servername: 'imap.example.com' },
    auth: { type: 'basic', username: 'j', password: 'PASSWORD-SECRET' },
    mailbox: ['INBOX', 'Journal'],
    deletePolicy: 'move',
    moveTo: 'Done',
    schedule: { timezone: 'Europe/Moscow', windows: [{ days: ['mon', 'tue'], from: '08:00', to: '18:00' }] },
    testRecipients: ['probe@example.com'],
    testRelay: { host: 'relay.example.com', auth: { user: 'r', pass: 'RELAY-SECRET' } },
  };
  const { config, problems } = checkConfigText(stringify({ dataDir: '/tmp/ms-stored', connections: [connection] }));
  assert.deepEqual(problems, []);
  const s = connectionStored(config!.connections[0]!);
  const text = JSON.stringify(s);
  for (const secret of ['CA-PEM-SECRET', 'PASSWORD-SECRET', 'RELAY-SECRET']) assert.ok(!text.includes(secret), `${secret} is never shown`);
  assert.deepEqual(s.secretsSet, ['auth.password', 'tls.ca', 'testRelay.auth.pass']);
  assert.deepEqual([s.port, s.tlsPort, s.pollIntervalMs, s.maxMessagesPerCycle, s.logging, s.connectTimeoutMs], [143, 993, 1000, 500, 'errors', 30000], 'defaults filled in');
  assert.deepEqual(s.mailbox, ['INBOX', 'Journal']);
  assert.deepEqual(s.tls, { verify: true, minVersion: 'TLSv1.2', servername: 'imap.example.com' });
  assert.deepEqual(s.auth, { type: 'basic', username: 'j', disablePlain: false, apop: false });
  assert.equal(s.moveTo, 'Done');
  assert.deepEqual(s.schedule, connection.schedule);
  assert.deepEqual(s.testRelay?.auth, { user: 'r' });
  assert.equal(s.testRelay?.port, 25);
});

test('connection settings for an edit form: OAuth2 shows tokenUrl, clientId and scope, and names its secrets without their values', () => {
  const connection = {
    name: 'exo',
    protocol: 'pop3',
    host: 'outlook.office365.com',
    auth: { type: 'xoauth2', username: 'journal@example.com', tokenUrl: 'https://login.microsoftonline.com/t/oauth2/v2.0/token', clientId: 'app-id', clientSecret: 'CLIENT-SECRET', scope: 'https://outlook.office365.com/.default' },
  };
  const { config, problems } = checkConfigText(stringify({ dataDir: '/tmp/ms-stored', connections: [connection] }));
  assert.deepEqual(problems, []);
  const s = connectionStored(config!.connections[0]!);
  assert.ok(!JSON.stringify(s).includes('CLIENT-SECRET'));
  assert.deepEqual(s.secretsSet, ['auth.clientSecret']);
  assert.deepEqual(s.auth, { type: 'xoauth2', username: 'journal@example.com', disablePlain: false, apop: false, tokenUrl: connection.auth.tokenUrl, clientId: 'app-id', scope: connection.auth.scope });
});
