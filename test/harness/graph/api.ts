/**
 * Graph v1.0's mail API as the simulator serves it: a request (method, path under `/v1.0`, query,
 * headers, body) for an authenticated app becomes an answer. The same function answers direct
 * requests and the items of a `$batch`. Routes, with `{u}` a user's id or userPrincipalName and
 * `{f}` a folder id or well-known name (segments case-insensitive, keys also as `mailFolders('…')`):
 *
 * - `GET /users/{u}/mailFolders`, `…/mailFolders/{f}/childFolders` ("List mailFolders", "List
 *   childFolders"): `$filter=displayName eq '…'`, `$top`, `$skip`, `$select`, `includeHiddenFolders`
 * - `GET /users/{u}/mailFolders/{f}` ("Get mailFolder")
 * - `GET /users/{u}/mailFolders/{f}/messages` ("List messages"): `$select`, `$top`, `$skip`,
 *   `$orderby`, `$expand` of the size property; `@odata.nextLink` with `$skip`
 * - `GET /users/{u}/mailFolders/{f}/messages/delta` (delta.ts)
 * - `GET|PATCH|DELETE /users/{u}[/mailFolders/{f}]/messages/{id}`, `GET …/{id}/$value`,
 *   `POST …/{id}/move`, `POST …/{id}/permanentDelete` ("Get message", "Update message", "Delete
 *   message", "Get MIME content of a message", "message: move", "message: permanentDelete")
 *
 * Anything else, an unknown query option, a body that is not the documented JSON, is a 400 in
 * Graph's error shape, so a client's mistake shows instead of being answered leniently.
 */
import { GraphError, errors, jsonAnswer, type GraphAnswer } from './errors.js';
import type { GraphApp } from './identity.js';
import type { GraphFolder, GraphMailbox, GraphMessage } from './mailbox.js';
import { isWellFormedId } from './mailbox.js';
import { DEFAULT_DELTA_PAGE, type DeltaTokens } from './delta.js';
import { FOLDER_PROPERTIES, MESSAGE_PROPERTIES, SIZE_EXPAND, folderJson, messageJson, parseSelect } from './resources.js';

/** A user with a mailbox. */
export interface GraphUser { id: string; userPrincipalName: string; tenant: string; mailbox: GraphMailbox }

/** One request to the API (relative to `/v1.0`). */
export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | undefined>;
  /** The JSON body, parsed; undefined when there was none. */
  body: unknown;
}

/** What the API needs around it. */
export interface ApiContext {
  users: GraphUser[];
  delta: DeltaTokens;
  /** `https://127.0.0.1:PORT` (links are absolute, as Graph's). */
  baseUrl: string;
  /** Whether `app` may reach `user` (an application access policy). */
  allowed(app: GraphApp, user: GraphUser): boolean;
}

/** The operation a request is, for the request log and counters. */
export type Operation =
  | 'listFolders' | 'getFolder' | 'listMessages' | 'delta' | 'getMessage' | 'getValue' | 'updateMessage' | 'deleteMessage'
  | 'moveMessage' | 'permanentDelete' | 'batch' | 'token' | 'discovery' | 'unknown';

interface Segment { name: string; key: string | undefined }

