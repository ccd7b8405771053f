/**
 * Routes end to end: a real drain of a real Dovecot mailbox, webhooks to real HTTP receivers on
 * 127.0.0.1. Every message reaches every matching route (and no other), signed, with one stable
 * idempotency key, in mailbox order; failures are retried, dead-lettered, listed and replayed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDovecot, type DovecotInstance } from '../harness/dovecot.js';
import { makeWorkspace, runCli, spawnCli, imapConnection } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { startWebhookReceiver, waitFor, type ReceivedRequest } from '../harness/webhook-receiver.js';

let dovecot: DovecotInstance;
before(async () => {
  dovecot = await startDovecot();
});
after(async () => {
  await dovecot?.stop();
});

/** Message i's subject number ("Report 12 urgent" → 12). */
function num(r: ReceivedRequest): number {
  return Number(/^Report (\d+)/.exec(r.body.message.Subject)?.[1]);
}

/** Distinct idempotency keys per message, over the requests given. */
function keysPerMessage(reqs: ReceivedRequest[]): Map<number, Set<string>> {
  const out = new Map<number, Set<string>>();
  for (const r of reqs) {
    const s = out.get(num(r)) ?? new Set<string>();
    s.add(r.key);
    out.set(num(r), s);
  }
  return out;
}

const FAST_RETRY = { baseMs: 50, maxMs: 200 };

