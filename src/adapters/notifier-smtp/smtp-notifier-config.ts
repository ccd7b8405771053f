/**
 * The settings of one e-mail alert channel, with the relay's port defaulted from its security.
 */

/** One e-mail channel (`alerts.channels[]` with `type: email`, secrets resolved). */
export interface SmtpNotifierOptions {
  /** The channel's name. */
  name: string;
  relay: {
    host: string;
    port?: number;
    security: 'none' | 'starttls-if-available' | 'starttls' | 'tls';
    lmtp: boolean;
    auth?: { user: string; pass: string };
    tls?: { verify: boolean; ca?: string; servername?: string };
  };
  from: string;
  to: readonly string[];
  timeoutMs: number;
}

/** The relay's port: as given, else 24 for LMTP, 465 for implicit TLS, 25 otherwise. */
export function relayPort(relay: SmtpNotifierOptions['relay']): number {
  return relay.port ?? (relay.lmtp ? 24 : relay.security === 'tls' ? 465 : 25);
}

/** `host:port` of the relay, IPv6 in brackets. */
export function relayAddress(relay: SmtpNotifierOptions['relay']): string {
  return `${relay.host.includes(':') ? `[${relay.host}]` : relay.host}:${relayPort(relay)}`;
}
