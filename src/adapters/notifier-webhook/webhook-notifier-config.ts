/**
 * The settings of one webhook alert channel and what the composition root hands in.
 */

/** Signs a body the Standard Webhooks way (the webhook action's `signStandardWebhook`, handed in by the app: adapters import no other adapter). */
export type SignWebhook = (id: string, timestampSeconds: number, body: Uint8Array, secret: string) => string;

/** One webhook channel (`alerts.channels[]` with `type: webhook`, secrets resolved). */
export interface WebhookNotifierOptions {
  /** The channel's name. */
  name: string;
  url: string;
  /** Signing secret; absent: the request is not signed. */
  secret?: string;
  /** Time limit of one request. */
  timeoutMs: number;
  /** How the request is signed when `secret` is given. */
  sign?: SignWebhook;
}

/** The `User-Agent` of alert requests, so a receiver's log tells them from a route's webhooks. */
export const ALERT_USER_AGENT = 'mailsluice-alerts';
