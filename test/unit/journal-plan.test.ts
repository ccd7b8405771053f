/**
 * The bifurcation plan on its own (core/message/journal-merge.ts, `planSave`), over facts given
 * by hand: mail that is no journal report asks for no fact and is saved as it is; reports of one
 * original become one primary with the later one merged and its routes moved; the settle hold
 * follows the mail still waiting. The contract suites check the same through both store adapters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planSave, type JournalFacts, type JournalRow } from '../../src/core/message/journal-merge.js';
import { toParsedRecord } from '../../src/core/message/parsed-record.js';
import { journalReport, parsedOk } from '../contract/store-harness.js';

const NOW = 1_700_000_000_000;
const refuse: JournalFacts = {
  rows: () => assert.fail('no fact is needed'),
  unmerged: () => assert.fail('no fact is needed'),
  lastWaiting: () => assert.fail('no fact is needed'),
};

/** Facts over `rows` (the store before the save) and the ids still waiting to be parsed. */
function facts(rows: JournalRow[], waiting: number[]): JournalFacts & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    rows(ids) {
      asked.push(`rows ${ids.join(',')}`);
      return rows.filter((r) => ids.includes(r.id));
    },
    unmerged(connection, key) {
      asked.push(`unmerged ${connection} ${key.originalId}`);
      return rows.filter((r) => r.connection === connection && r.mergedInto === null && r.journal?.originalId === key.originalId && r.journal.sender === key.sender);
    },
    lastWaiting(_connection, except) {
      asked.push(`waiting ${except.join(',')}`);
      const left = waiting.filter((id) => !except.includes(id));
      return left.length > 0 ? Math.max(...left) : null;
    },
  };
}

const fresh = (id: number): JournalRow => ({ id, connection: 'c', parsed: false, from: null, subject: null, attributesJson: null, journal: null, mergedInto: null });
const delivery = (id: number, route: string) => ({ id: `c.${route}.${id}`, messageId: id, connection: 'c', route, bus: 0, createdAt: NOW });

test('mail that is no journal report: saved in id order as it is, due at once, no fact read', () => {
  const plan = planSave(
    [
      { id: 2, record: toParsedRecord(parsedOk()), deliveries: [delivery(2, 'all')] },
      { id: 1, record: toParsedRecord(parsedOk()) },
    ],
    refuse,
    500,
  );
  assert.deepEqual(plan.writes.map((w) => [w.kind, w.id]), [['parsed', 1], ['parsed', 2]]);
  assert.deepEqual(plan.deliveries.map((d) => [d.id, d.dueAt]), [['c.all.2', NOW]]);
  assert.deepEqual(plan.reindex, []);
});

test('two reports of one original: the earlier id is the primary, the later one merged into it with its routes', () => {
  const a = journalReport([{ Address: 'bob@contoso.example', Kind: 'To' }]);
  const b = journalReport([{ Address: 'dave@contoso.example', Kind: 'Bcc' }]);
  const f = facts([fresh(1), fresh(2), fresh(3)], [1, 2, 3]);
  const plan = planSave(
    [
      { id: 2, record: toParsedRecord(b), deliveries: [delivery(2, 'all'), delivery(2, 'dave')] },
      { id: 1, record: toParsedRecord(a), deliveries: [delivery(1, 'all')] },
    ],
    f,
    500,
  );
  assert.deepEqual(plan.writes.map((w) => [w.kind, w.id, w.kind === 'merged' ? w.into : null]), [
    ['parsed', 1, null],
    ['parsed', 2, null],
    ['merged', 2, 1],
    ['primary', 1, null],
  ]);
  const primary = plan.writes.find((w) => w.kind === 'primary');
  assert.ok(primary?.kind === 'primary' && /dave@contoso\.example/.test(primary.to), 'the merged recipients');
  // 3 still waits behind the group: the report's deliveries are held. The sibling's "all" moved to
  // the primary repeats the primary's own; the store inserts a delivery id once.
  assert.deepEqual(plan.deliveries.map((d) => [d.id, d.messageId, d.dueAt - d.createdAt]), [
    ['c.all.1', 1, 500],
    ['c.all.1', 1, 500],
    ['c.dave.1', 1, 500],
  ]);
  assert.deepEqual(plan.reindex.map((e) => e.id), [1]);
  assert.deepEqual(f.asked, ['rows 2,1', 'unmerged c merger@contoso.example', 'waiting 2,1']);
});

test('a report whose primary was saved before merges into it; nothing waits, nothing is held', () => {
  const a = journalReport([{ Address: 'bob@contoso.example', Kind: 'To' }]);
  const b = journalReport([{ Address: 'dave@contoso.example', Kind: 'Bcc' }]);
  const saved = toParsedRecord(a);
  const primary: JournalRow = { ...fresh(1), parsed: true, from: saved.from, subject: saved.subject, attributesJson: saved.attributesJson, journal: saved.journal! };
  const plan = planSave([{ id: 2, record: toParsedRecord(b), deliveries: [delivery(2, 'dave')] }], facts([primary, fresh(2)], [2]), 500);
  assert.deepEqual(plan.writes.map((w) => w.kind), ['parsed', 'merged', 'primary']);
  assert.deepEqual(plan.deliveries.map((d) => [d.id, d.dueAt]), [['c.dave.1', NOW]]);
});
