/**
 * The benchmark's figures and their report: a row per measured tool, the table of a data set,
 * and the ratios the project is judged by against the issues' targets.
 */
import { availableParallelism } from 'node:os';
import type { ChildOutcome } from './child-measure.js';

/** 10^6 bytes: MB as the report counts them. */
export const MB = 1_000_000;

/** Targets from issue 2 "What good looks like". */
export const TARGETS = {
  rawOverMailboxEmpty: 0.4,
  mbsyncOverMailsluice: 3,
  smallIndexedMsgsPerS: 1800,
  mixedIndexedMBps: 60,
  hugePeakRssMB: 250,
  /** Issue 12: ten ~60 MB messages in one mailbox, peak RSS of the drain. */
  largePeakRssMB: 300,
  /** Issue 3: POP3 drain at least this share of the raw POP3 message rate (small messages). */
  pop3OverRaw: 0.6,
  /** Issue 18: an EWS drain "keeps up with the simulator": mailbox-empty rate at least this share of the raw EWS client's fetch+delete rate (mixed set). */
  ewsOverRaw: 0.5,
  /** Issue 19: a Graph drain "keeps up with the simulator": the same share against the raw Graph client's fetch+delete rate (mixed set). */
  graphOverRaw: 0.5,
  /** Issue 4: archive + one webhook route at least this share of the archive-only drain rate. */
  webhookOverArchive: 0.8,
  /** Issue 4: p99 from arrival in the mailbox (IDLE on) to webhook delivery, ms. */
  webhookP99Ms: 1000,
  /** Issue 14: `start` drained while a client polls status and metrics every second, at least this share of the rate without it ("within noise"). */
  polledOverQuiet: 0.95,
  consoleOverQuiet: 0.95,
  /** Issue 16: purging half of the archive leaves about half of the data directory on disk. */
  archiveShrinkAtMost: 0.6,
  /** Issue 16: verify reads the archive "at disk speed": at least this share of a plain sequential read of the same packs. */
  verifyOverPlainRead: 0.5,
  /** Issue 17: `mailsluice search WORD` on a 100,000-message archive, the whole process (start-up included), p50 ms. */
  searchCliMs: 300,
  /** Issue 17: a search through the API on a 1,000,000-message archive, p95 ms per query kind. */
  apiSearchP95Ms: 100,
} as const;

export type DataSetName = 'small' | 'mixed' | 'huge' | 'pop3' | 'ews' | 'graph' | 'webhook' | 'large' | 'polled' | 'archive' | 'search-cli' | 'search';

/** One measured row of the table. */
export interface Row {
  tool: 'raw-fetch-only' | 'raw-ews-fetch-only' | 'raw-ews-fetch-delete' | 'raw-graph-fetch-only' | 'raw-graph-fetch-delete' | 'raw-fetch-flag-expunge' | 'raw-pop3-retr-dele' | 'raw-pop3-one-session' | 'mbsync' | 'mailsluice-mailbox-empty' | 'mailsluice-indexed' | 'mailsluice-drain-process' | 'mailsluice-drain-archive-only' | 'mailsluice-drain-webhook' | 'mailsluice-start-quiet' | 'mailsluice-start-polled' | 'mailsluice-start-console' | 'mailsluice-verify' | 'mailsluice-verify-archive' | 'mailsluice-purge-half' | 'mailsluice-verify-after-purge' | 'mailsluice-search-cli' | 'mailsluice-import-mbox-read' | 'mailsluice-import-mbox-indexed' | 'mailsluice-import-eml-read' | 'mailsluice-import-eml-indexed' | 'mailsluice-import-search-set' | 'mailsluice-api-search';
  messages: number;
  bytes: number;
  seconds: number;
  msgsPerS: number;
  mbPerS: number;
  /** Peak RSS of the tool's process in MB (10^6 bytes), null when not measured. */
  peakRssMB: number | null;
  /** User + system CPU seconds of the tool's process (all its threads). */
  cpuSeconds: number | null;
  /** CPU seconds the whole machine was busy during the run (both cores; Dovecot is most of the rest). */
  machineCpuSeconds: number | null;
  /** Wall time of the child process from spawn to exit (start-up and shut-down included). */
  processSeconds?: number;
  /** Share of the machine's CPU (all cores × process wall time) the hypervisor stole during the run. */
  stealShare?: number;
  note?: string;
  /** archive set, purge row: the data directory's size on disk after the purge / before. */
  shrink?: number;
  /** archive set, verify row: MiB/s of a plain sequential read of the same packs just before. */
  plainReadMiBps?: number;
  /** verify rows: MiB/s of packs read, by verify's own clock. */
  packMiBps?: number;
  /** search set, import row: the data directory's size on disk once everything was indexed. */
  dataDirBytes?: number;
  /** search set, API rows: the 95th and 99th percentile of the answer times, ms (`seconds` holds the median). */
  p95Ms?: number;
  p99Ms?: number;
  /** search-cli rows: the slowest of the timed processes, ms. */
  searchMaxMs?: number;
}