/** Splits a path into segments, `name('key')` into name and key. */
function segments(path: string): Segment[] {
  return path.split('/').filter((s) => s !== '').map((raw) => {
    let s: string;
    try {
      s = decodeURIComponent(raw);
    } catch {
      throw errors.badRequest(`The path segment '${raw}' is not valid percent-encoding.`);
    }
    const m = /^([^(]+)\('(.*)'\)$/.exec(s);
    return m ? { name: m[1]!, key: m[2]!.replace(/''/g, "'") } : { name: s, key: undefined };
  });
}

/** Refuses query options other than `allowed` (system options compared case-insensitively). */
function onlyOptions(q: URLSearchParams, allowed: string[]): void {
  for (const k of q.keys()) {
    if (!allowed.some((a) => a.toLowerCase() === k.toLowerCase())) {
      throw errors.badRequest(k.startsWith('$') ? `Query option '${k}' is not allowed. Allowed here: ${allowed.join(', ') || 'none'}.` : `Unknown query parameter '${k}'.`);
    }
  }
}

function opt(q: URLSearchParams, name: string): string | null {
  for (const [k, v] of q) if (k.toLowerCase() === name.toLowerCase()) return v;
  return null;
}

function intOpt(q: URLSearchParams, name: string, fallback: number, max: number): number {
  const v = opt(q, name);
  if (v === null) return fallback;
  if (!/^\d+$/.test(v)) throw errors.badRequest(`Invalid value '${v}' for query option '${name}'.`);
  return Math.min(Number(v), max);
}

/** The answer to one API request for `app`; `op` is set to the operation it was. */
export function handleApi(ctx: ApiContext, app: GraphApp, r: ApiRequest, op: { name: Operation }): GraphAnswer {
  const seg = segments(r.path);
  if (seg[0]?.name.toLowerCase() === 'me') throw errors.badRequest('/me request is only valid with delegated authentication flow.');
  if (seg[0]?.name.toLowerCase() !== 'users' || seg.length < (seg[0].key !== undefined ? 2 : 3)) throw errors.noResource(seg[0]?.name ?? '');
  const userKey = seg[0].key ?? seg[1]!.name;
  const rest = seg[0].key !== undefined ? seg.slice(1) : seg.slice(2);
  const user = ctx.users.find((u) => u.id.toLowerCase() === userKey.toLowerCase() || u.userPrincipalName.toLowerCase() === userKey.toLowerCase());
  if (!user) throw new GraphError(404, 'ErrorInvalidUser', `The requested user '${userKey}' is invalid.`);
  if (!ctx.allowed(app, user)) throw new GraphError(403, 'ErrorAccessDenied', 'Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.');
  const userSeg = `/users/${encodeURIComponent(userKey)}`;
  const head = rest[0];
  if (head?.name.toLowerCase() === 'mailfolders') return folderRoutes(ctx, user, userSeg, rest, r, op);
  if (head?.name.toLowerCase() === 'messages') {
    if (head.key === undefined && rest.length === 1) throw errors.badRequest('The Graph simulator lists messages per folder only (GET /users/{u}/mailFolders/{f}/messages).');
    return messageRoutes(user, head.key ?? rest[1]!.name, head.key !== undefined ? rest.slice(1) : rest.slice(2), r, op);
  }
  throw errors.noResource(head?.name ?? '');
}

function folderOf(box: GraphMailbox, key: string): GraphFolder {
  const f = box.folder(key);
  if (f) return f;
  if (/^[a-z]+$/i.test(key) || !isWellFormedId(key, 'folder')) throw errors.malformedId();
  throw errors.notFound();
}

function folderRoutes(ctx: ApiContext, user: GraphUser, userSeg: string, rest: Segment[], r: ApiRequest, op: { name: Operation }): GraphAnswer {
  const box = user.mailbox;
  const head = rest[0]!;
  const afterKey = head.key !== undefined ? rest.slice(1) : rest.slice(2);
  const key = head.key ?? rest[1]?.name;
  if (key === undefined) return listFolders(ctx, user, box.root, `${userSeg}/mailFolders`, r, op);
  const folder = folderOf(box, key);
  const folderSeg = `${userSeg}/mailFolders('${encodeURIComponent(folder.id)}')`;
  const [s1, s2] = afterKey;
  if (!s1) {
    requireMethod(r, 'GET');
    op.name = 'getFolder';
    onlyOptions(r.query, ['$select']);
    return jsonAnswer(200, { '@odata.context': `${ctx.baseUrl}/v1.0/$metadata#users('${user.id}')/mailFolders/$entity`, ...folderJson(box, folder, parseSelect(opt(r.query, '$select'), FOLDER_PROPERTIES, 'mailFolder')) });
  }
  const n1 = s1.name.toLowerCase();
  if (n1 === 'childfolders' && s1.key === undefined && !s2) return listFolders(ctx, user, folder, `${folderSeg}/childFolders`, r, op);
  if (n1 !== 'messages') throw errors.noResource(s1.name);
  if (s1.key === undefined && !s2) return listMessages(ctx, user, folder, `${folderSeg}/messages`, r, op);
  if (s1.key === undefined && (s2!.name === 'delta' || s2!.name === 'microsoft.graph.delta') && afterKey.length === 2) return delta(ctx, box, folder, `${folderSeg}/messages/delta`, r, op);
  const id = s1.key ?? s2!.name;
  const m = messageOf(box, id);
  // A message named under another folder is not found, as Graph answers.
  if (m.folderId !== folder.id) throw errors.notFound();
  return messageRoutes(user, id, s1.key !== undefined ? afterKey.slice(1) : afterKey.slice(2), r, op);
}

function requireMethod(r: ApiRequest, ...methods: string[]): void {
  if (!methods.includes(r.method)) throw errors.methodNotAllowed();
}

function listFolders(ctx: ApiContext, user: GraphUser, parent: GraphFolder, link: string, r: ApiRequest, op: { name: Operation }): GraphAnswer {
  requireMethod(r, 'GET');
  const box = user.mailbox;
  op.name = 'listFolders';
  onlyOptions(r.query, ['$filter', '$top', '$skip', '$select', 'includeHiddenFolders']);
  const select = parseSelect(opt(r.query, '$select'), FOLDER_PROPERTIES, 'mailFolder');
  let list = box.childFolders(parent.id);
  const filter = opt(r.query, '$filter');
  if (filter !== null) {
    const m = /^displayName eq '((?:[^']|'')*)'$/.exec(filter.trim());
    if (!m) throw errors.badRequest(`The Graph simulator implements only $filter=displayName eq '…' on mail folders, not: ${filter}`);
    const name = m[1]!.replace(/''/g, "'").toLowerCase();
    list = list.filter((f) => f.displayName.toLowerCase() === name);
  }
  const top = intOpt(r.query, '$top', 10, 1000);
  const skip = intOpt(r.query, '$skip', 0, Number.MAX_SAFE_INTEGER);
  const page = list.slice(skip, skip + top);
  const body: Record<string, unknown> = { '@odata.context': `${ctx.baseUrl}/v1.0/$metadata#users('${user.id}')/mailFolders`, value: page.map((f) => folderJson(box, f, select)) };
  if (skip + top < list.length) body['@odata.nextLink'] = nextLink(ctx, link, r.query, skip + top);
  return jsonAnswer(200, body);
}

