/**
 * `config check` on routes: every problem with its key path, and the warnings an operator needs
 * (responses a connection cannot apply).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConfigText } from '../../src/config/loader.js';

const CONN = (name: string, extra = '') => `  - name: ${name}
    protocol: imap
    host: mail.example.com
    auth: { type: basic, username: u, password: p }
${extra}`;

test('route problems are named with their key path', () => {
  const text = `busConcurrency: 0
deliveryRetry: { baseMs: 500, maxMs: 100 }
connections:
${CONN('j')}${CONN('p', '    protocol: pop3\n')}
routes:
  - name: bad_regex
    connection: j
    filter: { match: regex, subject: "(", header: { name: X-A, value: "[" } }
    scenario: [{ action: archive }]
  - name: pub
    connection: j
    scenario: [{ action: publish, broker: nope, subject: mail.in }]
  - name: hdr
    connection: j
    scenario: [{ action: webhook, url: "http://127.0.0.1:9/x", headers: { Idempotency-Key: x }, inlineAttachmentsUpTo: -1 }]
  - name: ftp
    connection: j
    scenario: [{ action: webhook, url: "ftp://127.0.0.1/x" }]
`;
  // The shape's problems and, on the parts valid on their own (routes 0 and 1, deliveryRetry),
  // the checks across keys, in one run; route 2 is invalid, so its reserved header waits …
  const shape = checkConfigText(text.replace('    protocol: pop3\n', '')).problems.map((p) => p.path);
  assert.deepEqual(
    shape.sort(),
    ['busConcurrency', 'deliveryRetry.maxMs', 'routes[0].filter.header.value', 'routes[0].filter.subject', 'routes[1].scenario[0].broker', 'routes[2].scenario[0].inlineAttachmentsUpTo', 'routes[3].scenario[0].url'].sort(),
  );
  // … until the shape is right.
  const fixed = text
    .replace('busConcurrency: 0', 'busConcurrency: 2')
    .replace('deliveryRetry: { baseMs: 500, maxMs: 100 }', '')
    .replace(', headers: { Idempotency-Key: x }, inlineAttachmentsUpTo: -1', '')
    .replace('ftp://', 'http://')
    .replace('    protocol: pop3\n', '');
  const { problems } = checkConfigText(fixed);
  assert.deepEqual(problems.map((p) => p.path).sort(), ['routes[0].filter.header.value', 'routes[0].filter.subject', 'routes[1].scenario[0].broker'], JSON.stringify(problems));
  assert.match(problems.find((p) => p.path === 'routes[1].scenario[0].broker')!.message, /no broker named "nope" in the brokers section \(it has none\)/);
});

test('cross-key problems: reserved headers, back-off bounds, responses on POP3; warnings for responses that cannot apply', () => {
  const text = `deliveryRetry: { baseMs: 500, maxMs: 100 }
connections:
  - name: j
    protocol: imap
    host: mail.example.com
    auth: { type: basic, username: u, password: p }
  - name: k
    protocol: imap
    host: mail.example.com
    deletePolicy: leave
    auth: { type: basic, username: u, password: p }
  - name: p
    protocol: pop3
    host: mail.example.com
    auth: { type: basic, username: u, password: p }
routes:
  - name: hdr
    connection: j
    response: { addFlags: ["\\\\Seen"] }
    scenario: [{ action: webhook, url: "http://127.0.0.1:9/x", headers: { Idempotency-Key: x } }]
  - name: kept
    connection: k
    errorResponse: { moveTo: Failed }
    scenario: [{ action: archive }]
  - name: pop
    connection: p
    response: { moveTo: Done }
    scenario: [{ action: archive }]
`;
  const { problems, warnings } = checkConfigText(text);
  assert.deepEqual(
    problems.map((p) => p.path).sort(),
    ['deliveryRetry.maxMs', 'routes[0].scenario[0].headers.Idempotency-Key', 'routes[2].response'].sort(),
    JSON.stringify(problems),
  );
  assert.match(warnings.find((w) => w.path === 'routes[0].response')?.message ?? '', /delete-and-expunge/);
  // deletePolicy leave keeps the message on the server: the response is applied, nothing to warn about.
  assert.equal(warnings.find((w) => w.path === 'routes[1].errorResponse'), undefined);
});

test('a valid route config loads: defaults filled, webhook secrets and header secrets resolved, script paths made absolute', () => {
  const text = `connections:
  - name: j
    protocol: imap
    host: mail.example.com
    auth: { type: basic, username: u, password: p }
routes:
  - name: hook
    connection: j
    bus: 3
    filter: { from: "@example.com" }
    scenario:
      - action: webhook
        url: "https://hooks.example.com/in"
        secret: { env: HOOK_SECRET }
        headers: { Authorization: { env: HOOK_AUTH } }
  - name: scr
    connection: j
    scenario: [{ action: script, module: ./handlers/x.mjs }]
`;
  const { config, problems, warnings } = checkConfigText(text, { file: '/etc/mailsluice/m.yaml', env: { HOOK_SECRET: 's3', HOOK_AUTH: 'Bearer a' } });
  assert.deepEqual(problems, []);
  assert.deepEqual(warnings, []);
  assert.equal(config!.busConcurrency, 4);
  assert.deepEqual(config!.deliveryRetry, { baseMs: 1000, maxMs: 300000 });
  const hook = config!.routes[0]!.scenario[0]!;
  assert.ok(hook.action === 'webhook');
  assert.equal(hook.secret, 's3');
  assert.deepEqual(hook.headers, { Authorization: 'Bearer a' });
  assert.equal(hook.maxAttempts, 10);
  assert.equal(hook.inlineAttachmentsUpTo, 262144);
  const scr = config!.routes[1]!.scenario[0]!;
  assert.ok(scr.action === 'script');
  assert.equal(scr.module, '/etc/mailsluice/handlers/x.mjs');
  const missing = checkConfigText(text, { file: '/etc/mailsluice/m.yaml', env: {} });
  assert.deepEqual(missing.problems.map((p) => p.path).sort(), ['routes[0].scenario[0].headers.Authorization', 'routes[0].scenario[0].secret']);
});

test('brokers: publish steps say where on the broker they name; names unique; credentials in one form; secrets read', () => {
  const text = `connections:
${CONN('j')}brokers:
  - { name: events, type: nats, servers: ["127.0.0.1:4222", "nats://n2:4222"], token: { env: NATS_TOKEN } }
  - { name: rabbit, type: rabbitmq, host: mq.example.com, vhost: mail, username: svc, password: { env: MQ_PASS }, tls: { verify: true } }
  - { name: dup, type: nats, servers: [a:1], user: u }
  - { name: dup, type: nats, servers: [a:1], token: t, user: u, password: p }
routes:
  - { name: ok_nats, connection: j, scenario: [{ action: publish, broker: events, subject: mail.archived }] }
  - { name: ok_mq, connection: j, scenario: [{ action: publish, broker: rabbit, exchange: mail, routingKey: archived }] }
  - { name: nats_exchange, connection: j, scenario: [{ action: publish, broker: events, exchange: x }] }
  - { name: mq_subject, connection: j, scenario: [{ action: publish, broker: rabbit, subject: a.b }] }
`;
  const env = { NATS_TOKEN: 'tok-1', MQ_PASS: 'pw-2' };
  const { problems } = checkConfigText(text, { env });
  assert.deepEqual(
    problems.map((p) => p.path).sort(),
    ['brokers[2].password', 'brokers[3].name', 'brokers[3].token', 'routes[2].scenario[0].exchange', 'routes[2].scenario[0].subject', 'routes[3].scenario[0].exchange', 'routes[3].scenario[0].subject'].sort(),
    JSON.stringify(problems),
  );
  const good = text.split('  - { name: dup')[0]! + text.slice(text.indexOf('routes:')).split('  - { name: nats_exchange')[0]!;
  const { config, problems: none } = checkConfigText(good, { env });
  assert.deepEqual(none, []);
  assert.deepEqual(config!.brokers.map((b) => [b.name, b.type, 'token' in b ? b.token : b.password]), [['events', 'nats', 'tok-1'], ['rabbit', 'rabbitmq', 'pw-2']]);
  // A wildcard is no subject to publish to.
  assert.ok(checkConfigText(good.replace('subject: mail.archived', 'subject: mail.*'), { env }).problems.some((p) => p.path === 'routes[0].scenario[0].subject'));
});
