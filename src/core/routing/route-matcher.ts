/**
 * Which routes take a message: the enabled routes of its connection whose filter matches. Pure;
 * the index stage runs it for each parse result and the store inserts what it returns in the
 * same transaction (docs/adr/0006-outbox-and-buses.md).
 */
import type { MessageAttributes } from '../message/attributes.js';
import type { RegexEngine } from '../ports/regex-engine.js';
import { compileFilter, type CompiledFilter, type RouteFilter } from './route-filter.js';

/** The part of a configured route that routing reads. */
export interface RouteSpec {
  name: string;
  connection: string;
  enabled: boolean;
  bus: number;
  filter?: RouteFilter | undefined;
}

/** One delivery to queue: a message to a route. */
export interface NewDelivery {
  /** `<connection>.<route>.<message id>`: stable, so a message is queued on a route at most once. */
  id: string;
  messageId: number;
  connection: string;
  route: string;
  bus: number;
  /** Milliseconds since the epoch; also its first due time. */
  createdAt: number;
}

/** The delivery id of a message on a route (system names contain no `.`, so it splits back). */
export function deliveryIdOf(connection: string, route: string, messageId: number): string {
  return `${connection}.${route}.${messageId}`;
}

/** The message as routing sees it: size from the store, attributes only when a filter asks. */
export interface RoutableMessage {
  id: number;
  connection: string;
  size: number;
  /** The (possibly partial) attributes; called at most once, and only if a filter needs them. */
  attributes(): Partial<MessageAttributes>;
}

/** Routes of every connection, compiled once (their regexes on `engine`). */
export class RouteMatcher {
  private readonly byConnection = new Map<string, Array<{ route: RouteSpec; filter: CompiledFilter }>>();

  constructor(routes: readonly RouteSpec[], engine: RegexEngine) {
    for (const r of routes) {
      if (!r.enabled) continue;
      const list = this.byConnection.get(r.connection) ?? [];
      list.push({ route: r, filter: compileFilter(r.filter, engine) });
      this.byConnection.set(r.connection, list);
    }
  }

  /** Whether any route takes messages of this connection (none: nothing to compute). */
  has(connection: string): boolean {
    return this.byConnection.has(connection);
  }

  /**
   * The deliveries to queue for one message, in configuration order. A message that matches no
   * route gets none: it is archived only.
   */
  match(message: RoutableMessage, now: number): NewDelivery[] {
    const routes = this.byConnection.get(message.connection);
    if (!routes) return [];
    let attrs: Partial<MessageAttributes> | undefined;
    const out: NewDelivery[] = [];
    for (const { route, filter } of routes) {
      if (filter.needsAttributes) attrs ??= message.attributes();
      const a = attrs ?? {};
      const ok = filter.matches({
        size: message.size,
        From: a.From,
        To: a.To,
        Cc: a.Cc,
        Bcc: a.Bcc,
        Subject: a.Subject,
        CustomHeaders: a.CustomHeaders,
        attachments: a.Attachments?.length ?? 0,
      });
      if (!ok) continue;
      out.push({
        id: deliveryIdOf(message.connection, route.name, message.id),
        messageId: message.id,
        connection: message.connection,
        route: route.name,
        bus: route.bus,
        createdAt: now,
      });
    }
    return out;
  }
}
