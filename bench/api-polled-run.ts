/**
 * The benchmark's polled run (issue 14, "What good looks like"): the management API must add no
 * measurable cost to the drain. The same small mailbox is drained by `mailsluice start` (the
 * service, API listening) twice per round, alternating: once with nobody calling the API, once
 * with a client that asks for the connection's status and for `/metrics` every second, as a
 * console and a Prometheus scraper would at once.
 *
 * Both are timed the same way, from the bench's side: from spawning the service to the moment the
 * mailbox's Maildir holds no message file any more (sampled every 10 ms), so the client is the
 * only difference. Both runs prepare their workspace identically before the clock starts: an
 * archive made by a drain of the empty mailbox, a viewer token, the mailbox loaded and opened
 * once. After each run the service is stopped and the archive is checked to hold every message.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import type { DovecotInstance } from '../test/harness/dovecot.js';
import { makeWorkspace, imapConnection, runCli, BIN } from '../test/harness/cli.js';
import { freePort } from '../test/harness/free-port.js';
import { RawImapClient } from './raw-imap-client.js';
import { percentile } from './webhook-run.js';

const PROBE = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'rss-probe.js')).href;

/** One `start` run until the mailbox is empty. */
export interface PolledRun {
  /** Spawn of the service to no message file left in the Maildir, ms. */
  emptyMs: number;
  /** Peak RSS of the service, MB (10^6 bytes). */
  peakRssMB: number | null;
  /** CPU seconds of the service (all threads), until it exited after the stop. */
  cpuSeconds: number | null;
  /** With the client: the status + metrics pairs answered while the mailbox drained, those that failed once the API was up, and the answer times. */
  polls?: { pairs: number; failures: number; statusP50Ms: number; statusP99Ms: number; metricsP50Ms: number; metricsP99Ms: number };
}

/** Message files in a Maildir (`cur/` and `new/`): what Dovecot holds, counted without a client. */
export function messageFiles(maildir: string): number {
  let n = 0;
  for (const sub of ['cur', 'new']) {
    const p = join(maildir, sub);
    if (existsSync(p)) n += readdirSync(p).length;
  }
  return n;
}

async function timed(url: string, token: string): Promise<number | null> {
  const t = performance.now();
  try {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    return res.ok ? performance.now() - t : null;
  } catch {
    return null;
  }
}

/**
 * Drains `messages` from a fresh user with `mailsluice start`, with or without the polling
 * client, and checks that the archive holds every message afterwards.
 */
export async function runStartDrain(d: DovecotInstance, messages: Buffer[], poll: boolean): Promise<PolledRun> {
  const user = await d.createUser();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const ws = makeWorkspace({
    connections: [imapConnection(d, user, { security: 'none', deletePolicy: 'delete-and-expunge' })],
    api: { listen: `127.0.0.1:${port}` },
  });
  const probeDir = mkdtempSync(join(tmpdir(), 'mailsluice-probe-'));
  try {
    // The archive (tokens live in it) and a viewer token, before the mailbox holds anything.
    const made = await runCli(['drain'], ws);
    if (made.code !== 0) throw new Error(`preparing the archive failed: ${made.stderr}`);
    const t = await runCli(['token', 'create', '--name', 'bench', '--role', 'viewer', '--json'], ws);
    if (t.code !== 0) throw new Error(`token create failed: ${t.stderr}`);
    const token = (JSON.parse(t.stdout) as { token: string }).token;
    await d.loadMaildir(user.username, messages);
    const warm = await RawImapClient.open({ host: d.host, port: d.imapPort, username: user.username, password: user.password });
    await warm.close();
    execFileSync('sync');
    const maildir = d.maildirOf(user.username);
    if (messageFiles(maildir) !== messages.length) throw new Error(`the Maildir holds ${messageFiles(maildir)} files, expected ${messages.length}`);

    const probeFile = join(probeDir, 'probe.json');
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--import', PROBE, BIN, 'start', '--config', ws.configPath], {
      cwd: ws.dir,
      env: { ...process.env, MAILSLUICE_BENCH_PROBE: probeFile },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = once(child, 'exit');
    let draining = true;
    const status: number[] = [];
    const metrics: number[] = [];
    let failures = 0;
    let up = false;
    // A client already polling when the service comes up, as a console left open would be.
    const poller = poll
      ? (async () => {
          while (draining) {
            const next = performance.now() + 1000;
            const [s, m] = await Promise.all([timed(`${base}/api/v1/connections/journal/status`, token), timed(`${base}/metrics`, token)]);
            // Refusals before the service listens are its start-up, not failures.
            if (s !== null && m !== null) up = true;
            else if (up) failures++;
            if (s !== null) status.push(s);
            if (m !== null) metrics.push(m);
            await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
          }
        })()
      : Promise.resolve();
    let emptyMs = 0;
    try {
      const deadline = t0 + 600_000;
      while (messageFiles(maildir) > 0) {
        if (child.exitCode !== null) throw new Error(`mailsluice start exited (${child.exitCode}) before the mailbox was empty: ${stderr.slice(-2000)}`);
        if (performance.now() > deadline) throw new Error('the mailbox was not empty after 10 minutes');
        await new Promise((r) => setTimeout(r, 10));
      }
      emptyMs = performance.now() - t0;
    } finally {
      draining = false;
      await poller;
      child.kill('SIGTERM');
      await exited;
    }
    if (child.exitCode !== 0) throw new Error(`mailsluice start exited ${child.exitCode} after SIGTERM: ${stderr.slice(-2000)}`);
    const stats = await runCli(['stats', '--json'], ws);
    const archived = (JSON.parse(stats.stdout) as { messages: number }).messages;
    if (archived !== messages.length) throw new Error(`the archive holds ${archived} messages, expected ${messages.length}`);
    let peakRssMB: number | null = null;
    let cpuSeconds: number | null = null;
    try {
      const p = JSON.parse(readFileSync(probeFile, 'utf8')) as { vmHwmKb: number; userCpuMs: number; systemCpuMs: number };
      peakRssMB = (p.vmHwmKb * 1024) / 1_000_000;
      cpuSeconds = (p.userCpuMs + p.systemCpuMs) / 1000;
    } catch {
      // the probe wrote nothing: the figures stay unknown
    }
    const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
    return {
      emptyMs,
      peakRssMB,
      cpuSeconds,
      ...(poll
        ? {
            polls: {
              pairs: Math.min(status.length, metrics.length),
              failures,
              statusP50Ms: percentile(sorted(status), 50),
              statusP99Ms: percentile(sorted(status), 99),
              metricsP50Ms: percentile(sorted(metrics), 50),
              metricsP99Ms: percentile(sorted(metrics), 99),
            },
          }
        : {}),
    };
  } finally {
    rmSync(probeDir, { recursive: true, force: true });
    ws.cleanup();
  }
}