export interface DataSetResult {
  name: DataSetName;
  messages: number;
  bytes: number;
  rows: Row[];
  /** webhook set: arrival-to-webhook latency of the service with IDLE, ms. */
  latency?: { p50: number; p99: number; max: number; delivered: number; gapMs: number };
}

/** A row of figures for `tool` that handled `messages` (`bytes`) in `ms`, measured as `o`. */
export function row(tool: Row['tool'], messages: number, bytes: number, ms: number, o: ChildOutcome | null, extra: Partial<Row> = {}): Row {
  const seconds = ms / 1000;
  return {
    tool,
    messages,
    bytes,
    seconds,
    msgsPerS: messages / seconds,
    mbPerS: bytes / MB / seconds,
    peakRssMB: o ? (o.peakRssKb * 1024) / MB : null,
    cpuSeconds: o?.cpuMs != null ? o.cpuMs / 1000 : null,
    machineCpuSeconds: o ? o.machineCpuMs / 1000 : null,
    ...(o ? { processSeconds: o.wallMs / 1000, stealShare: o.stealMs / (o.wallMs * availableParallelism()) } : {}),
    ...extra,
  };
}

/** Progress, on stderr (stdout carries the report). */
export function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

const LABELS: Record<Row['tool'], string> = {
  'mailsluice-verify': 'mailsluice verify',
  'mailsluice-verify-archive': 'mailsluice verify (whole archive)',
  'mailsluice-purge-half': 'mailsluice purge (half expired)',
  'mailsluice-verify-after-purge': 'mailsluice verify (after purge)',
  'mailsluice-search-cli': 'mailsluice search WORD (process p50)',
  'mailsluice-import-search-set': 'mailsluice import (search set, indexed)',
  'mailsluice-api-search': 'API search, first page (p50)',
  'raw-fetch-only': 'raw fetch-only',
  'raw-ews-fetch-only': 'raw EWS FindItem+GetItem',
  'raw-ews-fetch-delete': 'raw EWS GetItem+DeleteItem',
  'raw-graph-fetch-only': 'raw Graph list+$value',
  'raw-graph-fetch-delete': 'raw Graph $value+$batch delete',
  'raw-fetch-flag-expunge': 'raw fetch+flag+expunge',
  'raw-pop3-retr-dele': 'raw POP3 RETR+DELE /500',
  'raw-pop3-one-session': 'raw POP3 RETR+DELE 1 session',
  'mailsluice-drain-archive-only': 'mailsluice drain, archive only',
  'mailsluice-drain-webhook': 'mailsluice drain + webhook',
  'mailsluice-start-quiet': 'mailsluice start, API idle',
  'mailsluice-start-polled': 'mailsluice start, API polled 1/s',
  'mailsluice-start-console': 'mailsluice start, console reloaded 1/s',
  mbsync: 'mbsync',
  'mailsluice-mailbox-empty': 'mailsluice (mailbox empty)',
  'mailsluice-indexed': 'mailsluice (indexed)',
  'mailsluice-drain-process': 'mailsluice drain (process start to exit)',
  'mailsluice-import-mbox-read': 'mailsluice import mbox (all read)',
  'mailsluice-import-mbox-indexed': 'mailsluice import mbox (indexed)',
  'mailsluice-import-eml-read': 'mailsluice import .eml (all read)',
  'mailsluice-import-eml-indexed': 'mailsluice import .eml (indexed)',
};

