/**
 * The benchmark's polled run (issue 14, "What good looks like"): the management API must add no
 * measurable cost to the drain. The same small mailbox is drained by `mailsluice start` (the
 * service, API listening) twice per round, alternating: once with nobody calling the API, once
 * with a client that asks for the connection's status and for `/metrics` every second, as a
 * console and a Prometheus scraper would at once; and (issue 15, "the console adds no measurable
 * cost to the drain") once with a headless Chromium signed in on the console's dashboard, which
 * it reloads every second (each reload: the page, its script and style, the session, the
 * connections and their status, the alerts and the throughput of the last hour; between reloads
 * the dashboard's own 2-second refresh runs too).
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
import { launchChromium, type TestBrowser } from '../test/harness/chromium.js';
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
  /** With the console: the dashboard reloads done while the mailbox drained (each until its chart was drawn), those that failed, and their times. */
  reloads?: { done: number; failures: number; p50Ms: number; p99Ms: number };
}

/** What calls the service while it drains: nobody, the status + metrics client, or the console in Chromium. */
export type PolledMode = 'quiet' | 'polled' | 'console';

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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The status + metrics client: a pair every second until `running()` is false, already polling when the service comes up. */
async function statusPoller(base: string, token: string, running: () => boolean): Promise<{ status: number[]; metrics: number[]; failures: number }> {
  const status: number[] = [];
  const metrics: number[] = [];
  let failures = 0;
  let up = false;
  while (running()) {
    const next = performance.now() + 1000;
    const [s, m] = await Promise.all([timed(`${base}/api/v1/connections/journal/status`, token), timed(`${base}/metrics`, token)]);
    // Refusals before the service listens are its start-up, not failures.
    if (s !== null && m !== null) up = true;
    else if (up) failures++;
    if (s !== null) status.push(s);
    if (m !== null) metrics.push(m);
    await sleep(Math.max(0, next - performance.now()));
  }
  return { status, metrics, failures };
}

/**
 * The console left open on the dashboard: signed in (the token typed into the sign-in page) as
 * soon as the service answers, then the page reloaded every second until `running()` is false,
 * each reload timed until the dashboard drew its throughput chart (its last request answered).
 * `stop` closes the page at once (what it was waiting for fails, and is not counted), so the
 * service is stopped as soon as the mailbox is empty, as in the other kinds: its CPU time is
 * counted to its exit.
 */
async function consoleReloads(browser: TestBrowser, base: string, token: string, stop: AbortSignal): Promise<{ times: number[]; failures: number }> {
  const page = await browser.browser.newPage();
  const times: number[] = [];
  let failures = 0;
  const running = (): boolean => !stop.aborted;
  stop.addEventListener('abort', () => void page.close().catch(() => undefined), { once: true });
  try {
    while (running() && (await fetch(`${base}/readyz`).catch(() => null))?.status !== 200) await sleep(50);
    if (!running()) return { times, failures };
    await page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#token');
    await page.type('#token', token);
    await page.keyboard.press('Enter');
    await page.waitForSelector('svg.throughput-chart', { timeout: 60_000 });
    while (running()) {
      const next = performance.now() + 1000;
      const t = performance.now();
      try {
        await page.reload({ waitUntil: 'domcontentloaded' });
        await page.waitForSelector('svg.throughput-chart', { timeout: 60_000 });
        times.push(performance.now() - t);
      } catch {
        if (running()) failures++;
      }
      await sleep(Math.max(0, next - performance.now()));
    }
  } catch (err) {
    // Signing in cut short by the stop is no failure; anything else is.
    if (running()) throw err;
  } finally {
    await page.close().catch(() => undefined);
  }
  return { times, failures };
}

/** The service's peak RSS and CPU as its probe wrote them at exit; null when it wrote nothing. */
function probed(probeFile: string): { peakRssMB: number | null; cpuSeconds: number | null } {
  try {
    const p = JSON.parse(readFileSync(probeFile, 'utf8')) as { vmHwmKb: number; userCpuMs: number; systemCpuMs: number };
    return { peakRssMB: (p.vmHwmKb * 1024) / 1_000_000, cpuSeconds: (p.userCpuMs + p.systemCpuMs) / 1000 };
  } catch {
    return { peakRssMB: null, cpuSeconds: null };
  }
}

const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);

/**
 * Drains `messages` from a fresh user with `mailsluice start`, with nobody calling its API, with
 * the polling client, or with the console open in Chromium (`mode`), and checks that the archive
 * holds every message afterwards. The browser is launched before the clock starts and closed
 * after the stop.
 */
export async function runStartDrain(d: DovecotInstance, messages: Buffer[], mode: PolledMode): Promise<PolledRun> {
  const user = await d.createUser();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const ws = makeWorkspace({
    connections: [imapConnection(d, user, { security: 'none', deletePolicy: 'delete-and-expunge' })],
    api: { listen: `127.0.0.1:${port}` },
  });
  const probeDir = mkdtempSync(join(tmpdir(), 'mailsluice-probe-'));
  let browser: TestBrowser | undefined;
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
    if (mode === 'console') browser = await launchChromium('en-US');
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
    const running = (): boolean => draining;
    // A client (or the console) already there when the service comes up, as one left open would be.
    const polling = mode === 'polled' ? statusPoller(base, token, running) : null;
    const stopConsole = new AbortController();
    const reloading = mode === 'console' ? consoleReloads(browser!, base, token, stopConsole.signal) : null;
    // Its failure is reported after the stop (awaited below), not as an unhandled rejection during the drain.
    reloading?.catch(() => undefined);
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
      stopConsole.abort();
      await Promise.allSettled([polling, reloading]);
      child.kill('SIGTERM');
      await exited;
    }
    if (child.exitCode !== 0) throw new Error(`mailsluice start exited ${child.exitCode} after SIGTERM: ${stderr.slice(-2000)}`);
    const stats = await runCli(['stats', '--json'], ws);
    const archived = (JSON.parse(stats.stdout) as { messages: number }).messages;
    if (archived !== messages.length) throw new Error(`the archive holds ${archived} messages, expected ${messages.length}`);
    const p = polling ? await polling : null;
    const r = reloading ? await reloading : null;
    return {
      emptyMs,
      ...probed(probeFile),
      ...(p
        ? {
            polls: {
              pairs: Math.min(p.status.length, p.metrics.length),
              failures: p.failures,
              statusP50Ms: percentile(sorted(p.status), 50),
              statusP99Ms: percentile(sorted(p.status), 99),
              metricsP50Ms: percentile(sorted(p.metrics), 50),
              metricsP99Ms: percentile(sorted(p.metrics), 99),
            },
          }
        : {}),
      ...(r ? { reloads: { done: r.times.length, failures: r.failures, p50Ms: percentile(sorted(r.times), 50), p99Ms: percentile(sorted(r.times), 99) } } : {}),
    };
  } finally {
    await browser?.close();
    rmSync(probeDir, { recursive: true, force: true });
    ws.cleanup();
  }
}
