/**
 * The console's operations API (issue 15) against a running `start` and a real Dovecot:
 * `GET /api/v1/stats/throughput` counts per minute exactly the messages two connections drained
 * (by an earlier process: the archive's record survives a restart); `PATCH /api/v1/alerts/{rule}`
 * changes a rule in the configuration file with its comments kept, applies it live (the listing
 * shows the new threshold), is audited, answers 409 on a stale `If-Match`, 400 with the problem by
 * field, 404 for an unknown rule, and 403 to a viewer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { imapConnection, makeWorkspace, runCli } from '../harness/cli.js';
import { freePort } from '../harness/free-port.js';
import { makeMessage } from '../harness/messages.js';
import { callApi, createToken, send, startService, type Body, type RunningService } from '../harness/api-client.js';

const dovecot = dovecotPerFile();

const HOUR = 3_600_000;

type Series = { messages: number[]; bytes: number[] };
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

test('GET /api/v1/stats/throughput: the messages two connections drained, per minute and in total, from the archive after a restart', async () => {
  const a = await dovecot.createUser();
  const b = await dovecot.createUser();
  const sizes = { a: [0, 1, 2, 3, 4].map((i) => makeMessage(i, { bodyBytes: 500 })), b: [10, 11, 12].map((i) => makeMessage(i, { bodyBytes: 900 })) };
  await dovecot.loadMaildir(a.username, sizes.a);
  await dovecot.loadMaildir(b.username, sizes.b);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const ws = makeWorkspace({
    dataDir: './data',
    api: { listen: `127.0.0.1:${port}` },
    connections: [imapConnection(dovecot, a, { name: 'alpha', pollIntervalMs: HOUR }), imapConnection(dovecot, b, { name: 'beta', pollIntervalMs: HOUR })],
  });
  let service: RunningService | undefined;
  try {
    const before = Date.now();
    const drained = await runCli(['drain'], ws);
    assert.equal(drained.code, 0, drained.stderr);
    const after = Date.now();
    const viewer = await createToken(ws, 'ops', 'viewer');
    service = await startService(ws, base);

    const r = await callApi(`${base}/api/v1/stats/throughput?minutes=60`, viewer);
    assert.equal(r.status, 200, r.raw);
    assert.equal(r.body.minutes, 60);
    assert.equal(r.body.bucketSeconds, 60);
    const from = Date.parse(r.body.from as string);
    const to = Date.parse(r.body.to as string);
    assert.equal(to - from, 60 * 60_000);
    assert.equal(from % 60_000, 0, 'whole minutes');
    assert.ok(to > Date.now() - 1000 && to - 60_000 <= Date.now(), 'the last minute is the current one');
    const total = r.body.total as Series;
    assert.equal(total.messages.length, 60);
    assert.equal(sum(total.messages), 8, r.raw);
    const byName = Object.fromEntries((r.body.connections as Array<{ name: string } & Series>).map((c) => [c.name, c]));
    assert.deepEqual(Object.keys(byName), ['alpha', 'beta']);
    assert.equal(sum(byName.alpha!.messages), 5);
    assert.equal(sum(byName.beta!.messages), 3);
    const bytesOf = (ms: Uint8Array[]): number => ms.reduce((n, m) => n + m.length, 0);
    assert.equal(sum(byName.alpha!.bytes), bytesOf(sizes.a), 'bytes are the raw sizes');
    assert.equal(sum(total.bytes), bytesOf(sizes.a) + bytesOf(sizes.b));
    // The messages are in the minutes the drain ran in.
    const minuteOf = (i: number): number => from + i * 60_000;
    total.messages.forEach((n, i) => {
      if (n > 0) assert.ok(minuteOf(i) + 60_000 > before && minuteOf(i) <= after, `minute ${i} holds ${n} outside the drain`);
    });

    // A shorter window still holds them (the drain was just now); the bounds are checked.
    const one = await callApi(`${base}/api/v1/stats/throughput?minutes=2`, viewer);
    assert.equal(sum((one.body.total as Series).messages), 8, one.raw);
    assert.equal(sum(((await callApi(`${base}/api/v1/stats/throughput`, viewer)).body.total as Series).messages), 8, 'default: the last hour');
    for (const bad of ['0', '1441', 'x']) {
      const e = await callApi(`${base}/api/v1/stats/throughput?minutes=${bad}`, viewer);
      assert.equal(e.status, 400, `minutes=${bad}: ${e.raw}`);
      assert.equal(e.body.code, 'API_BAD_REQUEST');
    }
    assert.equal((await callApi(`${base}/api/v1/stats/throughput`)).status, 401);
  } finally {
    await service?.stop();
    ws.cleanup();
  }
});

/** The configuration with an alerts section, written by hand with comments. */
function commentedConfig(port: number, connection: Record<string, unknown>, hookUrl: string): string {
  return [
    '# mailsluice with alerts',
    'dataDir: ./data',
    'api:',
    `  listen: "127.0.0.1:${port}"`,
    'connections:',
    stringify([connection]).replace(/^/gm, '  ').trimEnd(),
    '',
    '# who hears about trouble',
    'alerts:',
    '  checkSeconds: 1',
    '  channels:',
    '    - name: ops_hook # the on-call webhook',
    '      type: webhook',
    `      url: ${hookUrl}`,
    '  rules:',
    '    # a mailbox no one drains',
    '    - name: silent_journal',
    '      kind: connection-silent',
    '      connection: journal',
    '      minutes: 10 # ten minutes of quiet',
    '      channels: [ops_hook]',
    '    - name: disk',
    '      kind: disk-space',
    '      channels: [ops_hook]',
    '',
  ].join('\n');
}