/** A data set's rows as a text table. */
export function table(ds: DataSetResult): string {
  const head = ['', 'msgs/s', 'MB/s', 'seconds', 'peak RSS MB', 'CPU s', 'machine CPU s', 'steal'];
  const lines = ds.rows.map((r) => [
    LABELS[r.tool],
    r.msgsPerS.toFixed(0),
    r.mbPerS.toFixed(1),
    r.seconds.toFixed(2),
    r.peakRssMB === null ? '-' : r.peakRssMB.toFixed(0),
    r.cpuSeconds === null ? '-' : r.cpuSeconds.toFixed(2),
    r.machineCpuSeconds === null ? '-' : r.machineCpuSeconds.toFixed(2),
    r.stealShare === undefined ? '-' : `${(r.stealShare * 100).toFixed(0)}%`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const latency = ds.latency
    ? [`arrival → webhook latency (IDLE, ${ds.latency.delivered} messages ${ds.latency.gapMs} ms apart): p50 ${ds.latency.p50.toFixed(0)} ms, p99 ${ds.latency.p99.toFixed(0)} ms, max ${ds.latency.max.toFixed(0)} ms`]
    : [];
  return [`${ds.name}: ${ds.messages} messages, ${(ds.bytes / MB).toFixed(1)} MB`, fmt(head), ...lines.map(fmt), ...latency].join('\n');
}

/** One ratio the project is judged by, with its target. */
export interface Ratio {
  name: string;
  value: number;
  target: string;
  pass: boolean;
  /** What else the same run says about the target (printed under the line). */
  note?: string;
}

/** The ratios of issues 2, 3, 4, 12 and 14 that the measured data sets allow. */
export function ratios(results: DataSetResult[]): Ratio[] {
  const out: Ratio[] = [];
  const get = (ds: DataSetResult, t: Row['tool']): Row | undefined => ds.rows.find((r) => r.tool === t);
  for (const ds of results) {
    const empty = get(ds, 'mailsluice-mailbox-empty');
    const indexed = get(ds, 'mailsluice-indexed');
    const raw = get(ds, 'raw-fetch-flag-expunge');
    const mb = get(ds, 'mbsync');
    // Issue 17: an import of the same messages at least as fast as their drain, to indexed.
    for (const kind of ['mbox', 'eml'] as const) {
      const imp = get(ds, `mailsluice-import-${kind}-indexed`);
      if (imp && indexed) {
        const v = imp.msgsPerS / indexed.msgsPerS;
        out.push({ name: `import: ${kind} import rate to indexed / drain rate to indexed`, value: v, target: '>= 1', pass: v >= 1 });
      }
    }
    const archiveOnly = get(ds, 'mailsluice-drain-archive-only');
    const withHook = get(ds, 'mailsluice-drain-webhook');
    if (archiveOnly && withHook) {
      const v = withHook.msgsPerS / archiveOnly.msgsPerS;
      out.push({ name: 'webhook: archive+webhook drain rate / archive-only drain rate', value: v, target: `>= ${TARGETS.webhookOverArchive}`, pass: v >= TARGETS.webhookOverArchive });
    }
    const quiet = get(ds, 'mailsluice-start-quiet');
    const polled = get(ds, 'mailsluice-start-polled');
    if (quiet && polled) {
      const v = polled.msgsPerS / quiet.msgsPerS;
      out.push({ name: 'polled: start rate with a client polling status+metrics 1/s / without', value: v, target: `>= ${TARGETS.polledOverQuiet}`, pass: v >= TARGETS.polledOverQuiet, ...(polled.note ? { note: polled.note.split('; ')[1] ?? '' } : {}) });
    }
    const withConsole = get(ds, 'mailsluice-start-console');
    if (quiet && withConsole) {
      const v = withConsole.msgsPerS / quiet.msgsPerS;
      out.push({ name: 'console: start rate with the dashboard open and reloaded 1/s / without', value: v, target: `>= ${TARGETS.consoleOverQuiet}`, pass: v >= TARGETS.consoleOverQuiet, ...(withConsole.note ? { note: withConsole.note.split('; ')[1] ?? '' } : {}) });
    }
    if (ds.latency) {
      out.push({ name: 'webhook: arrival to webhook p99 ms (IDLE)', value: ds.latency.p99, target: `< ${TARGETS.webhookP99Ms}`, pass: ds.latency.p99 < TARGETS.webhookP99Ms });
    }
    const rawPop3 = [get(ds, 'raw-pop3-retr-dele'), get(ds, 'raw-pop3-one-session')].filter((r): r is Row => r !== undefined).sort((a, b) => b.msgsPerS - a.msgsPerS)[0];
    if (ds.name === 'pop3' && rawPop3 && empty) {
      const v = empty.msgsPerS / rawPop3.msgsPerS;
      out.push({ name: 'pop3: mailsluice mailbox-empty rate / faster raw POP3 rate', value: v, target: `>= ${TARGETS.pop3OverRaw}`, pass: v >= TARGETS.pop3OverRaw });
    }
    for (const [set, tool, label, target] of [['ews', 'raw-ews-fetch-delete', 'EWS', TARGETS.ewsOverRaw], ['graph', 'raw-graph-fetch-delete', 'Graph', TARGETS.graphOverRaw]] as const) {
      const rawSim = get(ds, tool);
      if (ds.name !== set || !rawSim || !empty) continue;
      const v = empty.msgsPerS / rawSim.msgsPerS;
      out.push({ name: `${set}: mailsluice mailbox-empty rate / raw ${label} fetch+delete rate (simulator)`, value: v, target: `>= ${target}`, pass: v >= target });
    }
    const sizeSet = ds.name === 'huge' || ds.name === 'large';
    if (!sizeSet && raw && empty) {
      const v = raw.seconds / empty.seconds;
      out.push({ name: `${ds.name}: raw(fetch+flag+expunge) time / mailsluice mailbox-empty time`, value: v, target: `>= ${TARGETS.rawOverMailboxEmpty}`, pass: v >= TARGETS.rawOverMailboxEmpty });
    }
    if (!sizeSet && mb && empty && indexed) {
      const v = mb.seconds / empty.seconds;
      const needed = mb.seconds / TARGETS.mbsyncOverMailsluice;
      // The raw client does only the server's part of a drain (no storing, no fsync): when even it
      // takes longer than the target allows, no drain can meet the target in this run.
      const floor =
        raw && raw.seconds > needed
          ? `the target needs the mailbox empty within ${needed.toFixed(2)} s, but the raw client's fetch + flag + UID EXPUNGE alone took ${raw.seconds.toFixed(2)} s in this run: below what the server allows any client`
          : undefined;
      out.push({ name: `${ds.name}: mbsync time / mailsluice mailbox-empty time`, value: v, target: `>= ${TARGETS.mbsyncOverMailsluice}`, pass: v >= TARGETS.mbsyncOverMailsluice, ...(floor ? { note: floor } : {}) });
      const w = mb.seconds / indexed.seconds;
      out.push({ name: `${ds.name}: mbsync time / mailsluice indexed time`, value: w, target: `>= ${TARGETS.mbsyncOverMailsluice}`, pass: w >= TARGETS.mbsyncOverMailsluice });
    }
    if (ds.name === 'small' && indexed) {
      out.push({ name: 'small: fully processed (indexed) msgs/s', value: indexed.msgsPerS, target: `>= ${TARGETS.smallIndexedMsgsPerS}`, pass: indexed.msgsPerS >= TARGETS.smallIndexedMsgsPerS });
    }
    if (ds.name === 'mixed' && indexed) {
      out.push({ name: 'mixed: fully processed (indexed) MB/s', value: indexed.mbPerS, target: `>= ${TARGETS.mixedIndexedMBps}`, pass: indexed.mbPerS >= TARGETS.mixedIndexedMBps });
    }
    if (ds.name === 'huge' && empty?.peakRssMB != null) {
      out.push({ name: 'huge: mailsluice peak RSS MB', value: empty.peakRssMB, target: `< ${TARGETS.hugePeakRssMB}`, pass: empty.peakRssMB < TARGETS.hugePeakRssMB });
    }
    const purged = get(ds, 'mailsluice-purge-half');
    if (purged?.shrink !== undefined) {
      out.push({ name: 'archive: data directory on disk after purging half / before', value: purged.shrink, target: `<= ${TARGETS.archiveShrinkAtMost}`, pass: purged.shrink <= TARGETS.archiveShrinkAtMost });
    }
    const verified = get(ds, 'mailsluice-verify-archive');
    if (verified?.plainReadMiBps !== undefined && verified.packMiBps !== undefined) {
      const v = verified.packMiBps / verified.plainReadMiBps;
      out.push({ name: 'archive: verify MiB/s of packs / plain sequential read MiB/s', value: v, target: `>= ${TARGETS.verifyOverPlainRead}`, pass: v >= TARGETS.verifyOverPlainRead });
    }
    for (const r of ds.rows.filter((x) => x.tool === 'mailsluice-search-cli')) {
      const ms = r.seconds * 1000;
      out.push({ name: `search-cli: ${r.note?.split(':')[0] ?? 'search'} on ${r.messages} messages, whole process p50 ms`, value: ms, target: `< ${TARGETS.searchCliMs}`, pass: ms < TARGETS.searchCliMs });
    }
    for (const r of ds.rows.filter((x) => x.tool === 'mailsluice-api-search' && x.p95Ms !== undefined)) {
      const label = /\(([^;]+);/.exec(r.note ?? '')?.[1] ?? 'query';
      out.push({ name: `search: API ${label} on ${r.messages} messages, p95 ms`, value: r.p95Ms!, target: `< ${TARGETS.apiSearchP95Ms}`, pass: r.p95Ms! < TARGETS.apiSearchP95Ms });
    }
    if (ds.name === 'large' && empty?.peakRssMB != null) {
      out.push({ name: 'large: mailsluice peak RSS MB (ten 60 MB messages)', value: empty.peakRssMB, target: `< ${TARGETS.largePeakRssMB}`, pass: empty.peakRssMB < TARGETS.largePeakRssMB });
    }
  }
  return out;
}

/** The whole run's report: each data set's table, the ratios with their verdicts, and how to read them. */
export function reportText(results: DataSetResult[], rs: Ratio[]): string {
  const out: string[] = [''];
  for (const ds of results) out.push(table(ds), '');
  out.push('Ratios (issues 2, 3, 4, 12, 14, 16, 17, 18 and 19, "What good looks like"):');
  const w = Math.max(...rs.map((r) => r.name.length));
  for (const r of rs) {
    out.push(`  ${r.name.padEnd(w)}  ${r.value.toFixed(2).padStart(8)}  target ${r.target.padEnd(7)}  ${r.pass ? 'PASS' : 'FAIL'}`);
    if (r.note) out.push(`    (${r.note})`);
  }
  out.push(
    '',
    'MB = 10^6 bytes as served by IMAP. raw fetch-only: the one FETCH command; raw fetch+flag+expunge: connect to the',
    'last UID EXPUNGE; mailsluice: the drain summary (start of the drain to the last expunge / the last index write,',
    'process start-up excluded); mbsync: process wall time.',
    'CPU s: the tool process (all threads); machine CPU s: busy time of all cores during the process (Dovecot, the kernel',
    'and anything else running); steal: share of all cores taken by the hypervisor for other guests during the process.',
  );
  const stolen = results.flatMap((ds) => ds.rows).some((r) => (r.stealShare ?? 0) > 0.1);
  if (stolen) out.push('WARNING: the hypervisor stole more than 10% of the CPU during some runs; those figures are pessimistic.');
  return out.join('\n') + '\n';
}