function nextLink(ctx: ApiContext, link: string, q: URLSearchParams, skip: number): string {
  const next = new URLSearchParams([...q].filter(([k]) => k.toLowerCase() !== '$skip'));
  next.set('$skip', String(skip));
  return `${ctx.baseUrl}/v1.0${link}?${next.toString().replace(/%24/g, '$')}`;
}

const ORDERABLE = ['receivedDateTime', 'sentDateTime', 'createdDateTime', 'lastModifiedDateTime', 'subject'];

function orderBy(value: string | null): (a: GraphMessage, b: GraphMessage) => number {
  // Outlook lists newest first when no order is asked for.
  if (value === null) return (a, b) => b.receivedDateTime.getTime() - a.receivedDateTime.getTime();
  const m = /^(\w+)(?:\s+(asc|desc))?$/i.exec(value.trim());
  const prop = m && ORDERABLE.find((p) => p.toLowerCase() === m[1]!.toLowerCase());
  if (!m || !prop) throw errors.badRequest(`The Graph simulator orders messages only by ${ORDERABLE.join(', ')} (asc|desc), not: ${value}`);
  const dir = m[2]?.toLowerCase() === 'desc' ? -1 : 1;
  const key = (x: GraphMessage): number | string =>
    prop === 'subject' ? x.subject ?? '' : (prop === 'sentDateTime' ? x.sentDateTime ?? x.receivedDateTime : (x[prop as 'receivedDateTime'])).getTime();
  return (a, b) => (key(a) < key(b) ? -dir : key(a) > key(b) ? dir : 0);
}

function expandSize(q: URLSearchParams): boolean {
  const e = opt(q, '$expand');
  if (e === null) return false;
  if (!SIZE_EXPAND.test(e.trim())) throw errors.badRequest(`The Graph simulator expands only singleValueExtendedProperties($filter=id eq 'Integer 0x0E08') (the message size), not: ${e}`);
  return true;
}