test('every message reaches every matching route once per key, signed, with SPEC attribute names; a filter excludes', async () => {
  const user = await dovecot.createUser();
  const mail: Buffer[] = [];
  for (let i = 0; i < 30; i++) {
    mail.push(
      makeMessage(i, {
        tag: i % 3 === 0 ? 'urgent' : undefined,
        bodyBytes: 3000,
        // A small attachment (inlined), a large one (a reference), or none.
        attachmentBytes: i % 10 === 1 ? 5000 : i % 10 === 2 ? 400_000 : 0,
      }),
    );
  }
  await dovecot.loadMaildir(user.username, mail);
  const all = await startWebhookReceiver({ secret: 'all-secret' });
  const urgent = await startWebhookReceiver({ secret: 'urgent-secret' });
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user)],
    deliveryRetry: FAST_RETRY,
    routes: [
      { name: 'all', connection: 'journal', bus: 0, scenario: [{ action: 'archive' }, { action: 'webhook', url: all.url, secret: 'all-secret', headers: { Authorization: 'Bearer t0ken' } }] },
      {
        name: 'urgent',
        connection: 'journal',
        bus: 1,
        filter: { subject: 'URGENT' },
        scenario: [{ action: 'webhook', url: urgent.url, secret: { env: 'URGENT_SECRET' }, inlineAttachmentsUpTo: 0 }],
      },
      { name: 'nothing', connection: 'journal', bus: 2, filter: { match: 'regex', from: '^nobody@' }, scenario: [{ action: 'webhook', url: urgent.url }] },
    ],
  });
  try {
    const env = { URGENT_SECRET: 'urgent-secret' };
    const r = await runCli(['drain', '--json'], ws, env);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { taken: number; routes: Record<string, { delivered: number; dead: number; failed: number }> };
    assert.equal(summary.taken, 30);
    assert.deepEqual(summary.routes, {
      all: { delivered: 30, dead: 0, retries: 0, failed: 0 },
      urgent: { delivered: 10, dead: 0, retries: 0, failed: 0 },
      nothing: { delivered: 0, dead: 0, retries: 0, failed: 0 },
    });

    assert.equal(all.requests.length, 30);
    assert.deepEqual([...keysPerMessage(all.requests).keys()].sort((a, b) => a - b), Array.from({ length: 30 }, (_, i) => i));
    assert.deepEqual(
      urgent.requests.map(num).sort((a, b) => a - b),
      [0, 3, 6, 9, 12, 15, 18, 21, 24, 27],
      'the filter let exactly the urgent ones through',
    );
    for (const [recv, route, secret] of [
      [all, 'all', true],
      [urgent, 'urgent', true],
    ] as const) {
      for (const q of recv.requests) {
        assert.ok(q.signatureOk === secret, `signature of ${q.key}`);
        assert.equal(q.headers['content-type'], 'application/json');
        assert.equal(q.attempt, 1);
        assert.equal(q.body.route, route);
        assert.equal(q.body.connection, 'journal');
        assert.match(q.body.deliveryId, new RegExp(`^journal\\.${route}\\.\\d+$`));
        // archive is step 0 of `all`, so its webhook is step 1.
        assert.equal(q.key, `${q.body.deliveryId}.${route === 'all' ? 1 : 0}`);
        const m = q.body.message;
        for (const k of ['From', 'To', 'Cc', 'Bcc', 'Subject', 'ReceivedDate', 'GlobalMessageId', 'InReplyTo', 'References', 'TextBody', 'HtmlBody', 'Attachments', 'CustomHeaders', 'Source', 'ArchiveId']) {
          assert.ok(k in m, `message.${k} is sent`);
        }
        assert.match(String((m.From as { Address: string }).Address), /^sender\d+@example\.test$/);
        assert.match(String(m.TextBody), /quarterly|revenue|board/);
        assert.deepEqual(Object.keys(m.Source).sort(), ['Connection', 'Mailbox', 'Uid', 'UidValidity']);
        assert.match(m.ArchiveId, /^[0-9a-f]{64}$/);
        assert.equal(m.ArchiveId, createHash('sha256').update(mail[num(q)]!).digest('hex'), 'ArchiveId is the SHA-256 of the raw message');
      }
    }
    assert.equal(all.requests[0]!.headers.authorization, 'Bearer t0ken');
    // Mailbox order within the route.
    const uids = all.requests.map((q) => q.body.message.Source.Uid!);
    assert.deepEqual(uids, [...uids].sort((a, b) => a - b));
    // Attachments: inline up to the limit (base64 of the bytes whose hash is Sha256), else a reference.
    let inline = 0;
    let refs = 0;
    for (const q of [...all.requests, ...urgent.requests]) {
      for (const a of q.body.message.Attachments) {
        if (typeof a.Content === 'string') {
          inline++;
          assert.equal(createHash('sha256').update(Buffer.from(a.Content, 'base64')).digest('hex'), a.Sha256);
          assert.equal(q.body.route, 'all');
        } else {
          refs++;
          assert.deepEqual(a.Content, { Reference: { ArchiveId: q.body.message.ArchiveId, Sha256: a.Sha256 } });
        }
      }
    }
    assert.equal(inline, 3, 'the three 5 kB attachments of route all');
    assert.ok(refs >= 3 + 1, 'the large ones, and every one of route urgent (limit 0)');

    const list = await runCli(['deliveries', 'list', '--json', '--state', 'done'], ws, env);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stdout.trim().split('\n').length, 40);
    const stats = JSON.parse((await runCli(['stats', '--json'], ws, env)).stdout) as { deliveries: Record<string, { done: number }> };
    assert.equal(stats.deliveries.all?.done, 30);

    // A second drain finds nothing new and sends nothing again.
    const again = await runCli(['drain', '--json'], ws, env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(all.requests.length, 30);
  } finally {
    await all.close();
    await urgent.close();
    ws.cleanup();
  }
});

