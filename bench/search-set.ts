/**
 * The `search` data set (issue 17, "What good looks like"): an archive of many small messages
 * (1,000,000 by default; `--search N`), made fast by writing them as one mbox
 * (`search-corpus.ts`) and bringing that in with `mailsluice import` (timed from process start to
 * exit, which is also the indexing rate: the import ends once every message is parsed and
 * indexed), its size on disk, then `mailsluice start` with the API and, for a fixed set of queries
 * (a word, a phrase, `from:` with a date range, `has:attachment` and a word, a rare word, a very
 * common word, a Russian word form), {@link QUERY_RUNS} first pages of `GET /api/v1/messages?q=`
 * each, timed at the client: p50, p95 and p99. Queries alternate, so a burst of load on the shared
 * machine falls on all of them alike. Each query's hits are checked to be non-empty (the rare
 * word's: exactly the messages that hold it).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, makeWorkspace, runCli } from '../test/harness/cli.js';
import { freePort } from '../test/harness/free-port.js';
import { waitFor } from '../test/harness/webhook-receiver.js';
import { PROBE, runChild } from './child-measure.js';
import { log, MB, row, type Row } from './report.js';
import { FIRST_SENDER, RARE_EVERY, RARE_WORD, writeSearchMbox } from './search-corpus.js';
import { percentile } from './webhook-run.js';

/** First pages asked per query. */
export const QUERY_RUNS = 40;

/** The queries timed, by label. */
export function searchSetQueries(): Array<{ label: string; q: string }> {
  return [
    { label: 'word', q: 'budget' },
    { label: 'phrase', q: '"quarterly report"' },
    { label: 'from + date range', q: `from:${FIRST_SENDER} after:2024-01-01 before:2024-07-01` },
    { label: 'has:attachment + word', q: 'has:attachment invoice' },
    { label: 'rare word', q: RARE_WORD },
    { label: 'very common word', q: 'the' },
    { label: 'Russian word form', q: 'письмо' },
  ];
}

/** Bytes the files under `dir` take on disk (allocated blocks). */
function diskBytes(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((n, e) => {
    const p = join(dir, e.name);
    return n + (e.isDirectory() ? diskBytes(p) : e.isFile() ? statSync(p).blocks * 512 : 0);
  }, 0);
}

/** The API's answer to a search, as far as the bench reads it. */
interface SearchPage {
  hits: Array<{ id: number }>;
  total: number;
  more?: boolean;
}

/** The search set's rows: the import, then per query the API's latency. */
export async function searchSetRuns(count: number): Promise<Row[]> {
  const port = await freePort();
  const ws = makeWorkspace({ connections: [], api: { listen: `127.0.0.1:${port}` } });
  const rows: Row[] = [];
  try {
    const mbox = join(ws.dir, 'search.mbox');
    log(`[search] writing ${count} messages as mbox`);
    const rawBytes = await writeSearchMbox(mbox, count);
    log(`[search] mailsluice import of ${count} messages`);
    const imp = await runChild(process.execPath, ['--import', PROBE, BIN, 'import', mbox, '--label', 'bench', '--json', '--config', ws.configPath], { cwd: ws.dir, probe: true });
    if (imp.code !== 0) throw new Error(`mailsluice import failed (exit ${imp.code}): ${imp.stderr.trim().slice(-2000)}`);
    const dataBytes = diskBytes(ws.dataDir);
    rows.push(
      row('mailsluice-import-search-set', count, rawBytes, imp.wallMs, imp, {
        note: `import process wall time until every message was indexed: ${(count / (imp.wallMs / 1000)).toFixed(0)} msg/s; data directory ${(dataBytes / MB).toFixed(0)} MB on disk for ${(rawBytes / MB).toFixed(0)} MB of mail`,
        dataDirBytes: dataBytes,
      }),
    );
    const t = await runCli(['token', 'create', '--name', 'bench', '--role', 'auditor', '--json'], ws);
    if (t.code !== 0) throw new Error(`token create failed: ${t.stderr}`);
    const token = (JSON.parse(t.stdout) as { token: string }).token;
    const service = spawn(process.execPath, [BIN, 'start', '--config', ws.configPath], { cwd: ws.dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    service.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await waitFor(() => stderr.includes('"msg":"mailsluice started"'), 120_000, `the service to start (stderr: ${stderr.slice(-2000)})`);
      const base = `http://127.0.0.1:${port}/api/v1/messages?limit=50&q=`;
      const ask = async (q: string): Promise<{ ms: number; page: SearchPage }> => {
        const t0 = performance.now();
        const res = await fetch(base + encodeURIComponent(q), { headers: { authorization: `Bearer ${token}` } });
        const text = await res.text();
        const ms = performance.now() - t0;
        if (res.status !== 200) throw new Error(`search ${q}: HTTP ${res.status} ${text.slice(0, 500)}`);
        return { ms, page: JSON.parse(text) as SearchPage };
      };
      const queries = searchSetQueries();
      const times = new Map<string, number[]>(queries.map((q) => [q.label, []]));
      const totals = new Map<string, string>();
      // One untimed round: the page cache then holds what a service in use would.
      for (const q of queries) {
        const { page } = await ask(q.q);
        if (page.hits.length === 0) throw new Error(`search ${q.q} found nothing`);
        if (q.label === 'rare word' && page.total !== Math.ceil((count - 7) / RARE_EVERY)) throw new Error(`search ${q.q}: total ${page.total}`);
        totals.set(q.label, `${page.more ? 'more than ' : ''}${page.total}`);
      }
      for (let i = 0; i < QUERY_RUNS; i++) for (const q of queries) times.get(q.label)!.push((await ask(q.q)).ms);
      for (const q of queries) {
        const ms = times.get(q.label)!.sort((a, b) => a - b);
        const [p50, p95, p99] = [percentile(ms, 50), percentile(ms, 95), percentile(ms, 99)];
        rows.push(
          row('mailsluice-api-search', count, 0, p50, null, {
            note: `GET /api/v1/messages?q=${q.q} (${q.label}; total ${totals.get(q.label)}), first page of 50 with excerpts: p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms over ${QUERY_RUNS} runs`,
            p95Ms: p95,
            p99Ms: p99,
          }),
        );
      }
    } finally {
      service.kill('SIGTERM');
      if (service.exitCode === null) await once(service, 'exit');
    }
    return rows;
  } finally {
    ws.cleanup();
  }
}
