/**
 * The settings of one e-mail alert channel, with the relay's port defaulted from its security.
 */

/** One e-mail channel (`alerts.channels[]` with `type: email`, secrets resolved). */
export interface SmtpNotifierOptions {
  /** The channel's name. */
  name: string;
  /** The relay as the configuration gives it (config/loader.ts `RelayConfig`: the port filled in). */
  relay: {
    host: string;
    port: number;
    protocol: 'smtp' | 'lmtp';
    security: 'none' | 'starttls-if-available' | 'starttls' | 'tls';
    auth?: { user: string; pass: string };
    tls: { verify: boolean; ca?: string; servername?: string };
  };
  from: string;
  to: readonly string[];
  timeoutMs: number;
}

/** `host:port` of the relay, IPv6 in brackets. */
export function relayAddress(relay: SmtpNotifierOptions['relay']): string {
  return `${relay.host.includes(':') ? `[${relay.host}]` : relay.host}:${relay.port}`;
}