test('pipeline 1: a receiver that is down, then answers 503, gets everything once it is back, in order even across retries, one key per message', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, Array.from({ length: 20 }, (_, i) => makeMessage(i, { bodyBytes: 2000 })));
  const recv = await startWebhookReceiver({ secret: 's' });
  await recv.down();
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user, { idle: true })],
    deliveryRetry: FAST_RETRY,
    routes: [{ name: 'hook', connection: 'journal', scenario: [{ action: 'webhook', url: recv.url, secret: 's', maxAttempts: 1000, pipeline: 1 }] }],
  });
  const child = spawnCli(['start'], ws);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    // Down: connection refused for a while.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(recv.requests.length, 0);
    // Back, but failing: 503 for the first 10 requests, then every 4th request also fails.
    recv.answer((_, i) => (i < 10 || i % 4 === 0 ? { status: 503 } : { status: 200 }));
    await recv.up();
    await waitFor(() => new Set(recv.accepted().map(num)).size === 20, 30_000, `all 20 accepted (stderr: ${stderr})`);
    const keys = keysPerMessage(recv.requests);
    for (const [n, k] of keys) assert.equal(k.size, 1, `message ${n} was sent under ${[...k].join(', ')}`);
    // Mailbox order: the accepted ones come in UID order, and nothing of message N+1 is sent
    // while message N is not accepted.
    const accepted = recv.accepted().map((q) => q.body.message.Source.Uid!);
    assert.deepEqual(accepted, [...accepted].sort((a, b) => a - b));
    let highestAccepted = 0;
    for (const q of recv.requests) {
      const uid = q.body.message.Source.Uid!;
      assert.ok(uid <= highestAccepted + 1 || uid === highestAccepted + 1, `UID ${uid} sent before UID ${highestAccepted + 1} was accepted`);
      if (q.status === 200) highestAccepted = Math.max(highestAccepted, uid);
    }
    const first = recv.requests[0]!;
    const retries = recv.requests.filter((q) => q.key === first.key).map((q) => q.attempt);
    assert.ok(retries.length > 1 && retries.every((a, i) => i === 0 || a > retries[i - 1]!), `attempt numbers grow: ${retries.join(',')}`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await recv.close();
    ws.cleanup();
  }
});

test('pipelined (pipeline 4): first attempts arrive in mailbox order, a retry is overtaken by 1 to pipeline - 1 later messages, each accepted once per key', async () => {
  const user = await dovecot.createUser();
  const N = 60;
  await dovecot.loadMaildir(user.username, Array.from({ length: N }, (_, i) => makeMessage(i, { bodyBytes: 1500 })));
  const recv = await startWebhookReceiver({ secret: 's' });
  // The first attempt of two messages fails; and every answer waits a little, so several
  // requests are on their way at once.
  const failFirst = new Set([7, 30]);
  recv.answer((q) => (q.attempt === 1 && failFirst.has(num(q)) ? { status: 503, delayMs: 2 } : { status: 200, delayMs: 2 }));
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user)],
    deliveryRetry: FAST_RETRY,
    routes: [{ name: 'hook', connection: 'journal', scenario: [{ action: 'webhook', url: recv.url, secret: 's', pipeline: 4 }] }],
  });
  try {
    const r = await runCli(['drain', '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!) as { routes: Record<string, { delivered: number; retries: number }> };
    assert.equal(summary.routes.hook!.delivered, N);
    assert.equal(summary.routes.hook!.retries, 2);
    assert.equal(new Set(recv.accepted().map(num)).size, N);
    for (const [n, k] of keysPerMessage(recv.requests)) assert.equal(k.size, 1, `message ${n} was sent under ${[...k].join(', ')}`);
    assert.ok(recv.requests.every((q) => q.signatureOk));
    // Every first attempt in mailbox (UID) order, as the receiver read them off the connection.
    const first = recv.requests.filter((q) => q.attempt === 1).map((q) => q.body.message.Source.Uid!);
    assert.equal(first.length, N);
    assert.deepEqual(first, [...first].sort((a, b) => a - b));
    // A retried message arrives after the later ones already on their way (so there were some:
    // the window is used), at most pipeline - 1 = 3 of them.
    const uids = recv.requests.map((q) => q.body.message.Source.Uid!);
    for (const q of recv.requests.filter((x) => x.attempt === 2)) {
      const uid = q.body.message.Source.Uid!;
      const at = recv.requests.indexOf(q);
      const overtaken = new Set(uids.slice(0, at).filter((u) => u > uid));
      assert.ok(overtaken.size >= 1 && overtaken.size <= 3, `UID ${uid} was retried after ${overtaken.size} later messages: ${[...overtaken].join(',')}`);
    }
  } finally {
    await recv.close();
    ws.cleanup();
  }
});

