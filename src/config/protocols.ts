/**
 * The config facet of the source registry (ADR 0020): per protocol, what the configuration knows
 * of it: its default ports, its own settings section if it has one, and whether this build has a
 * source adapter for it. The schema's `protocol` enum and the loader read this table; the app's
 * facet (`app/source-registry.ts`: the source factory and the `test-connection` probe) is typed
 * by {@link SourceProtocol}, so a protocol marked `source: true` here without an entry there does
 * not compile. No adapter is imported here: `config check` runs without them.
 */

/** What the configuration knows of one protocol. */
export interface ProtocolEntry {
  /** The plain/STARTTLS port and the implicit-TLS port used when a connection gives none. */
  ports: { port: number; tlsPort: number };
  /** Whether this build has a source adapter for it (else an enabled connection is warned about). */
  source: boolean;
  /** The protocol's own settings section in a connection, required when the protocol is chosen, and what it holds. */
  section?: { key: 'ews' | 'graph'; holds: string };
}

/** Every protocol a connection may name, in the order the docs list them. */
export const PROTOCOLS = {
  imap: { ports: { port: 143, tlsPort: 993 }, source: true },
  pop3: { ports: { port: 110, tlsPort: 995 }, source: true },
  ews: { ports: { port: 80, tlsPort: 443 }, source: true, section: { key: 'ews', holds: 'url, version' } },
  graph: { ports: { port: 80, tlsPort: 443 }, source: true, section: { key: 'graph', holds: 'tenant, clientId, clientSecret or clientCertificate, mailbox' } },
} as const satisfies Record<string, ProtocolEntry>;

/** A protocol a connection may name. */
export type Protocol = keyof typeof PROTOCOLS;

/** A protocol this build has a source adapter for. */
export type SourceProtocol = { [P in Protocol]: (typeof PROTOCOLS)[P]['source'] extends true ? P : never }[Protocol];

/** The protocol names, for the schema's enum. */
export const PROTOCOL_NAMES = Object.keys(PROTOCOLS) as [Protocol, ...Protocol[]];

/** Protocols that have a source adapter in this build. */
export const SUPPORTED_PROTOCOLS: ReadonlySet<string> = new Set(PROTOCOL_NAMES.filter((p) => PROTOCOLS[p].source));

/** The registry's entry of `protocol`. */
export function protocolEntry(protocol: Protocol): ProtocolEntry {
  return PROTOCOLS[protocol];
}
