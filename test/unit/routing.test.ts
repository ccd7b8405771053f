/**
 * The pure routing code: filters (from / to / subject / header / size / has attachment, contains
 * and regex) and which routes of a connection take a message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileFilter as compileOn, filterProblems as problemsOn, type FilterSubject, type RouteFilter } from '../../src/core/routing/route-filter.js';
import { RouteMatcher, deliveryIdOf } from '../../src/core/routing/route-matcher.js';
import { re2jsRegexEngine } from '../../src/adapters/regex-re2js/index.js';

/** The filter functions on the engine the composition roots hand them. */
const compileFilter = (f: RouteFilter | undefined) => compileOn(f, re2jsRegexEngine);
const filterProblems = (f: RouteFilter | undefined) => problemsOn(f, re2jsRegexEngine);

const msg: FilterSubject = {
  size: 5000,
  From: { Name: 'Ann Smith', Address: 'ann@example.test' },
  To: [{ Name: '', Address: 'bob@corp.test' }],
  Cc: [{ Name: 'Team', Address: 'team@corp.test' }],
  Bcc: [],
  Subject: 'Quarterly Report Q3',
  CustomHeaders: [{ Name: 'X-Priority', Value: '1', ListValues: ['1'] }, { Name: 'Received', Value: 'a', ListValues: ['a', 'b from mx.corp.test'] }],
  attachments: 1,
};

test('contains conditions are case-insensitive substrings; every condition given must hold', () => {
  assert.ok(compileFilter({ match: 'contains', from: 'ANN@' }).matches(msg));
  assert.ok(compileFilter({ match: 'contains', from: 'smith' }).matches(msg), 'the name counts too');
  assert.ok(compileFilter({ match: 'contains', to: 'team@' }).matches(msg), 'Cc is a recipient');
  assert.ok(compileFilter({ match: 'contains', subject: 'quarterly', hasAttachment: true, minSize: 4000, maxSize: 5000 }).matches(msg));
  assert.ok(!compileFilter({ match: 'contains', subject: 'quarterly', hasAttachment: false }).matches(msg));
  assert.ok(!compileFilter({ match: 'contains', minSize: 5001 }).matches(msg));
  assert.ok(!compileFilter({ match: 'contains', maxSize: 4999 }).matches(msg));
  assert.ok(!compileFilter({ match: 'contains', to: 'ann@' }).matches(msg));
  assert.ok(compileFilter(undefined).matches(msg));
});

test('regex conditions anchor per address; header conditions look at every value of a repeated header', () => {
  assert.ok(compileFilter({ match: 'regex', to: '^bob@corp\\.test$' }).matches(msg));
  assert.ok(!compileFilter({ match: 'regex', to: '^bob@corp\\.test, ' }).matches(msg));
  assert.ok(compileFilter({ match: 'regex', subject: 'q[0-9]$' }).matches(msg), 'case-insensitive');
  assert.ok(compileFilter({ match: 'contains', header: { name: 'x-priority', value: '1' } }).matches(msg), 'header names are case-insensitive');
  assert.ok(compileFilter({ match: 'contains', header: { name: 'Received', value: 'mx.corp' } }).matches(msg), 'the second value counts');
  assert.ok(!compileFilter({ match: 'contains', header: { name: 'X-Missing', value: '' } }).matches(msg), 'an absent header matches nothing');
  assert.ok(!compileFilter({ match: 'contains', from: 'x' }).matches({ size: 1, attachments: 0 }), 'no From: a from condition fails');
});

test('an invalid regex is a config problem naming the key', () => {
  assert.deepEqual(filterProblems({ match: 'contains', subject: '(' }), []);
  const p = filterProblems({ match: 'regex', subject: '(', header: { name: 'X', value: '[' } });
  assert.deepEqual(p.map(([k]) => k), ['subject', 'header.value']);
});

test('the enabled routes of the message connection whose filter matches, each with a stable id', () => {
  const m = new RouteMatcher([
    { name: 'all', connection: 'j', enabled: true, bus: 0 },
    { name: 'reports', connection: 'j', enabled: true, bus: 1, filter: { match: 'contains', subject: 'report' } },
    { name: 'invoices', connection: 'j', enabled: true, bus: 1, filter: { match: 'contains', subject: 'invoice' } },
    { name: 'off', connection: 'j', enabled: false, bus: 0 },
    { name: 'other', connection: 'k', enabled: true, bus: 0 },
  ], re2jsRegexEngine);
  let parsed = 0;
  const got = m.match({ id: 42, connection: 'j', size: 10, attributes: () => (parsed++, { Subject: 'Monthly report' }) }, 1000);
  assert.deepEqual(
    got.map((d) => [d.id, d.bus]),
    [
      ['j.all.42', 0],
      ['j.reports.42', 1],
    ],
  );
  assert.equal(parsed, 1, 'attributes are read once, and only because a filter needs them');
  assert.equal(got[0]!.createdAt, 1000);
  assert.equal(deliveryIdOf('j', 'all', 42), 'j.all.42');
  assert.deepEqual(m.match({ id: 1, connection: 'nobody', size: 1, attributes: () => assert.fail('not needed') }, 0), []);
  // An unparsable message is routed on what could be read of it.
  assert.deepEqual(
    m.match({ id: 2, connection: 'j', size: 1, attributes: () => ({}) }, 0).map((d) => d.route),
    ['all'],
  );
});
