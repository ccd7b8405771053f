/**
 * Retention as decisions (issue 16, item 3; docs/retention.md): the longest keeping wins where
 * rules overlap, the default for what no rule matches and for ever without one, matches by
 * connection, route, address and domain (journal envelopes included), archived vs received age,
 * calendar periods; and what `config check` says of a wrong section.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addPeriod, messageAddresses, nextPurgeAt, parsePeriod, retentionDecision, DEFAULT_RULE, type RetentionFacts, type RetentionPolicy } from '../../src/core/archive/retention.js';
import { checkConfigText } from '../../src/config/loader.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2030, 0, 1);
const p = (s: string) => parsePeriod(s)!;
const facts = (over: Partial<RetentionFacts> = {}): RetentionFacts => ({ connection: 'j', takenAt: NOW - 100 * DAY, receivedDate: null, routes: [], addresses: [], ...over });

test('periods: days, weeks, calendar months and years; anything else refused', () => {
  assert.equal(addPeriod(0, p('90d')), 90 * DAY);
  assert.equal(addPeriod(0, p('2w')), 14 * DAY);
  assert.equal(new Date(addPeriod(Date.UTC(2020, 1, 29), p('7y'))).toISOString(), '2027-03-01T00:00:00.000Z');
  assert.equal(new Date(addPeriod(Date.UTC(2021, 0, 31), p('1m'))).toISOString(), '2021-03-03T00:00:00.000Z');
  for (const bad of ['', '0d', '7', 'd', '1.5y', '7years', '-1d', '90 d x']) assert.equal(parsePeriod(bad), null, bad);
});

test('no rule and no default keeps for ever; the default applies only where no rule matches', () => {
  assert.deepEqual(retentionDecision({ rules: [] }, facts(), NOW), { expired: false, rule: null, expiresAt: null });
  const policy: RetentionPolicy = { default: p('30d'), rules: [{ name: 'long', keep: p('1y'), since: 'archived', match: { connections: ['legal'] } }] };
  assert.deepEqual(retentionDecision(policy, facts(), NOW), { expired: true, rule: DEFAULT_RULE, expiresAt: NOW - 70 * DAY });
  // A rule that matches decides even when shorter than the default would be (here: longer).
  assert.equal(retentionDecision(policy, facts({ connection: 'legal' }), NOW).expired, false);
  const shorter: RetentionPolicy = { default: p('1y'), rules: [{ name: 'short', keep: p('10d'), since: 'archived', match: { connections: ['j'] } }] };
  assert.deepEqual(retentionDecision(shorter, facts(), NOW).rule, 'short');
  assert.equal(retentionDecision(shorter, facts(), NOW).expired, true);
});

test('overlapping rules: the one keeping the message longest wins, whatever their order', () => {
  const rules = [
    { name: 'short', keep: p('30d'), since: 'archived' as const, match: { connections: ['j'] } },
    { name: 'long', keep: p('1y'), since: 'archived' as const, match: { domains: ['example.com'] } },
    { name: 'mid', keep: p('200d'), since: 'archived' as const, match: { routes: ['crm'] } },
  ];
  const f = facts({ routes: ['crm'], addresses: ['a@example.com'] });
  for (const order of [rules, [...rules].reverse()]) {
    const d = retentionDecision({ rules: order }, f, NOW);
    assert.equal(d.rule, 'long');
    assert.equal(d.expired, false);
  }
  // Without the long one matching, the route's 200 days keep it; without the route, 30 days let it go.
  assert.equal(retentionDecision({ rules }, facts({ routes: ['crm'] }), NOW).rule, 'mid');
  assert.deepEqual(retentionDecision({ rules }, facts(), NOW).expired, true);
});

test('matches: every field given must match; a route, an address and a domain without case; not a subdomain', () => {
  const rule = (match: RetentionPolicy['rules'][number]['match']): RetentionPolicy => ({ rules: [{ name: 'r', keep: p('1d'), since: 'archived', match }] });
  const f = facts({ routes: ['crm'], addresses: ['boss@corp.example.com', 'x@example.org'] });
  assert.equal(retentionDecision(rule({ routes: ['crm'] }), f, NOW).rule, 'r');
  assert.equal(retentionDecision(rule({ routes: ['other'] }), f, NOW).rule, null);
  assert.equal(retentionDecision(rule({ addresses: ['BOSS@Corp.Example.com'] }), f, NOW).rule, 'r');
  assert.equal(retentionDecision(rule({ domains: ['EXAMPLE.org'] }), f, NOW).rule, 'r');
  assert.equal(retentionDecision(rule({ domains: ['example.com'] }), f, NOW).rule, null, 'a subdomain is not the domain');
  assert.equal(retentionDecision(rule({ connections: ['j'], domains: ['example.org'] }), f, NOW).rule, 'r');
  assert.equal(retentionDecision(rule({ connections: ['k'], domains: ['example.org'] }), f, NOW).rule, null, 'AND across fields');
});

test('age from archiving by default, from the Date header with since: received; an unreadable Date counts from archiving', () => {
  const policy = (since: 'archived' | 'received'): RetentionPolicy => ({ rules: [{ name: 'r', keep: p('90d'), since, match: { connections: ['j'] } }] });
  // Archived 10 days ago, but its Date header (the sender's) says 200 days ago.
  const f = facts({ takenAt: NOW - 10 * DAY, receivedDate: new Date(NOW - 200 * DAY).toISOString() });
  assert.equal(retentionDecision(policy('archived'), f, NOW).expired, false);
  assert.equal(retentionDecision(policy('received'), f, NOW).expired, true);
  assert.equal(retentionDecision(policy('received'), { ...f, receivedDate: 'not a date' }, NOW).expired, false);
  assert.equal(retentionDecision(policy('received'), { ...f, receivedDate: null }, NOW).expired, false);
  // Expired exactly at the instant.
  assert.equal(retentionDecision(policy('archived'), f, NOW + 80 * DAY).expired, true);
  assert.equal(retentionDecision(policy('archived'), f, NOW + 80 * DAY - 1).expired, false);
});

test('addresses: sender, recipients and a journal envelope, lowercase, once each', () => {
  const a = messageAddresses({
    From: { Name: 'A', Address: 'A@X.com' },
    To: [{ Name: '', Address: 'b@y.com' }],
    Cc: [],
    Bcc: [{ Name: '', Address: 'a@x.com' }],
    Journal: { Sender: 'Env@X.com', OnBehalfOf: 'boss@x.com', Recipients: [{ Address: 'Hidden@z.com', Kind: 'Bcc' }] },
  });
  assert.deepEqual(a.sort(), ['a@x.com', 'b@y.com', 'boss@x.com', 'env@x.com', 'hidden@z.com']);
});

test('the next purge: shortly after a start with none recorded, then a period after the last', () => {
  assert.equal(nextPurgeAt(null, 1000, 24, 1000), 1000 + 10 * 60_000);
  assert.equal(nextPurgeAt(null, 1000, 0.01, 1000), 1000 + 36_000);
  assert.equal(nextPurgeAt(5000, 6000, 24), 5000 + 24 * 3_600_000);
  assert.equal(nextPurgeAt(0, 100 * 3_600_000, 24), 100 * 3_600_000);
});

const BASE = `dataDir: /tmp/x
connections:
  - name: j
    protocol: imap
    host: mail.example.com
    auth: { type: basic, username: u, password: p }
archive:
  retention:
`;

function problems(section: string): Map<string, string> {
  return new Map(checkConfigText(BASE + section).problems.map((x) => [x.path, x.message]));
}

test('config: a valid section becomes the policy; a bad one is named by field', () => {
  const ok = checkConfigText(`${BASE}    default: 7y
    rules:
      - { name: crm, keep: 90d, match: { route: crm } }
      - { name: legal, keep: 10y, since: received, match: { domain: [legal.example.com], connection: j } }
`);
  assert.deepEqual(ok.problems, []);
  const policy = ok.config!.archive.retention.policy;
  assert.equal(policy.default?.text, '7y');
  assert.deepEqual(policy.rules.map((r) => [r.name, r.keep.text, r.since, r.match]), [
    ['crm', '90d', 'archived', { routes: ['crm'] }],
    ['legal', '10y', 'received', { connections: ['j'], domains: ['legal.example.com'] }],
  ]);
  assert.equal(ok.config!.archive.retention.everyHours, 24);
  assert.deepEqual(checkConfigText(BASE.replace('archive:\n  retention:\n', '')).config!.archive.retention.policy, { rules: [] });

  const m = problems(`    default: forever
    rules:
      - { name: a, keep: 90days, match: { route: crm } }
      - { name: a, keep: 1y, match: {} }
      - { name: c, keep: 1y, since: sent, match: { sender: x } }
`);
  assert.match(m.get('archive.retention.default')!, /must be a period.*90d or 7y/);
  assert.match(m.get('archive.retention.rules[0].keep')!, /must be a period/);
  assert.match(m.get('archive.retention.rules[1].match')!, /at least one of connection, route, address, domain/);
  assert.match(m.get('archive.retention.rules[2].since')!, /archived|received/);
  assert.ok([...m.keys()].some((k) => k.startsWith('archive.retention.rules[2].match')), [...m.keys()].join(', '));
});

test('config: a rule name used twice is named', () => {
  const m = problems(`    rules:
      - { name: a, keep: 90d, match: { route: crm } }
      - { name: a, keep: 1y, match: { route: x } }
`);
  assert.match(m.get('archive.retention.rules[1].name')!, /a second time/);
});