test('a 400 is dead-lettered at once, a 503 after maxAttempts; both listed, and replayed once the receiver is fixed', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, Array.from({ length: 4 }, (_, i) => makeMessage(i, { bodyBytes: 1000 })));
  const refusing = await startWebhookReceiver();
  const failing = await startWebhookReceiver();
  refusing.answer(() => ({ status: 400 }));
  failing.answer(() => ({ status: 503 }));
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user)],
    deliveryRetry: FAST_RETRY,
    routes: [
      { name: 'refused', connection: 'journal', bus: 0, scenario: [{ action: 'webhook', url: refusing.url }] },
      { name: 'flaky', connection: 'journal', bus: 1, scenario: [{ action: 'webhook', url: failing.url, maxAttempts: 3 }] },
    ],
  });
  try {
    const r = await runCli(['drain', '--json'], ws);
    // Dead letters are a failure of the drain (SPEC: non-zero exit), said in one line.
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^mailsluice: DELIVERIES_DEAD: 8 deliveries were dead-lettered \(refused: 4, flaky: 4\)/m);
    const summary = JSON.parse(r.stdout) as { routes: Record<string, { delivered: number; dead: number; failed: number }> };
    assert.deepEqual(summary.routes.refused, { delivered: 0, dead: 4, retries: 0, failed: 0 });
    assert.deepEqual(summary.routes.flaky, { delivered: 0, dead: 4, retries: 8, failed: 0 });
    assert.equal(refusing.requests.length, 4);
    assert.equal(failing.requests.length, 12);

    const dead = await runCli(['deliveries', 'list', '--state', 'dead', '--json'], ws);
    assert.equal(dead.code, 0, dead.stderr);
    const rows = dead.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; route: string; attempts: number; lastError: string });
    assert.equal(rows.length, 8);
    assert.ok(rows.filter((x) => x.route === 'refused').every((x) => x.attempts === 1 && x.lastError.startsWith('ACTION_REJECTED')));
    assert.ok(rows.filter((x) => x.route === 'flaky').every((x) => x.attempts === 3 && x.lastError.startsWith('ACTION_RECEIVER_ERROR')));
    const human = await runCli(['deliveries', 'list', '--state', 'dead', '--route', 'refused'], ws);
    assert.match(human.stdout, /journal\.refused\.\d+ +dead/);

    // Fixed: replay one by id, then the rest of the route, then everything.
    refusing.answer(() => ({ status: 204 }));
    failing.answer(() => ({ status: 200 }));
    const one = rows.find((x) => x.route === 'refused')!.id;
    assert.equal((await runCli(['deliveries', 'retry', one], ws)).code, 0);
    const unknown = await runCli(['deliveries', 'retry', 'journal.refused.999'], ws);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /DELIVERY_NOT_FOUND/);
    assert.equal((await runCli(['deliveries', 'retry', '--all-dead', '--route', 'refused'], ws)).code, 0);
    assert.equal((await runCli(['deliveries', 'retry', '--all-dead'], ws)).code, 0);
    const again = await runCli(['drain', '--json'], ws);
    assert.equal(again.code, 0, again.stderr);
    const s2 = JSON.parse(again.stdout) as { routes: Record<string, { delivered: number }> };
    assert.equal(s2.routes.refused!.delivered, 4);
    assert.equal(s2.routes.flaky!.delivered, 4);
    // The replay used the same keys as the first tries.
    for (const recv of [refusing, failing]) for (const [, k] of keysPerMessage(recv.requests)) assert.equal(k.size, 1);
    // The archive keeps no bodies and the hand-off was used up by the first tries: the replay
    // parsed the message again for them, so the receiver gets the same text as on the first tries.
    for (const recv of [refusing, failing]) {
      const byKey = new Map<string, Set<string>>();
      for (const q of recv.requests) byKey.set(q.key, (byKey.get(q.key) ?? new Set()).add(String(q.body.message.TextBody)));
      for (const [key, texts] of byKey) {
        assert.equal(texts.size, 1, `${key} was sent with different bodies: ${[...texts].map((t) => t.slice(0, 40)).join(' | ')}`);
        assert.ok([...texts][0]!.length > 0, `${key} was sent without its TextBody`);
      }
    }
    const left = await runCli(['deliveries', 'list', '--state', 'dead', '--json'], ws);
    assert.equal(left.stdout.trim(), '');
  } finally {
    await refusing.close();
    await failing.close();
    ws.cleanup();
  }
});

