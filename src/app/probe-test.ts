/**
 * The probe test (the seeds' "test recipients", ADR 0027): after the plain connection test, a
 * probe message with a unique Message-ID and a signed `X-Mailsluice-Probe` header goes through
 * the connection's `testRelay` to its `testRecipients`, and is followed, step by step, until it
 * is in the mailbox (`arrive`) and in the archive (`archive`), each within `testRelay.waitMs`.
 *
 * A running service may take the probe from the mailbox before a listing here sees it: the
 * archive is looked at first on every round, and a probe found there has arrived too. Without a
 * service on the archive nothing would archive the probe: the test then stops after `arrive`
 * and says so in a warning (the next `drain` or `start` archives it, marked, and routes skip it).
 */
import { MailsluiceError, toMailsluiceError } from '../core/errors/index.js';
import type { SearchHit, SearchIndex } from '../core/ports/search-index.js';
import type { Candidate } from '../core/ports/mailbox-source.js';
import { PROBE_HEADER } from '../core/message/probe-mark.js';
import { sessionSecurity, type TlsMemory } from '../core/connection/tls-downgrade.js';
import { sendThroughRelay, relayAddress } from '../adapters/relay-nodemailer/index.js';
import { JsonlLogger } from '../adapters/logger-jsonl/index.js';
import { accessTokensFor } from './access-tokens.js';
import { lockDataDir } from '../adapters/store-sqlite/index.js';
import type { ConnectionConfig, TestRelayConfig } from '../config/loader.js';
import { sourceEntry } from './source-registry.js';
import { issueProbe, type IssuedProbe } from './probe-key.js';
import { testConnection, type ProbeResult, type ProbeStep } from './test-connection.js';

/** A step of the connection test with its probe steps (`send`, `arrive`, `archive`). */
export interface TestStep extends Omit<ProbeStep, 'step'> {
  step: ProbeStep['step'] | 'send' | 'arrive' | 'archive';
}

/** The connection test with its probe (what `test-connection NAME --probe --json` prints). */
export interface ProbeTestResult extends Omit<ProbeResult, 'steps'> {
  steps: TestStep[];
  /** The probe sent: its Message-ID (without angle brackets), to find it in the archive. */
  probe?: { messageId: string };
}

/** What the probe test needs besides the connection. */
export interface ProbeTestDeps {
  /** The archive's probe key (`probe.key`, `probe-key.ts`). */
  key: Buffer;
  /** The archive's search (by Message-ID); absent: there is no archive yet. */
  search?: Pick<SearchIndex, 'search'>;
  /** Whether a service (`start`, `drain`) holds the archive and will take the probe. */
  archiving: boolean;
  /** The archive's STARTTLS memory (ADR 0016), as the plain test uses it. */
  memory?: TlsMemory;
  /** How often the mailbox and the archive are looked at while waiting; default 1 s. */
  pollMs?: number;
}

/** A listing takes at most this many candidates; a mailbox holding more may hide the probe from it (the archive still finds it). */
const LIST_LIMIT = 100_000;
/** Candidates new since the send that are read to look for the probe, newest first. */
const MAX_NEW_READ = 20;
/** A probe is small; anything bigger than this is not it and is not read. */
const MAX_PROBE_BYTES = 256 * 1024;

/**
 * Whether a service (`start`, `drain`) holds the data directory now: the data-directory lock
 * (ADR 0014) is tried and let go at once. Only a holder takes mail in, so only then can a probe
 * test wait for its probe to be archived.
 */
export function serviceHolds(dataDir: string): boolean {
  try {
    lockDataDir(dataDir, 'test-connection').release();
    return false;
  } catch (err) {
    if (err instanceof MailsluiceError && err.code === 'DATA_DIR_LOCKED') return true;
    throw err;
  }
}

/** Whether `conn` can run a probe test; throws `PROBE_NOT_CONFIGURED` naming what is missing. */
export function assertProbeConfigured(conn: ConnectionConfig): TestRelayConfig {
  const missing = [...(conn.testRelay ? [] : ['testRelay']), ...(conn.testRecipients.length > 0 ? [] : ['testRecipients'])];
  if (missing.length > 0 || !conn.testRelay) {
    throw new MailsluiceError('PROBE_NOT_CONFIGURED', `connection ${conn.name} has no ${missing.join(' and no ')}: a probe test sends through testRelay to testRecipients (run the test without --probe / probe=true to test without sending a message)`);
  }
  return conn.testRelay;
}

