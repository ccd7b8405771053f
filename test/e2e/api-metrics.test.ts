/**
 * Issue 14's metrics contract, end to end: a real `start` drains a real Dovecot mailbox and
 * delivers through a webhook route to a real receiver; `GET /metrics` then speaks the
 * Prometheus text format (checked line by line), shows the messages taken by the connection
 * (`connection="journal"`), the parse backlog at 0, the route's deliveries and latencies, and
 * the failures by code of a connection whose password is wrong;
 * without a token it is 401, unless `api.metricsOpen` opens it, and after a restart the taken
 * count (since the archive began) stays.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, makeWorkspace, REPO_ROOT, runCli } from '../harness/cli.js';
import { freePort } from '../harness/free-port.js';
import { makeMessage } from '../harness/messages.js';
import { startWebhookReceiver } from '../harness/webhook-receiver.js';
import { callApi, createToken, startService } from '../harness/api-client.js';

const dovecot = dovecotPerFile();

/** One sample line: `name{label="value",…} value`, the value a Go-style float. */
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*,?)?\})? (-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|\+Inf|-Inf|NaN))( -?\d+)?$/;

/**
 * Parses the exposition text strictly (format 0.0.4): every line a HELP, a TYPE or a sample;
 * every sample of a family whose TYPE came first; each family's TYPE once. Returns the samples
 * by their series (`name{labels}` as written).
 */
