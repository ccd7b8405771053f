/**
 * A route's `attributes` (ADR 0027): the pure mapping and its checks, and config check naming
 * an unknown attribute with the known ones listed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attributeMappingProblems, mapAttributes } from '../../src/core/routing/route-attributes.js';
import type { MessageAttributes } from '../../src/core/message/attributes.js';
import { checkConfigText } from '../../src/config/loader.js';

const message: MessageAttributes = {
  From: { Name: 'A', Address: 'a@example.test' },
  To: [{ Name: '', Address: 'b@example.test' }],
  Cc: [],
  Bcc: [],
  Subject: 'Quarterly',
  ReceivedDate: '2026-01-02T03:04:05.000Z',
  GlobalMessageId: 'id@example.test',
  InReplyTo: '',
  References: [],
  TextBody: 'text',
  HtmlBody: '',
  Attachments: [],
  CustomHeaders: [{ Name: 'X-Ticket', Value: 'T-42', ListValues: ['T-42', 'T-43'] }],
  ArchiveId: 'ab'.repeat(32),
};

test('no mapping: the message itself', () => {
  assert.equal(mapAttributes(message, undefined), message);
  assert.equal(mapAttributes(message, {}), message);
});

test('keep, rename and add: exactly those, in that order, header lookup case-insensitive', () => {
  const out = mapAttributes(message, {
    keep: ['Subject', 'From', 'ArchiveId', 'Journal'],
    rename: { Subject: 'Title' },
    add: [
      { name: 'Ticket', header: 'x-ticket' },
      { name: 'Missing', header: 'X-None' },
      { name: 'Tenant', value: 'acme' },
    ],
  });
  // Journal is kept but the message has none: not invented.
  assert.deepEqual(out, { Title: 'Quarterly', From: message.From, ArchiveId: message.ArchiveId, Ticket: 'T-42', Missing: '', Tenant: 'acme' });
});

test('rename without keep keeps every attribute, one of them renamed', () => {
  const out = mapAttributes(message, { rename: { GlobalMessageId: 'MessageId' } }) as Record<string, unknown>;
  assert.equal(out.MessageId, 'id@example.test');
  assert.equal('GlobalMessageId' in out, false);
  assert.equal(out.Subject, 'Quarterly');
});

test('problems name the attribute at fault and list the known names', () => {
  const p = attributeMappingProblems({ keep: ['Subject', 'Subjekt'], rename: { From: 'Sender', Frm: 'X' }, add: [{ name: 'Subject', value: 'c' }, { name: '9bad', value: 'c' }] });
  const byPath = Object.fromEntries(p.map((x) => [x.path, x.message]));
  assert.match(byPath['keep[1]'] ?? '', /not a message attribute: "Subjekt" \(known: From, To, .*ArchiveId, Probe\)/);
  assert.match(byPath['rename.From'] ?? '', /renames From, which keep leaves out/);
  assert.match(byPath['rename.Frm'] ?? '', /not a message attribute: "Frm"/);
  assert.match(byPath['add[0].name'] ?? '', /two attributes named Subject/);
  assert.match(byPath['add[1].name'] ?? '', /must be a name of letters/);
  assert.deepEqual(attributeMappingProblems({ keep: ['Subject'], rename: { Subject: 'Title' }, add: [{ name: 'Subject', value: 'x' }] }), []);
});

const BASE = `connections:
  - name: journal
    protocol: imap
    host: mail.example.com
    auth: { username: u, password: p }
routes:
  - name: hook
    connection: journal
    scenario: [{ action: webhook, url: 'http://127.0.0.1:9/x' }]
`;

test('config check: an unknown attribute to keep or rename is an error naming it; header and value exclusive', () => {
  const r = checkConfigText(`${BASE}    attributes: { keep: [Subject, Subjekt], rename: { Fromm: Sender }, add: [{ name: Both, header: X-A, value: b }] }\n`);
  const msgs = r.problems.map((e) => `${e.path}: ${e.message}`).join('\n');
  assert.match(msgs, /routes\[0\]\.attributes\.keep\[1\]: .*"Subjekt" \(known: From,/);
  assert.match(msgs, /routes\[0\]\.attributes\.rename\.Fromm: .*"Fromm"/);
  assert.match(msgs, /routes\[0\]\.attributes\.add\[0\].*exactly one of header or value/);
  const ok = checkConfigText(`${BASE}    attributes: { keep: [Subject, From], rename: { Subject: Title }, add: [{ name: Ticket, header: X-Ticket }] }\n`);
  assert.deepEqual(ok.problems, []);
});