function listMessages(ctx: ApiContext, user: GraphUser, folder: GraphFolder, link: string, r: ApiRequest, op: { name: Operation }): GraphAnswer {
  requireMethod(r, 'GET');
  const box = user.mailbox;
  op.name = 'listMessages';
  onlyOptions(r.query, ['$select', '$top', '$skip', '$orderby', '$expand']);
  const select = parseSelect(opt(r.query, '$select'), MESSAGE_PROPERTIES, 'message');
  const size = expandSize(r.query);
  const list = box.messagesIn(folder.id).sort(orderBy(opt(r.query, '$orderby')));
  const top = intOpt(r.query, '$top', 10, 1000);
  const skip = intOpt(r.query, '$skip', 0, Number.MAX_SAFE_INTEGER);
  const body: Record<string, unknown> = { '@odata.context': `${ctx.baseUrl}/v1.0/$metadata#users('${user.id}')/mailFolders('${folder.id}')/messages`, value: list.slice(skip, skip + top).map((m) => messageJson(m, select, size)) };
  if (skip + top < list.length) body['@odata.nextLink'] = nextLink(ctx, link, r.query, skip + top);
  return jsonAnswer(200, body);
}

/** `Prefer: odata.maxpagesize=N`, if asked for. */
function maxPageSize(prefer: string | undefined): number | undefined {
  const m = /(?:^|[,;\s])odata\.maxpagesize\s*=\s*"?(\d+)"?/i.exec(prefer ?? '');
  return m ? Math.max(1, Number(m[1])) : undefined;
}

function delta(ctx: ApiContext, box: GraphMailbox, folder: GraphFolder, link: string, r: ApiRequest, op: { name: Operation }): GraphAnswer {
  requireMethod(r, 'GET');
  op.name = 'delta';
  const skiptoken = opt(r.query, '$skiptoken');
  const deltatoken = opt(r.query, '$deltatoken');
  if (skiptoken !== null || deltatoken !== null) onlyOptions(r.query, [skiptoken !== null ? '$skiptoken' : '$deltatoken']);
  else onlyOptions(r.query, ['$select']);
  const state = skiptoken !== null
    ? ctx.delta.resume('skiptoken', skiptoken)
    : deltatoken !== null
      ? ctx.delta.resume('deltatoken', deltatoken)
      : ctx.delta.start(box, folder.id, parseSelect(opt(r.query, '$select'), MESSAGE_PROPERTIES, 'message'));
  if (state.folderId !== folder.id || state.mailbox !== box) throw new GraphError(410, 'SyncStateNotFound', 'The sync state does not belong to this folder.');
  const asked = maxPageSize(r.headers.prefer);
  const page = ctx.delta.page(state, asked ?? DEFAULT_DELTA_PAGE);
  const body: Record<string, unknown> = { '@odata.context': `${ctx.baseUrl}/v1.0/$metadata#Collection(message)`, value: page.items };
  const url = `${ctx.baseUrl}/v1.0${link}`;
  if ('skiptoken' in page.next) body['@odata.nextLink'] = `${url}?$skiptoken=${page.next.skiptoken}`;
  else body['@odata.deltaLink'] = `${url}?$deltatoken=${page.next.deltatoken}`;
  return jsonAnswer(200, body, asked !== undefined ? { 'Preference-Applied': `odata.maxpagesize=${asked}` } : {});
}

function messageOf(box: GraphMailbox, id: string): GraphMessage {
  const m = box.message(id);
  if (m) return m;
  if (!isWellFormedId(id, 'message')) throw errors.malformedId();
  throw errors.notFound();
}

function jsonBody(r: ApiRequest): Record<string, unknown> {
  if (r.body === undefined || r.body === null || typeof r.body !== 'object' || Array.isArray(r.body)) throw errors.badRequest('Empty Payload. JSON content expected.');
  return r.body as Record<string, unknown>;
}

