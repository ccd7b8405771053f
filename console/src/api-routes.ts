/**
 * The console's calls of the routes and deliveries resources (`/api/v1/routes`,
 * `/api/v1/deliveries`), typed as the OpenAPI document describes them. A configuration edit
 * carries the file's version as `If-Match` (ADR 0023), through `api.ts`'s `request`.
 */
import type { Schemas } from './api-types.js';
import { call, request, seg } from './api.js';

/** One scenario action as the API shows it (no secret in any form). */
export interface RouteAction {
  action: 'archive' | 'webhook' | 'script' | 'publish' | 'forward';
  url?: string;
  signed?: boolean;
  headers?: string[];
  pipeline?: number;
  inlineAttachmentsUpTo?: number;
  module?: string;
  memoryMb?: number;
  broker?: string;
  subject?: string;
  exchange?: string;
  routingKey?: string;
  to?: string[];
  relay?: string;
  from?: string;
  secure?: boolean;
  lmtp?: boolean;
  authUser?: string;
  timeoutMs?: number;
  maxAttempts?: number;
}

/** A route's `attributes` setting. */
export interface RouteAttributes {
  keep?: string[];
  rename?: Record<string, string>;
  add?: Array<{ name: string; header?: string; value?: string }>;
}

/** A route's filter as configured. */
export interface RouteFilter {
  from?: string;
  to?: string;
  subject?: string;
  header?: { name: string; value: string };
  minSize?: number;
  maxSize?: number;
  hasAttachment?: boolean;
  match?: 'contains' | 'regex';
}

/** A server response (`response`, `errorResponse`). */
export interface ServerResponse {
  addFlags?: string[];
  moveTo?: string;
}

/** A secret as the API shows it: a reference by its name, or a literal of the file by its path; sent back, it keeps the secret. */
export type SecretShown = { env: string } | { file: string } | { secret: string } | { keep: string };

/** Every setting of a route as the file writes it (`settings`): absent keys take their defaults; secrets as {@link SecretShown}. */
export interface RouteStored {
  connection: string;
  enabled?: boolean;
  description?: string;
  bus?: number;
  filter?: RouteFilter;
  attributes?: RouteAttributes;
  scenario: Array<Record<string, unknown>>;
  response?: ServerResponse;
  errorResponse?: ServerResponse;
}

/** A route (`GET /api/v1/routes/{name}`). */
export interface Route {
  name: string;
  connection: string;
  enabled: boolean;
  description: string;
  bus: number;
  filter: RouteFilter | null;
  scenario: RouteAction[];
  attributes: RouteAttributes | null;
  response: ServerResponse | null;
  errorResponse: ServerResponse | null;
  /** The single route's GET and an edit's answer: every setting, for the form. */
  settings?: RouteStored;
}

/** What a write of a route answers (`RouteWrite`; the fields used). */
export interface RouteWrite {
  route: Route;
  etag: string;
  applied: boolean;
}

/** A delivery state. */
export type DeliveryState = 'pending' | 'done' | 'dead';

/** A delivery, as either list shows it (`messageId` only across routes: it is `id`'s last part). */
export type Delivery = Schemas['ListedDelivery'];

/** One page of deliveries. */
export type DeliveryPage = Schemas['DeliveryList'];

/** Every configured route (viewer). */
export async function listRoutes(): Promise<Route[]> {
  return (await routesAndBuses()).routes;
}

/** Every configured route and the number of buses the service runs (a route's bus is 0..buses-1). */
export function routesAndBuses(): Promise<{ routes: Route[]; buses: number }> {
  return call<{ routes: Route[]; buses: number }>('GET', '/api/v1/routes');
}

/** One route (viewer); 404 when there is none of this name. */
export async function getRoute(name: string): Promise<Route> {
  return call<Route>('GET', `/api/v1/routes/${seg(name)}`);
}

/** The configuration file's version (admin): what an edit sends as If-Match. Asked before the route is read, so a change between the two is a conflict, never lost. */
export async function configVersion(): Promise<string> {
  return (await call<{ etag: string }>('GET', '/api/v1/config')).etag;
}

/** A request that changes the configuration, with `If-Match: "<etag>"` when a version is known. */
async function edit<T>(method: string, path: string, etag: string | null, body?: unknown): Promise<T> {
  const res = await request(method, path, { ...(body !== undefined ? { body } : {}), headers: etag ? { 'if-match': `"${etag}"` } : {} });
  const text = await res.text();
  return (text ? JSON.parse(text) : null) as T;
}

/** Adds a route (admin); `body` is the route as the configuration file takes it. */
export function createRoute(body: Record<string, unknown>, etag: string | null): Promise<RouteWrite> {
  return edit<RouteWrite>('POST', '/api/v1/routes', etag, body);
}

/** Changes a route by a JSON merge patch (admin). */
export function patchRoute(name: string, patch: Record<string, unknown>, etag: string | null): Promise<RouteWrite> {
  return edit<RouteWrite>('PATCH', `/api/v1/routes/${seg(name)}`, etag, patch);
}

/** Enables or disables a route (admin). */
export function setRouteEnabled(name: string, enabled: boolean, etag: string | null): Promise<RouteWrite> {
  return edit<RouteWrite>('POST', `/api/v1/routes/${seg(name)}/${enabled ? 'enable' : 'disable'}`, etag);
}

/** Removes a route (admin); its pending deliveries stay on the bus. */
export function deleteRoute(name: string, etag: string | null): Promise<{ deleted: string; etag: string }> {
  return edit('DELETE', `/api/v1/routes/${seg(name)}`, etag);
}

/** What a page of deliveries is asked for. */
export interface DeliveryQuery {
  state?: DeliveryState | undefined;
  /** A route: its own list (`/routes/{name}/deliveries`) when `own`, else the filter of the list across routes. */
  route?: string | undefined;
  own?: boolean;
  cursor?: string | null | undefined;
  limit?: number;
}

/** One page of deliveries, across routes or of one route's own list. */
export async function listDeliveries(q: DeliveryQuery): Promise<DeliveryPage> {
  const p = new URLSearchParams();
  if (q.state) p.set('state', q.state);
  if (q.route && !q.own) p.set('route', q.route);
  if (q.cursor) p.set('cursor', q.cursor);
  if (q.limit) p.set('limit', String(q.limit));
  const path = q.own && q.route ? `/api/v1/routes/${seg(q.route)}/deliveries` : '/api/v1/deliveries';
  const qs = p.toString();
  return call<DeliveryPage>('GET', qs ? `${path}?${qs}` : path);
}

/** Puts a route's dead letters back to pending (admin): `ids`, or every dead letter of the route. */
export function retryDeliveries(route: string, ids?: string[]): Promise<{ replayed: number; ids: string[]; notDead: string[] }> {
  return call('POST', `/api/v1/routes/${seg(route)}/deliveries/retry`, ids ? { ids } : {});
}