const COMMENTS = ['# mailsluice with alerts', '# who hears about trouble', '# the on-call webhook', '# a mailbox no one drains', '# ten minutes of quiet'];

test('PATCH /api/v1/alerts/{rule}: a threshold changed in the file with its comments kept, applied live and audited; 409 on a stale version, 400 by field, 404, and 403 to a viewer', async () => {
  const user = await dovecot.createUser();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const ws = makeWorkspace();
  writeFileSync(ws.configPath, commentedConfig(port, imapConnection(dovecot, user, { pollIntervalMs: HOUR }), 'http://127.0.0.1:9/alerts'));
  let service: RunningService | undefined;
  try {
    const drained = await runCli(['drain'], ws);
    assert.equal(drained.code, 0, drained.stderr);
    const admin = await createToken(ws, 'root', 'admin');
    const viewer = await createToken(ws, 'ops', 'viewer');
    const auditor = await createToken(ws, 'audit', 'auditor');
    service = await startService(ws, base);
    const url = (p: string): string => `${base}/api/v1${p}`;

    const listed = await send(url('/alerts'), viewer, 'GET');
    assert.equal(listed.status, 200, listed.raw);
    const silent = (listed.body.alerts as Body[]).find((x) => x.rule === 'silent_journal')!;
    assert.deepEqual(silent.settings, { connection: 'journal', minutes: 10 });
    assert.deepEqual((listed.body.alerts as Body[]).find((x) => x.rule === 'disk')!.settings, { freePercentBelow: 10 }, 'the default shown');
    const etag0 = listed.etag!;
    assert.match(etag0, /^"[0-9a-f]{64}"$/, 'the listing carries the file version');

    assert.equal((await send(url('/alerts/silent_journal'), viewer, 'PATCH', { minutes: 30 })).status, 403);
    assert.equal((await send(url('/alerts/silent_journal'), undefined, 'PATCH', { minutes: 30 })).status, 401);

    const changed = await send(url('/alerts/silent_journal'), admin, 'PATCH', { minutes: 30 }, etag0);
    assert.equal(changed.status, 200, changed.raw);
    assert.deepEqual(changed.body.alert, { rule: 'silent_journal', kind: 'connection-silent', enabled: true, channels: ['ops_hook'], settings: { connection: 'journal', minutes: 30 } });
    assert.deepEqual(changed.body.changed, ['minutes']);
    assert.equal(changed.body.applied, true, changed.raw);
    assert.equal(changed.etag, `"${changed.body.etag as string}"`);
    const text = readFileSync(ws.configPath, 'utf8');
    assert.match(text, /minutes: 30 # ten minutes of quiet/, 'the value replaced beside its comment');
    for (const c of COMMENTS) assert.ok(text.includes(c), `comment kept: ${c}\n${text}`);
    const live = (await send(url('/alerts'), viewer, 'GET')).body.alerts as Body[];
    assert.deepEqual(live.find((x) => x.rule === 'silent_journal')!.settings, { connection: 'journal', minutes: 30 }, 'applied live');

    // The version the first edit was made against is stale now.
    const stale = await send(url('/alerts/silent_journal'), admin, 'PATCH', { minutes: 40 }, etag0);
    assert.equal(stale.status, 409, stale.raw);
    assert.equal(stale.body.code, 'CONFIG_CONFLICT');
    assert.match(readFileSync(ws.configPath, 'utf8'), /minutes: 30 /, 'the stale edit changed nothing');

    // Problems by field, as config check names them.
    const bad = await send(url('/alerts/silent_journal'), admin, 'PATCH', { minutes: -1, channels: ['nowhere'] });
    assert.equal(bad.status, 400, bad.raw);
    assert.equal(bad.body.code, 'API_BAD_REQUEST');
    const fields = (bad.body.problems as Array<{ field: string; message: string }>).map((p) => p.field);
    assert.ok(fields.includes('minutes'), bad.raw);
    assert.match(readFileSync(ws.configPath, 'utf8'), /minutes: 30 /, 'a refused edit changed nothing');
    const disabled = await send(url('/alerts/disk'), admin, 'PATCH', { enabled: false, freePercentBelow: 5 });
    assert.equal(disabled.status, 200, disabled.raw);
    assert.deepEqual([(disabled.body.alert as Body).enabled, (disabled.body.alert as Body).settings], [false, { freePercentBelow: 5 }]);
    const missing = await send(url('/alerts/nope'), admin, 'PATCH', { minutes: 3 });
    assert.equal(missing.status, 404, missing.raw);
    assert.equal(missing.body.code, 'API_NOT_FOUND');

    const audit = await callApi(`${base}/api/v1/audit?limit=100`, auditor);
    const records = (audit.body.records as Body[]).filter((r) => r.action === 'config.alert.update');
    assert.ok(records.length >= 2, audit.raw);
    assert.ok(records.some((r) => JSON.stringify(r.detail).includes('"minutes"')), 'the keys changed are recorded');
  } finally {
    await service?.stop();
    ws.cleanup();
  }
});
