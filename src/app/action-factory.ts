/**
 * Route configuration → the routes the dispatcher runs: each scenario step becomes a
 * `ScenarioAction` adapter with its attempt budget. The one place that knows which adapter
 * serves which action.
 */
import type { Logger } from '../core/ports/logger.js';
import type { ScenarioAction } from '../core/ports/scenario-action.js';
import type { RouteRuntime } from '../core/bus/dispatcher.js';
import { archiveAction } from '../core/scenario/archive-action.js';
import { MailsluiceError } from '../core/errors/index.js';
import { createWebhookAction, type WebhookActionDeps } from '../adapters/action-webhook/index.js';
import { createForwardAction } from '../adapters/action-forward/index.js';
import { createScriptAction } from '../adapters/action-script/index.js';
import type { RouteConfig } from '../config/schema.js';
import type { BrokerConfig } from '../config/brokers-schema.js';
import { createNatsAction } from '../adapters/action-nats/index.js';
import { createAmqpAction } from '../adapters/action-amqp/index.js';

type ActionConfig = RouteConfig['scenario'][number];

/** A literal after the loader resolved `{ env }` / `{ file }`; the schema's type still allows the objects. */
function resolved(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function createAction(route: RouteConfig, a: ActionConfig, logger: Logger, deps: WebhookActionDeps, brokers: readonly BrokerConfig[]): ScenarioAction {
  switch (a.action) {
    case 'archive':
      return archiveAction;
    case 'webhook':
      return createWebhookAction(
        {
          url: a.url,
          secret: resolved(a.secret),
          timeoutMs: a.timeoutMs,
          inlineAttachmentsUpTo: a.inlineAttachmentsUpTo,
          pipeline: a.pipeline,
          ...(a.tls ? { tls: { verify: a.tls.verify, ca: resolved(a.tls.ca), servername: a.tls.servername } } : {}),
          ...(a.headers ? { headers: Object.fromEntries(Object.entries(a.headers).map(([k, v]) => [k, resolved(v) ?? ''])) } : {}),
        },
        deps,
      );
    case 'forward':
      return createForwardAction({
        route: route.name,
        to: [...a.to],
        relay: a.relay,
        secure: a.secure,
        lmtp: a.lmtp,
        timeoutMs: a.timeoutMs,
        ...(a.from !== undefined ? { from: a.from } : {}),
        ...(a.auth ? { auth: { user: a.auth.user, pass: resolved(a.auth.pass) ?? '' } } : {}),
        ...(a.tls ? { tls: { verify: a.tls.verify, ...(resolved(a.tls.ca) ? { ca: resolved(a.tls.ca)! } : {}), ...(a.tls.servername ? { servername: a.tls.servername } : {}) } } : {}),
      });
    case 'script':
      // The loader made `module` absolute (relative to the configuration file).
      return createScriptAction({ route: route.name, module: a.module, timeoutMs: a.timeoutMs, memoryMb: a.memoryMb, logger });
    case 'publish':
      return createPublishAction(route, a, brokers, deps);
  }
}

/** The publish step's adapter, by the type of the broker it names. */
function createPublishAction(route: RouteConfig, a: Extract<ActionConfig, { action: 'publish' }>, brokers: readonly BrokerConfig[], deps: WebhookActionDeps): ScenarioAction {
  const b = brokerOf(route, a.broker, brokers);
  const common = { route: route.name, broker: b.name, timeoutMs: b.timeoutMs, inlineAttachmentsUpTo: a.inlineAttachmentsUpTo, ...(b.tls ? { tls: b.tls } : {}) };
  if (b.type === 'nats') {
    return createNatsAction({ ...common, servers: [...b.servers], subject: a.subject ?? '', user: b.user, password: b.password, token: b.token }, deps);
  }
  return createAmqpAction(
    { ...common, host: b.host, port: b.port, vhost: b.vhost, username: b.username, password: b.password, exchange: a.exchange ?? '', routingKey: a.routingKey, heartbeatSeconds: b.heartbeatSeconds },
    deps,
  );
}

function brokerOf(route: RouteConfig, name: string, brokers: readonly BrokerConfig[]): BrokerConfig {
  const b = brokers.find((x) => x.name === name);
  if (!b) throw new MailsluiceError('CONFIG_INVALID', `route ${route.name}: its publish step names broker "${name}", which the brokers section does not have`);
  return b;
}

/**
 * Throws, as {@link createRouteRuntimes} would, for an enabled route with an action that cannot
 * run here (a publish step naming a broker that is not configured), without building any action:
 * a command refuses such a configuration before it starts, while the actions themselves are
 * built on the dispatcher's thread.
 */
export function assertRoutesRunnable(routes: readonly RouteConfig[], brokers: readonly BrokerConfig[]): void {
  for (const r of routes) {
    if (!r.enabled) continue;
    for (const a of r.scenario) if (a.action === 'publish') brokerOf(r, a.broker, brokers);
  }
}

/**
 * The enabled routes, ready to run. Throws for an action that cannot run here. `webhook`: how
 * webhooks and publish steps find attachment bytes to inline and sign reference URLs (the
 * caller's adapters); `brokers`: the brokers publish steps name (secrets read).
 */
export function createRouteRuntimes(routes: readonly RouteConfig[], logger: Logger, webhook: WebhookActionDeps = {}, brokers: readonly BrokerConfig[] = []): RouteRuntime[] {
  const out: RouteRuntime[] = [];
  try {
    for (const r of routes) {
      if (!r.enabled) continue;
      const runtime: RouteRuntime = {
        name: r.name,
        connection: r.connection,
        bus: r.bus,
        steps: [],
        ...(r.attributes ? { attributes: structuredClone(r.attributes) } : {}),
        ...(r.response ? { response: { ...r.response, ...(r.response.addFlags ? { addFlags: [...r.response.addFlags] } : {}) } } : {}),
        ...(r.errorResponse ? { errorResponse: { ...r.errorResponse, ...(r.errorResponse.addFlags ? { addFlags: [...r.errorResponse.addFlags] } : {}) } } : {}),
      };
      out.push(runtime);
      for (const a of r.scenario) runtime.steps.push({ action: createAction(r, a, logger.child({ route: r.name }), webhook, brokers), maxAttempts: 'maxAttempts' in a ? a.maxAttempts : 1 });
    }
  } catch (err) {
    void closeRouteRuntimes(out);
    throw err;
  }
  return out;
}

/** Releases what the actions hold (worker threads, SMTP pools). */
export async function closeRouteRuntimes(routes: readonly RouteRuntime[]): Promise<void> {
  const seen = new Set<ScenarioAction>();
  for (const r of routes) for (const s of r.steps) if (!seen.has(s.action)) seen.add(s.action);
  await Promise.allSettled([...seen].map((a) => a.close?.()));
}
