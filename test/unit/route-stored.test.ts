/**
 * What `GET /api/v1/routes/{name}` shows an edit form (`settings`, `app/route-stored.ts`): the
 * route as the file writes it, each secret as what an edit sends back to keep it (a reference by
 * its name, a literal by its path), never a value; and an edit that sends the scenario back whole
 * with those loses nothing (config-edit's `{ keep }`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { checkConfigText } from '../../src/config/loader.js';
import { editConfigText } from '../../src/config/config-edit.js';
import { routeStored } from '../../src/app/route-stored.js';
import { MailsluiceError } from '../../src/core/errors/index.js';

const FILE = `dataDir: /tmp/ms-route-stored
buses: 2
connections:
  - name: journal
    protocol: imap
    host: mail.example.com
    auth: { type: basic, username: j, password: { env: JOURNAL_PASSWORD } }
routes:
  - name: crm # by hand
    connection: journal
    bus: 1
    description: CRM
    scenario:
      - action: webhook
        url: https://crm.example.com/hook
        secret: { env: CRM_SECRET } # from systemd
        headers:
          Authorization: LITERAL-HEADER-SECRET
          X-Tenant: { file: tenant.txt }
        tls:
          verify: false
          servername: crm.internal
          ca: |
            -----BEGIN CERTIFICATE-----
            LITERAL-CA-SECRET
            -----END CERTIFICATE-----
        maxAttempts: 3
      - action: forward
        to: [copy@example.com]
        relay: smtp.example.com
        auth: { user: relay, pass: LITERAL-PASS-SECRET }
    response: { addFlags: [$Processed], moveTo: Done }
    errorResponse: { addFlags: [$Failed] }
`;
const env = { JOURNAL_PASSWORD: 'p', CRM_SECRET: 'ENV-SECRET-VALUE' };
const CA = '-----BEGIN CERTIFICATE-----\nLITERAL-CA-SECRET\n-----END CERTIFICATE-----\n';
const dir = mkdtempSync(join(tmpdir(), 'ms-route-stored-'));
writeFileSync(join(dir, 'tenant.txt'), 'acme');

function config(text: string) {
  const { config: c, problems } = checkConfigText(text, { env, file: join(dir, 'mailsluice.yaml') });
  assert.deepEqual(problems, []);
  return c!;
}

test('route settings for an edit form: the keys as written, secrets by reference or path, never a value', () => {
  const s = routeStored(config(FILE), 'crm')!;
  const text = JSON.stringify(s);
  for (const secret of ['LITERAL-HEADER-SECRET', 'LITERAL-CA-SECRET', 'LITERAL-PASS-SECRET', 'ENV-SECRET-VALUE']) assert.ok(!text.includes(secret), `${secret} is never shown`);
  assert.deepEqual(s.scenario[0], {
    action: 'webhook',
    url: 'https://crm.example.com/hook',
    secret: { env: 'CRM_SECRET' },
    headers: { Authorization: { keep: 'scenario[0].headers.Authorization' }, 'X-Tenant': { file: 'tenant.txt' } },
    tls: { verify: false, servername: 'crm.internal', ca: { keep: 'scenario[0].tls.ca' } },
    maxAttempts: 3,
  });
  assert.deepEqual(s.scenario[1], { action: 'forward', to: ['copy@example.com'], relay: 'smtp.example.com', auth: { user: 'relay', pass: { keep: 'scenario[1].auth.pass' } } });
  assert.deepEqual([s.connection, s.bus, s.description, s.enabled], ['journal', 1, 'CRM', undefined], 'as written: no default filled in');
  assert.deepEqual(s.response, { addFlags: ['$Processed'], moveTo: 'Done' });
  assert.deepEqual(s.errorResponse, { addFlags: ['$Failed'] });
  assert.equal(routeStored(config(FILE), 'nope'), undefined);
});

test('a scenario sent back whole with the secrets as shown, a step added before, keeps every setting and secret as written', () => {
  const s = routeStored(config(FILE), 'crm')!;
  const scenario = [{ action: 'archive' }, ...s.scenario];
  const edited = editConfigText(FILE, { kind: 'route', op: 'patch', name: 'crm', patch: { description: 'CRM, edited', scenario } });
  assert.deepEqual(edited.secrets, {}, 'nothing moved to the store');
  const route = (parse(edited.text).routes as Array<Record<string, unknown>>)[0]!;
  const steps = route.scenario as Array<Record<string, unknown>>;
  assert.deepEqual(steps[1], {
    action: 'webhook',
    url: 'https://crm.example.com/hook',
    secret: { env: 'CRM_SECRET' },
    headers: { Authorization: 'LITERAL-HEADER-SECRET', 'X-Tenant': { file: 'tenant.txt' } },
    tls: { verify: false, servername: 'crm.internal', ca: CA },
    maxAttempts: 3,
  });
  assert.deepEqual(steps[2]!.auth, { user: 'relay', pass: 'LITERAL-PASS-SECRET' });
  assert.deepEqual(route.response, { addFlags: ['$Processed'], moveTo: 'Done' });
  assert.equal(route.description, 'CRM, edited');
  assert.match(edited.text, /# by hand/);
  assert.ok(config(edited.text));
});

test('{ keep } naming no secret the route holds is refused with its field', () => {
  assert.throws(
    () => editConfigText(FILE, { kind: 'route', op: 'patch', name: 'crm', patch: { scenario: [{ action: 'webhook', url: 'https://x.example.com/', secret: { keep: 'scenario[5].secret' } }] } }),
    (err: unknown) =>
      err instanceof MailsluiceError &&
      err.code === 'API_BAD_REQUEST' &&
      (err.details as { field?: string }).field === 'scenario.0.secret' &&
      (err.details as { fieldProblems?: Array<{ field: string }> }).fieldProblems?.[0]?.field === 'scenario.0.secret',
  );
});