/** The probe message: plain text, CRLF, the id in its Message-ID and its signed header. */
export function probeMessage(conn: ConnectionConfig, relay: TestRelayConfig, probe: IssuedProbe, now: Date): Buffer {
  const lines = [
    `From: mailsluice probe <${relay.from}>`,
    `To: ${conn.testRecipients.join(', ')}`,
    `Subject: mailsluice probe of connection ${conn.name} (${probe.id})`,
    `Date: ${now.toUTCString().replace(/GMT$/, '+0000')}`,
    `Message-ID: <${probe.messageId}>`,
    `${PROBE_HEADER}: ${probe.header}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 7bit',
    '',
    `This is a probe message of mailsluice's connection test (mailsluice test-connection ${conn.name} --probe).`,
    'It is archived marked as a probe, and no route takes it. Nothing needs to be done with it.',
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

/** The keys the mailbox lists now (before the send: what is not the probe). */
async function listMailbox(conn: ConnectionConfig): Promise<{ keys: Set<string>; fresh: (baseline: Set<string>) => Candidate[]; read: (c: Candidate[], id: string) => Promise<boolean>; close: () => Promise<void> }> {
  const logger = new JsonlLogger([]);
  const accessTokens = accessTokensFor(conn, logger);
  const source = sourceEntry(conn.protocol)!.create(conn, logger, accessTokens ? { accessTokens } : {});
  try {
    await source.open();
    const list = await source.listCandidates(LIST_LIMIT);
    return {
      keys: new Set(list.map((c) => c.key)),
      fresh: (baseline) => list.filter((c) => !baseline.has(c.key) && c.size <= MAX_PROBE_BYTES).slice(-MAX_NEW_READ),
      read: async (candidates, id) => {
        let found = false;
        for await (const f of source.fetch(candidates)) {
          const chunks: Buffer[] = [];
          // Read to the end whatever is found: the source yields the next only then.
          for await (const c of f.body) chunks.push(Buffer.from(c));
          if (Buffer.concat(chunks).includes(id)) found = true;
        }
        return found;
      },
      close: () => source.close().catch(() => undefined),
    };
  } catch (err) {
    await source.close().catch(() => undefined);
    throw err;
  }
}

/** Whether the probe is in the mailbox now (a session of its own, closed again). */
async function inMailbox(conn: ConnectionConfig, baseline: Set<string>, id: string): Promise<boolean> {
  const box = await listMailbox(conn);
  try {
    const fresh = box.fresh(baseline);
    return fresh.length > 0 && (await box.read(fresh, id));
  } finally {
    await box.close();
  }
}

async function archived(deps: ProbeTestDeps, messageId: string): Promise<SearchHit | undefined> {
  return (await deps.search?.search({ messageId, limit: 1 }))?.[0];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `check` until it answers something or `waitMs` has passed; a check that throws (the
 * service deleted the message under a fetch) counts as not yet.
 */
async function waitFor<T>(waitMs: number, pollMs: number, check: () => Promise<T | undefined>): Promise<T | undefined> {
  const until = Date.now() + waitMs;
  for (;;) {
    const found = await check().catch(() => undefined);
    if (found !== undefined || Date.now() >= until) return found;
    await sleep(Math.min(pollMs, Math.max(0, until - Date.now())));
  }
}

/**
 * The plain test of `conn`, then, when it passed, the probe: `send`, `arrive`, and `archive` when
 * a service archives. Each step is told to `onStep` as it completes; the test stops at the first
 * failure. Throws `PROBE_NOT_CONFIGURED` before anything when the connection has no test relay
 * or no test recipients.
 */
export async function testConnectionWithProbe(conn: ConnectionConfig, deps: ProbeTestDeps, onStep: (s: TestStep) => void = () => undefined): Promise<ProbeTestResult> {
  const relay = assertProbeConfigured(conn);
  const plain = await testConnection(conn, deps.memory, onStep);
  if (!plain.ok) return plain;
  const steps: TestStep[] = [...plain.steps];
  const warnings = [...(plain.warnings ?? [])];
  const record = (s: TestStep): void => {
    steps.push(s);
    onStep(s);
  };
  // The mailbox is read under the same downgrade protection as the plain test's session.
  const guarded: ConnectionConfig = { ...conn, security: sessionSecurity(conn.security, deps.memory?.tlsOffered(conn.name) ?? false) };
  const probe = issueProbe(deps.key);
  const result = (ok: boolean): ProbeTestResult => ({ ...plain, ok, steps, warnings, probe: { messageId: probe.messageId } });
  const pollMs = deps.pollMs ?? 1000;

  let baseline = new Set<string>();
  const t0 = Date.now();
  try {
    const box = await listMailbox(guarded);
    baseline = box.keys;
    await box.close();
    const receipt = await sendThroughRelay({ ...relay, label: 'test relay', setting: 'testRelay', failure: 'PROBE_RELAY_FAILED' }, { from: relay.from, to: conn.testRecipients, raw: probeMessage(conn, relay, probe, new Date()) });
    record({ step: 'send', ok: true, ms: Date.now() - t0, detail: `${relayAddress(relay)} accepted the probe <${probe.messageId}> for ${conn.testRecipients.join(', ')} (${receipt.response.trim()})` });
  } catch (err) {
    const e = toMailsluiceError(err);
    record({ step: 'send', ok: false, ms: Date.now() - t0, detail: e.message, code: e.code });
    return result(false);
  }

  const t1 = Date.now();
  const arrival = await waitFor(relay.waitMs, pollMs, async () => {
    const hit = await archived(deps, probe.messageId);
    if (hit) return { where: 'archive' as const, hit };
    return (await inMailbox(guarded, baseline, probe.id)) ? { where: 'mailbox' as const, hit: undefined } : undefined;
  });
  if (!arrival) {
    const e = new MailsluiceError('PROBE_NOT_ARRIVED', `the probe <${probe.messageId}> was not seen in ${conn.name}'s mailbox ${conn.mailbox} nor in the archive within ${Math.round(relay.waitMs / 1000)} s: are ${conn.testRecipients.join(', ')} delivered (or journaled) to it?`);
    record({ step: 'arrive', ok: false, ms: Date.now() - t1, detail: e.message, code: e.code });
    return result(false);
  }
  record({
    step: 'arrive',
    ok: true,
    ms: Date.now() - t1,
    detail: arrival.where === 'mailbox' ? `the probe is in the mailbox ${conn.mailbox}` : 'the probe had already been taken from the mailbox into the archive by the running service',
  });

  if (!deps.archiving) {
    warnings.push(`no service runs on this archive, so nothing archives the probe now: the next mailsluice start or mailsluice drain --connection ${conn.name} archives it (marked as a probe; routes skip it)`);
    return result(true);
  }
  const t2 = Date.now();
  const hit = arrival.hit ?? (await waitFor(relay.waitMs, pollMs, () => archived(deps, probe.messageId)));
  if (!hit) {
    const e = new MailsluiceError('PROBE_NOT_ARCHIVED', `the probe <${probe.messageId}> is in the mailbox but was not archived within ${Math.round(relay.waitMs / 1000)} s: is the connection ${conn.name} enabled and running (its status and log say)?`);
    record({ step: 'archive', ok: false, ms: Date.now() - t2, detail: e.message, code: e.code });
    return result(false);
  }
  // The mark is written by the parse stage, which may trail the commit by a moment.
  const marked = hit.probe === true || (await waitFor(Math.min(relay.waitMs, 10_000), pollMs, async () => ((await archived(deps, probe.messageId))?.probe ? true : undefined))) === true;
  if (!marked) warnings.push(`the probe was archived but not marked as one: the service signs and checks probes with ${'probe.key'} in its data directory; is it the same data directory?`);
  record({ step: 'archive', ok: true, ms: Date.now() - t2, detail: `archived as ${hit.sha256}${marked ? ', marked as a probe (routes skip it)' : ''}` });
  return result(true);
}