test('a script route runs the module (path relative to the config) and its response is recorded on the delivery', async () => {
  const user = await dovecot.createUser();
  await dovecot.loadMaildir(user.username, Array.from({ length: 3 }, (_, i) => makeMessage(i, { bodyBytes: 500 })));
  const ws = makeWorkspace();
  // Readable by the user scripts run as when the tests run as root (mkdtemp makes it 0700).
  chmodSync(ws.dir, 0o755);
  writeFileSync(
    join(ws.dir, 'tag.mjs'),
    `export async function handle(message, ctx) {
       if (!ctx.idempotencyKey.endsWith('.0')) throw new Error('unexpected key ' + ctx.idempotencyKey);
       return message.Subject.startsWith('Report 1') ? { addFlags: ['$Tagged'], moveTo: 'Tagged' } : undefined;
     }\n`,
  );
  ws.writeConfig({
    connections: [imapConnection(dovecot, user, { deletePolicy: 'leave' })],
    routes: [{ name: 'tag', connection: 'journal', response: { addFlags: ['$Routed'] }, scenario: [{ action: 'script', module: './tag.mjs', timeoutMs: 5000 }] }],
  });
  try {
    const r = await runCli(['drain', '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { routes: Record<string, { delivered: number }> }).routes.tag!.delivered, 3);
    const list = await runCli(['deliveries', 'list', '--json'], ws);
    const rows = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; state: string; response: unknown; messageId: number });
    assert.deepEqual(
      rows.map((x) => [x.state, x.response]),
      [
        ['done', { addFlags: ['$Routed'] }],
        ['done', { addFlags: ['$Tagged'], moveTo: 'Tagged' }],
        ['done', { addFlags: ['$Routed'] }],
      ],
    );
  } finally {
    ws.cleanup();
  }
});

test('a drain with many deliveries in flight at once prints no warning of its own (a wide window is by design, not a leak)', async () => {
  const user = await dovecot.createUser();
  const N = 200;
  await dovecot.loadMaildir(user.username, Array.from({ length: N }, (_, i) => makeMessage(i, { bodyBytes: 1500 })));
  const recv = await startWebhookReceiver();
  // Slow enough answers that the window fills.
  recv.answer(() => ({ status: 200, delayMs: 5 }));
  const ws = makeWorkspace({
    connections: [imapConnection(dovecot, user)],
    routes: [
      { name: 'wide', connection: 'journal', scenario: [{ action: 'webhook', url: recv.url, pipeline: 16 }] },
      { name: 'plain', connection: 'journal', scenario: [{ action: 'webhook', url: recv.url }] },
    ],
  });
  try {
    const r = await runCli(['drain', '--json'], ws);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(recv.accepted().length, 2 * N);
    // Node's leak warning (MaxListenersExceededWarning) or any other: an operator reads the
    // drain's stderr for what went wrong, and there was nothing.
    assert.doesNotMatch(r.stderr, /Warning/, r.stderr);
  } finally {
    await recv.close();
    ws.cleanup();
  }
});
