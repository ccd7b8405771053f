/**
 * IMAP settings, part 7: IDLE, with the service running (`mailsluice start`). With a poll
 * interval of ten minutes, only IDLE can explain a new message being archived within seconds; and
 * when the server silently stops notifying (the proxy drops every untagged `* N EXISTS` once the
 * client IDLEs), the safety poll must still archive it.
 *
 * The silent-server test sets the connection's idleSafetyPollMs to 10 s (default 60 s), so it
 * shows within seconds that the safety poll, not a notification, archived the message.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { type TestUser } from '../harness/dovecot.js';
import { dovecotPerFile } from '../harness/dovecot-per-file.js';
import { makeWorkspace, runCli, spawnCli, imapConnection, type Workspace } from '../harness/cli.js';
import { makeMessage } from '../harness/messages.js';
import { commandOf } from '../harness/imap-proxy.js';

const dovecot = dovecotPerFile();

/** Resolves with the ms it took until the user's INBOX is empty; rejects after `limitMs`. */
async function untilEmpty(user: TestUser, limitMs: number, child: ChildProcess, stderr: () => string): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < limitMs) {
    if (child.exitCode !== null) throw new Error(`the service exited early (${child.exitCode}):\n${stderr()}`);
    if ((await dovecot.messageCount(user.username)) === 0) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`mailbox not emptied within ${limitMs} ms; service stderr:\n${stderr()}`);
}

async function startService(ws: Workspace): Promise<{ child: ChildProcess; stderr: () => string; stop: () => Promise<number | null> }> {
  const child = spawnCli(['start'], ws);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  return {
    child,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const closed = once(child, 'close');
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const [code] = (await closed) as [number | null];
      clearTimeout(killer);
      return code;
    },
  };
}

async function archived(ws: Workspace): Promise<number> {
  const r = await runCli(['stats', '--json'], ws);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { messages: number }).messages;
}

describe('idle', { concurrency: true }, () => {
  test('idle: a new message is archived within ~2 s although the poll interval is 10 minutes; SIGTERM exits 0', async () => {
    const user = await dovecot.createUser();
    await dovecot.deliver(user.username, makeMessage(1, { tag: 'first' }));
    const proxy = await dovecot.proxy({ targetPort: dovecot.imapPort });
    const ws = makeWorkspace({ connections: [imapConnection({ host: proxy.host, imapPort: proxy.port, imapsPort: dovecot.imapsPort, caCertPath: dovecot.caCertPath }, user, { security: 'none', idle: true, pollIntervalMs: 600_000 })] });
    const svc = await startService(ws);
    try {
      await untilEmpty(user, 20_000, svc.child, svc.stderr);
      // Let the runner go back to waiting (IDLE is issued 100 ms after the last command).
      await new Promise((r) => setTimeout(r, 1000));
      for (let i = 0; i < 2; i++) {
        await dovecot.deliver(user.username, makeMessage(10 + i, { tag: 'pushed' }));
        const ms = await untilEmpty(user, 5000, svc.child, svc.stderr);
        assert.ok(ms < 2500, `archived after ${ms} ms`);
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.ok(proxy.commands(/^IDLE$/i).length >= 1, 'the client must IDLE');
      assert.equal(await svc.stop(), 0, `SIGTERM must stop the service cleanly:\n${svc.stderr()}`);
      assert.equal(await archived(ws), 3);
    } finally {
      await svc.stop();
      ws.cleanup();
    }
  });

  test('pollIntervalMs without idle: a new message waits for the next poll (10 minutes: still there after 3 s; 300 ms: archived at once)', async () => {
    for (const [pollIntervalMs, archivedSoon] of [
      [600_000, false],
      [300, true],
    ] as const) {
      const user = await dovecot.createUser();
      await dovecot.deliver(user.username, makeMessage(1, { tag: 'poll-first' }));
      const ws = makeWorkspace({ connections: [imapConnection(dovecot, user, { security: 'none', idle: false, pollIntervalMs })] });
      const svc = await startService(ws);
      try {
        await untilEmpty(user, 20_000, svc.child, svc.stderr);
        await new Promise((r) => setTimeout(r, 500));
        await dovecot.deliver(user.username, makeMessage(2, { tag: 'poll-second' }));
        if (archivedSoon) {
          const ms = await untilEmpty(user, 5000, svc.child, svc.stderr);
          assert.ok(ms < 3000, `archived after ${ms} ms with pollIntervalMs ${pollIntervalMs}`);
        } else {
          await new Promise((r) => setTimeout(r, 3000));
          assert.equal(await dovecot.messageCount(user.username), 1, 'with a 10-minute poll and no IDLE, nothing takes the new message yet');
        }
        assert.equal(await svc.stop(), 0, svc.stderr());
      } finally {
        await svc.stop();
        ws.cleanup();
      }
    }
  });

  test('idle with a server that silently stops notifying: the safety poll still archives the message', async () => {
    const user = await dovecot.createUser();
    await dovecot.deliver(user.username, makeMessage(1, { tag: 'first' }));
    // Once the client has sent IDLE on a connection, every untagged EXISTS is swallowed.
    const proxy = await dovecot.proxy({
      targetPort: dovecot.imapPort,
      dropServerLine: (line, conn) => conn.clientLines.some((l) => /^IDLE$/i.test(commandOf(l))) && /^\* \d+ EXISTS$/i.test(line),
    });
    const ws = makeWorkspace({ connections: [imapConnection({ host: proxy.host, imapPort: proxy.port, imapsPort: dovecot.imapsPort, caCertPath: dovecot.caCertPath }, user, { security: 'none', idle: true, pollIntervalMs: 600_000, idleSafetyPollMs: 10_000 })] });
    const svc = await startService(ws);
    try {
      await untilEmpty(user, 20_000, svc.child, svc.stderr);
      await new Promise((r) => setTimeout(r, 1000));
      await dovecot.deliver(user.username, makeMessage(2, { tag: 'unannounced' }));
      // The notification is swallowed: a few seconds later the message is still there.
      await new Promise((r) => setTimeout(r, 3000));
      assert.ok(proxy.connections.some((c) => c.dropped.length > 0), 'the proxy must have swallowed an EXISTS');
      assert.equal(await dovecot.messageCount(user.username), 1, 'without the notification nothing happens at once');
      // The safety poll (10 s) finds it; allow some slack on a busy machine.
      await untilEmpty(user, 20_000, svc.child, svc.stderr);
      assert.equal(await svc.stop(), 0, svc.stderr());
      assert.equal(await archived(ws), 2);
    } finally {
      await svc.stop();
      ws.cleanup();
    }
  });
});