function messageRoutes(user: GraphUser, id: string, after: Segment[], r: ApiRequest, op: { name: Operation }): GraphAnswer {
  const box = user.mailbox;
  const m = messageOf(box, id);
  const action = after[0]?.name;
  if (after.length > 1) throw errors.noResource(after[1]!.name);
  if (action === undefined) {
    if (r.method === 'GET') {
      op.name = 'getMessage';
      onlyOptions(r.query, ['$select', '$expand']);
      return jsonAnswer(200, messageJson(m, parseSelect(opt(r.query, '$select'), MESSAGE_PROPERTIES, 'message'), expandSize(r.query)));
    }
    onlyOptions(r.query, []);
    if (r.method === 'PATCH') {
      op.name = 'updateMessage';
      return jsonAnswer(200, messageJson(box.update(m.id, patchOf(jsonBody(r))), undefined));
    }
    if (r.method === 'DELETE') {
      op.name = 'deleteMessage';
      // Graph's delete is Outlook's: into Deleted Items, or out of sight when it is there already.
      const deleted = box.folder('deleteditems')!;
      if (m.folderId === deleted.id) box.remove(m.id);
      else box.move(m.id, deleted.id);
      return { status: 204, headers: {} };
    }
    throw errors.methodNotAllowed();
  }
  onlyOptions(r.query, []);
  switch (action.toLowerCase()) {
    case '$value':
      requireMethod(r, 'GET');
      op.name = 'getValue';
      return { status: 200, headers: { 'Content-Type': 'text/plain' }, raw: m.raw };
    case 'move':
    case 'microsoft.graph.move': {
      requireMethod(r, 'POST');
      op.name = 'moveMessage';
      const b = jsonBody(r);
      const extra = Object.keys(b).filter((k) => k !== 'destinationId');
      if (typeof b.destinationId !== 'string' || extra.length > 0) throw errors.badRequest(`The move action takes {"destinationId": "<folder id or well-known name>"}${extra.length ? `; unknown: ${extra.join(', ')}` : ''}.`);
      const to = box.folder(b.destinationId);
      if (!to) throw isWellFormedId(b.destinationId, 'folder') ? errors.notFound() : errors.malformedId();
      return jsonAnswer(201, messageJson(box.move(m.id, to.id), undefined));
    }
    case 'permanentdelete':
    case 'microsoft.graph.permanentdelete':
      requireMethod(r, 'POST');
      op.name = 'permanentDelete';
      if (r.body !== undefined) throw errors.badRequest("Don't supply a request body for this method.");
      box.remove(m.id);
      return { status: 204, headers: {} };
    default:
      throw errors.noResource(action);
  }
}

/** The documented writable properties this simulator keeps; anything else in the body is refused. */
function patchOf(b: Record<string, unknown>): { isRead?: boolean; categories?: string[]; flagStatus?: 'notFlagged' | 'complete' | 'flagged' } {
  const out: { isRead?: boolean; categories?: string[]; flagStatus?: 'notFlagged' | 'complete' | 'flagged' } = {};
  for (const [k, v] of Object.entries(b)) {
    if (k === 'isRead' && typeof v === 'boolean') out.isRead = v;
    else if (k === 'categories' && Array.isArray(v) && v.every((c) => typeof c === 'string')) out.categories = v as string[];
    else if (k === 'flag' && v && typeof v === 'object' && ['notFlagged', 'complete', 'flagged'].includes(String((v as Record<string, unknown>).flagStatus))) {
      out.flagStatus = (v as { flagStatus: 'notFlagged' | 'complete' | 'flagged' }).flagStatus;
    } else if (MESSAGE_PROPERTIES.includes(k as (typeof MESSAGE_PROPERTIES)[number])) {
      throw errors.badRequest(`The Graph simulator updates only isRead, categories and flag.flagStatus, not '${k}' (or its value has the wrong type).`);
    } else throw errors.badRequest(`Invalid request. Property '${k}' does not exist on type 'microsoft.graph.message'.`);
  }
  return out;
}

/** The operation a request would be, from its method and path alone (for requests refused before routing, e.g. throttled). */
export function operationOf(method: string, path: string): Operation {
  const p = path.toLowerCase().replace(/\?.*$/, '');
  if (p.endsWith('/$batch')) return 'batch';
  if (/\/messages\/(microsoft\.graph\.)?delta$/.test(p)) return 'delta';
  if (p.endsWith('/$value')) return 'getValue';
  if (/\/(microsoft\.graph\.)?move$/.test(p)) return 'moveMessage';
  if (/\/(microsoft\.graph\.)?permanentdelete$/.test(p)) return 'permanentDelete';
  if (/\/messages(\('[^']*'\)|\/[^/]+)$/.test(p)) return method === 'PATCH' ? 'updateMessage' : method === 'DELETE' ? 'deleteMessage' : 'getMessage';
  if (p.endsWith('/messages')) return 'listMessages';
  if (/\/(mailfolders|childfolders)$/.test(p)) return 'listFolders';
  if (/\/mailfolders(\('[^']*'\)|\/[^/]+)$/.test(p)) return 'getFolder';
  return 'unknown';
}
