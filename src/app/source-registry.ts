/**
 * The app facet of the source registry (ADR 0020): per protocol that has a source adapter, how
 * its source is built and how `test-connection` probes it. The config facet
 * (`config/protocols.ts`) says which protocols exist, their default ports and sections, and which
 * have a source; this table is typed by that list, so the two cannot disagree. Adding a protocol:
 * its adapter folder, a row there, a row here.
 */
import type { MailboxSource, SourceRuntime } from '../core/ports/mailbox-source.js';
import type { Logger } from '../core/ports/logger.js';
import { createImapSource, probeImap, type ProbeResult, type ProbeStep, type ProbeStepListener } from '../adapters/source-imap/index.js';
import { createPop3Source, probePop3 } from '../adapters/source-pop3/index.js';
import { createEwsSource, probeEws } from '../adapters/source-ews/index.js';
import { createGraphSource, probeGraph } from '../adapters/source-graph/index.js';
import type { ConnectionConfig } from '../config/loader.js';
import type { SourceProtocol } from '../config/protocols.js';

export type { ProbeResult, ProbeStep, ProbeStepListener };

/** How one protocol's source is built and probed. */
export interface SourceEntry {
  /** A fresh source for one session of `cfg` (a runner builds one per connect). */
  create(cfg: ConnectionConfig, logger: Logger, runtime: SourceRuntime): MailboxSource;
  /** The step-by-step connection test (resolve, connect, TLS, greeting, token, auth, mailbox), each step told to `onStep` as it completes; `runtime` hands it an OAuth2 token source. */
  probe(cfg: ConnectionConfig, logger: Logger, onStep?: ProbeStepListener, runtime?: SourceRuntime): Promise<ProbeResult>;
}

/** Every protocol the config facet marks `source: true`, with its adapter. */
export const SOURCES: Readonly<Record<SourceProtocol, SourceEntry>> = {
  imap: { create: createImapSource, probe: probeImap },
  pop3: { create: createPop3Source, probe: probePop3 },
  ews: { create: createEwsSource, probe: probeEws },
  graph: { create: createGraphSource, probe: probeGraph },
};

/** The entry of `protocol`, or undefined when this build has no source adapter for it. */
export function sourceEntry(protocol: string): SourceEntry | undefined {
  return Object.hasOwn(SOURCES, protocol) ? SOURCES[protocol as SourceProtocol] : undefined;
}