function parseExposition(text: string): Map<string, number> {
  assert.ok(text.endsWith('\n'), 'the text ends with a line feed');
  const types = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        assert.match(meta[3]!, /^(counter|gauge|histogram|summary|untyped)$/, line);
        assert.ok(!types.has(meta[2]!), `TYPE of ${meta[2]} given twice`);
        types.set(meta[2]!, meta[3]!);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a sample line: ${JSON.stringify(line)}`);
    const name = m[1]!;
    assert.ok(name.startsWith('mailsluice_'), `series ${name} is not named mailsluice_…`);
    const family = [...types.keys()].find((f) => name === f || (/_(bucket|sum|count)$/.test(name) && name.replace(/_(bucket|sum|count)$/, '') === f));
    assert.ok(family, `sample ${name} before its TYPE`);
    samples.set(`${name}${m[2] ?? ''}`, Number(m[4]));
  }
  return samples;
}

async function scrape(base: string, token?: string): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(`${base}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

test('start: /metrics shows the N messages taken, the parse backlog at 0, the M deliveries of a webhook route; 401 without a token unless metricsOpen', async () => {
  const N = 6;
  const user = await dovecot.createUser();
  const recv = await startWebhookReceiver({ secret: 's' });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const config = {
    connections: [imapConnection(dovecot, user)],
    api: { listen: `127.0.0.1:${port}` },
    routes: [{ name: 'hook', connection: 'journal', scenario: [{ action: 'webhook', url: recv.url, secret: 's' }] }],
  };
  const ws = makeWorkspace(config);
  let service: Awaited<ReturnType<typeof startService>> | undefined;
  try {
    // The archive made by a drain of the empty mailbox, so a token can be made before `start`.
    const made = await runCli(['drain'], ws);
    assert.equal(made.code, 0, made.stderr);
    const token = await createToken(ws, 'prometheus', 'viewer');
    await dovecot.loadMaildir(user.username, Array.from({ length: N }, (_, i) => makeMessage(i, { bodyBytes: 800 })));
    // Beside it, a connection whose password is wrong: its failures are counted by code.
    ws.writeConfig({ ...config, connections: [...config.connections, imapConnection(dovecot, { ...user, password: 'wrong' }, { name: 'broken' })] });
    const startedAt = Date.now();
    service = await startService(ws, base);

    // Until the drain, the parse and the deliveries are through.
    let last: Map<string, number> = new Map();
    let text = '';
    const until = Date.now() + 60_000;
    for (;;) {
      const r = await scrape(base, token);
      assert.equal(r.status, 200, r.text);
      text = r.text;
      last = parseExposition(text);
      const done = last.get('mailsluice_connection_messages_taken_total{connection="journal"}') === N && last.get('mailsluice_parse_backlog_messages') === 0 && last.get('mailsluice_route_deliveries{route="hook",state="done"}') === N;
      if (done) break;
      assert.ok(Date.now() < until, `never reached ${N} taken, 0 unparsed and ${N} delivered; last scrape:\n${text}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(recv.accepted().length, N, 'the receiver accepted every delivery');
    // The status of the drained connection: nothing left on the server, N taken within the minute.
    const status = await callApi(`${base}/api/v1/connections/journal/status`, token);
    assert.equal(status.status, 200, status.raw);
    assert.equal(status.body.backlog, 0, 'the mailbox is empty');
    // All N were taken since the start; within a minute of it the rate counts them all.
    if (Date.now() - startedAt < 55_000) assert.equal(status.body.rateLastMinute, Math.round((N / 60) * 100) / 100, `${N} messages taken within the last minute`);
    assert.deepEqual((status.body.folders as Array<{ backlog: number }>).map((f) => f.backlog), [0]);

    // A few lines exactly as Prometheus reads them.
    const lines = new Set(text.split('\n'));
    for (const line of [
      '# TYPE mailsluice_connection_messages_taken_total counter',
      `mailsluice_connection_messages_taken_total{connection="journal"} ${N}`,
      `mailsluice_connection_run_messages_taken_total{connection="journal"} ${N}`,
      '# TYPE mailsluice_parse_backlog_messages gauge',
      'mailsluice_parse_backlog_messages 0',
      '# TYPE mailsluice_connection_backlog gauge',
      'mailsluice_connection_backlog{connection="journal"} 0',
      `mailsluice_archive_messages ${N}`,
      `mailsluice_route_deliveries{route="hook",state="dead"} 0`,
      '# TYPE mailsluice_route_delivery_latency_seconds histogram',
    ]) {
      assert.ok(lines.has(line), `missing line ${JSON.stringify(line)} in:\n${text}`);
    }
    assert.ok((last.get('mailsluice_connection_bytes_taken_total{connection="journal"}') ?? 0) > N * 800, 'bytes taken');
    assert.equal(last.get('mailsluice_connection_state{connection="journal",state="stopped"}'), 0);
    assert.equal((last.get('mailsluice_connection_state{connection="journal",state="waiting"}') ?? 0) + (last.get('mailsluice_connection_state{connection="journal",state="draining"}') ?? 0), 1, 'one runner, waiting or draining');
    assert.ok((last.get('mailsluice_connection_last_success_age_seconds{connection="journal"}') ?? -1) >= 0, 'seconds since the last successful cycle');
    assert.ok([...last.keys()].some((k) => k.startsWith('mailsluice_process_cpu_seconds_total')), 'process metrics');
    const brokenErrors = [...last].filter(([k]) => k.startsWith('mailsluice_connection_errors_total{connection="broken",code="'));
    assert.ok(brokenErrors.length > 0 && brokenErrors.every(([, n]) => n >= 1), `the broken connection's failures by code:\n${text}`);
    assert.equal([...last.keys()].filter((k) => k.startsWith('mailsluice_connection_errors_total{connection="journal"')).length, 0, 'no failure of journal');
    assert.equal(last.get('mailsluice_connection_last_success_age_seconds{connection="broken"}'), undefined, 'broken never had a successful cycle');

    // The latencies come from the dispatcher thread in batches, twice a second.
    const latencyDeadline = Date.now() + 10_000;
    while ((last.get('mailsluice_route_delivery_latency_seconds_count{route="hook"}') ?? 0) < N) {
      assert.ok(Date.now() < latencyDeadline, `the latency histogram never counted ${N}:\n${text}`);
      await new Promise((r) => setTimeout(r, 200));
      text = (await scrape(base, token)).text;
      last = parseExposition(text);
    }
    assert.equal(last.get('mailsluice_route_delivery_latency_seconds_bucket{le="+Inf",route="hook"}'), N, text);
    assert.equal(last.get('mailsluice_route_deliveries_done_total{route="hook"}'), N);

    // The sample dashboard asks only for series the service has.
    const dashboard = readFileSync(join(REPO_ROOT, 'docs', 'grafana-dashboard.json'), 'utf8');
    const served = new Set([...last.keys()].map((k) => k.replace(/\{.*$/, '')));
    const asked = [...new Set([...dashboard.matchAll(/mailsluice_[a-z0-9_]+/g)].map((m) => m[0]))];
    assert.deepEqual(asked.filter((n) => !served.has(n)), [], 'series of docs/grafana-dashboard.json missing from /metrics');

    const started = process.hrtime.bigint();
    const timed = await scrape(base, token);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    console.log(`one scrape of /metrics: ${ms.toFixed(1)} ms over HTTP, ${timed.text.length} bytes, ${timed.text.split('\n').length} lines (archive of ${N} messages)`);
    assert.match(timed.type ?? '', /^text\/plain; version=0\.0\.4/);

    const anonymous = await scrape(base);
    assert.equal(anonymous.status, 401);
    assert.equal((JSON.parse(anonymous.text) as { code: string }).code, 'API_UNAUTHORIZED');
    await service.stop();
    service = undefined;

    // Opened to a scraper: no token needed; taken since the archive began stays N after a restart.
    ws.writeConfig({ ...config, api: { listen: `127.0.0.1:${port}`, metricsOpen: true } });
    service = await startService(ws, base);
    const open = await scrape(base);
    assert.equal(open.status, 200, open.text);
    const after = parseExposition(open.text);
    assert.equal(after.get('mailsluice_connection_messages_taken_total{connection="journal"}'), N);
    assert.equal(after.get(`mailsluice_route_deliveries{route="hook",state="done"}`), N);
  } finally {
    await service?.stop();
    await recv.close();
    ws.cleanup();
  }
});

test('the adapter: a connection or route gone from the source is gone from the text; concurrent scrapes each get whole text', async () => {
  const { createPrometheusMetrics } = await import('../../src/adapters/metrics-prometheus/index.js');
  let names = ['a', 'b'];
  const metrics = createPrometheusMetrics(
    {
      runners: () => names.flatMap((connection) => [0, 1].map((folder) => ({ connection, state: 'waiting', taken: 1, bytes: 10, errors: { SOURCE_AUTH_FAILED: folder }, lastSuccessAt: 1_000, backlog: 3 + folder }))),
      routes: () => ({}),
      archive: async () => ({ messages: 4, bytes: 40, blobs: 4, storedBytes: 30, unparsed: 0, unparsable: 0, journalMerged: 0, connections: Object.fromEntries(names.map((n) => [n, { messages: 2, bytes: 20, pendingActions: 0, journalMerged: 0 }])) }),
      unparsed: async () => 3,
      deliveries: async () => ({}),
      now: () => 11_000,
    },
    { processMetrics: false },
  );
  const [one, two] = await Promise.all([metrics.render(), metrics.render()]);
  for (const r of [one, two]) {
    const s = parseExposition(r.text);
    assert.equal(s.get('mailsluice_connection_messages_taken_total{connection="b"}'), 2);
    assert.equal(s.get('mailsluice_connection_errors_total{connection="a",code="SOURCE_AUTH_FAILED"}'), 1);
    assert.equal(s.get('mailsluice_connection_last_success_age_seconds{connection="a"}'), 10);
    assert.equal(s.get('mailsluice_parse_backlog_messages'), 3);
    assert.equal(s.get('mailsluice_connection_backlog{connection="a"}'), 7, "the backlog of a connection's runners (folders) summed");
  }
  names = ['a'];
  const after = parseExposition((await metrics.render()).text);
  assert.equal([...after.keys()].filter((k) => k.includes('connection="b"')).length, 0, 'b is gone');
  assert.equal(after.get('mailsluice_connection_messages_taken_total{connection="a"}'), 2, 'counters are set, not added up, scrape after scrape');
});

test('the dispatcher thread notes latencies from queued to done, per route, and forgets what was retried', async () => {
  const { tapLatency } = await import('../../src/app/dispatch-latency.js');
  type Bus = Parameters<typeof tapLatency>[0];
  const claimed = [
    { id: 'journal.hook.1', route: 'hook', createdAt: 1_000 },
    { id: 'journal.hook.2', route: 'hook', createdAt: 2_000 },
    { id: 'journal.other.3', route: 'other', createdAt: 1_000 },
  ];
  const bus = { claim: async () => claimed, doneMany: async () => undefined, retryLater: async () => undefined, nextDue: async () => 42 } as unknown as Bus;
  const tap = tapLatency(bus);
  assert.equal(tap.take(), null);
  await tap.bus.claim(1, {} as never, 10, 0);
  await tap.bus.retryLater('journal.other.3', 0, 1, 9_000, 'ACTION_NETWORK: refused');
  await tap.bus.doneMany([
    { id: 'journal.hook.1', at: 1_500, response: null },
    { id: 'journal.hook.2', at: 4_000, response: null },
    { id: 'journal.other.3', at: 5_000, response: null },
  ]);
  assert.deepEqual(tap.take(), { hook: [0.5, 2] });
  assert.equal(tap.take(), null, 'a batch is taken once');
  assert.equal(await tap.bus.nextDue(1, []), 42, 'other methods pass through');
});
