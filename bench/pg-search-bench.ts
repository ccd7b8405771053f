/**
 * PostgreSQL full-text search (ADR 0051): the search set's mail (bench/search-corpus.ts, parsed
 * by the real parser) saved in groups of 64 through `saveParsed` (which now writes each message's
 * tsvector in its transaction) into a fresh schema of the test server, then the median latency of
 * a word, a rare word, a phrase, a prefix, a word form, a sender, a word with a filter and a
 * count; and `saveParsed` of 64 plain results with one delivery each (ADR 0050's figure, before
 * search rows were written). Run: `node dist/bench/pg-search-bench.js [messages]` (20,000).
 */
import { performance } from 'node:perf_hooks';
import { createPostgresStore } from '../src/adapters/store-postgres/index.js';
import { parseToOutcome } from '../src/adapters/parser-postal-mime/index.js';
import { DEFAULT_PARSE_LIMITS } from '../src/core/message/limits.js';
import { parseSearchQuery } from '../src/core/search/query-language.js';
import type { ParseResult } from '../src/core/ports/parse-queue.js';
import { freshSchema } from '../test/harness/postgres.js';
import { parsedOk, taken } from '../test/contract/store-harness.js';
import { FIRST_SENDER, RARE_WORD, searchMessage } from './search-corpus.js';

const GROUP = 64;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p95 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)]!;
const ms = (x: number): string => `${x.toFixed(1)} ms`;

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 20_000);
  const schema = await freshSchema();
  const store = await createPostgresStore({ url: schema.url, schema: schema.schema, poolSize: 4, journalSettleMs: 0 });
  try {
    // ADR 0050's measure first, on the empty schema as then: 50 groups of 64 plain results, one delivery each.
    const plain: number[] = [];
    for (let g = 0; g < 50; g++) {
      const recs = Array.from({ length: GROUP }, (_, i) => taken('p', g * GROUP + i + 1, 1_000_000 + g * GROUP + i));
      await store.commitTaken(recs);
      const ids = (await store.listUnparsed(GROUP)).map((m) => m.id);
      const results: ParseResult[] = ids.map((id) => ({ id, outcome: parsedOk(), deliveries: [{ id: `p.all.${id}`, messageId: id, connection: 'p', route: 'all', bus: 0, createdAt: 1 }] }));
      const t = performance.now();
      await store.saveParsed(results);
      plain.push(performance.now() - t);
    }
    console.log(`saveParsed, 64 plain results + 1 delivery each, 50 groups: median ${ms(median(plain))}, p95 ${ms(p95(plain))}`);

    const corpus: number[] = [];
    for (let start = 0; start < count; start += GROUP) {
      const n = Math.min(GROUP, count - start);
      const recs = Array.from({ length: n }, (_, i) => taken('s', start + i + 1, start + i + 1));
      await store.commitTaken(recs);
      const ids = (await store.listUnparsed(GROUP)).map((m) => m.id);
      const results: ParseResult[] = [];
      for (const [k, id] of ids.entries()) results.push({ id, outcome: await parseToOutcome(Buffer.from(searchMessage(start + k, count)), DEFAULT_PARSE_LIMITS) });
      const t = performance.now();
      await store.saveParsed(results);
      corpus.push(performance.now() - t);
    }
    console.log(`saveParsed, 64 corpus messages (40-120 words), ${corpus.length} groups: median ${ms(median(corpus))}, p95 ${ms(p95(corpus))}`);
    await store.connection.query('VACUUM ANALYZE message_search', [], 'analyzing');
    await store.connection.query('ANALYZE messages', [], 'analyzing');

    const now = Date.now();
    const cases: Array<[string, string, Record<string, unknown>]> = [
      ['common word', 'report', {}],
      ['rare word', RARE_WORD, {}],
      ['word form', 'письмо', {}],
      ['phrase', '"quarterly budget"', {}],
      ['prefix', 'invoi*', {}],
      ['sender', `from:${FIRST_SENDER}`, {}],
      ['two words + has:attachment', 'budget payment has:attachment', {}],
      ['word, not another', 'invoice -payment', {}],
      ['common word, page 2', 'report', { beforeId: 'page2' }],
    ];
    for (const [name, text, extra] of cases) {
      const query = parseSearchQuery(text, { now })!;
      let beforeId: number | undefined;
      if (extra['beforeId']) beforeId = (await store.search({ query, limit: 50 })).at(-1)?.id;
      const times: number[] = [];
      let hits = 0;
      for (let k = 0; k < 21; k++) {
        const t = performance.now();
        hits = (await store.search({ query, limit: 50, beforeId })).length;
        times.push(performance.now() - t);
      }
      const counts: number[] = [];
      let total = '';
      for (let k = 0; k < 11; k++) {
        const t = performance.now();
        const c = await store.count({ query, limit: 10_000 }, 30);
        counts.push(performance.now() - t);
        total = `${c.total}${c.more ? '+' : ''}`;
      }
      console.log(`${name.padEnd(28)} ${text.padEnd(32)} search (50): median ${ms(median(times))} p95 ${ms(p95(times))} (${hits} hits) · count: median ${ms(median(counts))} (${total})`);
    }
  } finally {
    await store.close();
    await schema.drop();
  }
}

await main();
