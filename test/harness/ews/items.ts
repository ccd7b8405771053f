/**
 * Items and folders as EWS shows them: the response shape (BaseShape plus AdditionalProperties,
 * MS-OXWSCORE 2.2.4), elements in the schema's order (types.xsd ItemType, MessageType,
 * FolderType), the few MAPI extended properties clients ask for, and restrictions
 * (MS-OXWSSRCH 2.2.4) over the fields the simulator knows.
 */
import { createHash } from 'node:crypto';
import type { Mailbox, SimFolder, SimItem } from './mailbox.js';
import { child, childrenNamed, el, textEl, type XmlElement } from './xml.js';

/** An ExtendedFieldURI as asked (echoed back as asked, as Exchange does). */
export interface ExtendedRef { attrs: Record<string, string> }

/** What a request asked to see of each item or folder. */
export interface Shape { base: string; fields: Set<string>; extended: ExtendedRef[]; mime: boolean }

/** Reads an ItemShape / FolderShape element. */
export function readShape(shape: XmlElement | undefined): Shape {
  const props = child(shape, 'AdditionalProperties');
  return {
    base: child(shape, 'BaseShape')?.text.trim() ?? 'Default',
    fields: new Set(childrenNamed(props, 'FieldURI').map((f) => f.attrs['FieldURI'] ?? '')),
    extended: childrenNamed(props, 'ExtendedFieldURI').map((f) => ({ attrs: f.attrs })),
    mime: child(shape, 'IncludeMimeContent')?.text.trim() === 'true',
  };
}

/** The header block of a raw message, unfolded, by lower-case name (first occurrence). */
export function headers(raw: Buffer): Map<string, string> {
  const text = raw.subarray(0, Math.min(raw.length, 64 * 1024)).toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const out = new Map<string, string>();
  for (const line of (end < 0 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) {
      const name = line.slice(0, i).trim().toLowerCase();
      if (!out.has(name)) out.set(name, line.slice(i + 1).trim());
    }
  }
  return out;
}

/** A date as Exchange writes it: UTC, whole seconds. */
export const iso = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A field's value for restrictions and sorting: a FieldURI or an ExtendedFieldURI element. */
export function fieldValue(item: SimItem, mb: Mailbox, field: XmlElement | undefined): string | number | boolean | undefined {
  if (field?.name === 'ExtendedFieldURI') {
    const v = extendedValue(item, mb, field.attrs);
    return v === undefined ? undefined : typeof v !== 'string' ? v.join(',') : /^\d+$/.test(v) ? Number(v) : v;
  }
  switch (field?.attrs['FieldURI']) {
    case 'message:IsRead': return item.isRead;
    case 'item:DateTimeReceived': return item.received.getTime();
    case 'item:Size': return item.raw.length;
    case 'item:Subject': return headers(item.raw).get('subject') ?? '';
    case 'item:ItemClass': return 'IPM.Note';
    default: return undefined;
  }
}

/**
 * MAPI properties (MS-OXPROPS) the simulator can answer for ExtendedFieldURI requests, by tag or
 * by name; a property an item does not have is left out, as Exchange leaves it out. A string
 * array is returned as an array (t:Values).
 */
function extendedValue(item: SimItem, mb: Mailbox, ref: Record<string, string>): string | string[] | undefined {
  if (ref['PropertyName'] === 'Keywords' && ref['DistinguishedPropertySetId'] === 'PublicStrings') return item.categories.length > 0 ? item.categories : undefined;
  if (ref['PropertyName'] !== undefined && ref['DistinguishedPropertySetId'] === 'InternetHeaders') return headers(item.raw).get(ref['PropertyName'].toLowerCase());
  const tag = Number.parseInt(ref['PropertyTag'] ?? '', 16);
  const h = headers(item.raw);
  switch (tag) {
    case 0x0e08: return String(item.raw.length); // PidTagMessageSize
    case 0x0e07: return String(item.isRead ? 1 : 0); // PidTagMessageFlags (mfRead)
    case 0x0e06: return iso(item.received); // PidTagMessageDeliveryTime
    case 0x3008: return iso(item.received); // PidTagLastModificationTime
    case 0x0e23: return String(mb.articles.get(item.id) ?? 0); // PidTagInternetArticleNumber
    case 0x0ff9: return createHash('sha256').update(item.id).digest().subarray(0, 22).toString('base64'); // PidTagRecordKey
    case 0x670e: return `/-FlatUrlSpace-/${createHash('sha256').update(item.id).digest('hex').slice(0, 40)}`; // PidTagFlatUrlName
    case 0x10f3: return `${(h.get('subject') ?? '').replace(/[\\/:*?"<>|]/g, '_')}.EML`; // PidTagUrlCompName
    case 0x1035: return h.get('message-id'); // PidTagInternetMessageId
    case 0x0037: return h.get('subject'); // PidTagSubject
    default: return undefined;
  }
}

/** The folder id elements (`t:ItemId` and friends) for an item. */
export function itemIdEl(item: SimItem, name = 't:ItemId'): string {
  return el(name, { Id: item.id, ChangeKey: item.changeKey });
}

function extendedEls(item: SimItem, mb: Mailbox, refs: ExtendedRef[]): string {
  let out = '';
  for (const r of refs) {
    const v = extendedValue(item, mb, r.attrs);
    if (v === undefined) continue;
    const value = typeof v === 'string' ? textEl('t:Value', v) : `<t:Values>${v.map((x) => textEl('t:Value', x)).join('')}</t:Values>`;
    out += `<t:ExtendedProperty>${el('t:ExtendedFieldURI', r.attrs)}${value}</t:ExtendedProperty>`;
  }
  return out;
}

function mailbox(addr: string | undefined, name: string): string {
  if (!addr) return '';
  const m = /<([^>]+)>/.exec(addr);
  const email = (m ? m[1]! : addr).trim();
  const display = (m ? addr.slice(0, m.index) : email).replace(/"/g, '').trim() || email;
  return `<${name}><t:Mailbox>${textEl('t:Name', display)}${textEl('t:EmailAddress', email)}<t:RoutingType>SMTP</t:RoutingType></t:Mailbox></${name}>`;
}

/**
 * MimeContent of more bytes than this is not put in the answer's text: a marker naming the item
 * stands there, and the service writes the base64 in slices as it sends the answer
 * ({@link mimeMarker}), so a 100 MB item is never held as base64 (133 MB) plus the envelope's copies.
 */
export const STREAM_MIME_OVER = 1024 * 1024;

/** The stand-in for a large item's base64 in an answer's text: U+0001 cannot occur in XML, so it cannot clash. */
export const mimeMarker = (itemId: string): string => `\u0001${itemId}\u0001`;

/** An item as `t:Message`, with what `shape` asked for, in types.xsd order. */
export function renderItem(item: SimItem, mb: Mailbox, shape: Shape): string {
  const all = shape.base === 'AllProperties';
  const dflt = all || shape.base === 'Default';
  const want = (uri: string, inDefault = false): boolean => shape.fields.has(uri) || all || (inDefault && dflt);
  const h = headers(item.raw);
  const folder = mb.folders.get(item.folder)!;
  let s = '<t:Message>';
  if (shape.mime) s += `<t:MimeContent CharacterSet="UTF-8">${item.raw.length > STREAM_MIME_OVER ? mimeMarker(item.id) : item.raw.toString('base64')}</t:MimeContent>`;
  s += itemIdEl(item);
  if (want('item:ParentFolderId')) s += el('t:ParentFolderId', { Id: folder.id, ChangeKey: folder.changeKey });
  if (want('item:ItemClass')) s += textEl('t:ItemClass', 'IPM.Note');
  if (want('item:Subject', true)) s += textEl('t:Subject', h.get('subject') ?? '');
  if (want('item:DateTimeReceived', true)) s += textEl('t:DateTimeReceived', iso(item.received));
  if (want('item:Size', true)) s += textEl('t:Size', item.raw.length);
  if (want('item:Categories') && item.categories.length > 0) s += `<t:Categories>${item.categories.map((c) => textEl('t:String', c)).join('')}</t:Categories>`;
  if (want('item:DateTimeSent')) {
    const d = h.get('date') ? new Date(h.get('date')!) : item.received;
    s += textEl('t:DateTimeSent', iso(Number.isNaN(d.getTime()) ? item.received : d));
  }
  if (want('item:DateTimeCreated')) s += textEl('t:DateTimeCreated', iso(item.received));
  if (want('item:HasAttachments', true)) s += textEl('t:HasAttachments', /^multipart\/mixed/i.test(h.get('content-type') ?? ''));
  s += extendedEls(item, mb, shape.extended);
  if (want('message:From', true)) s += mailbox(h.get('from'), 't:From');
  if (want('message:InternetMessageId')) s += h.get('message-id') ? textEl('t:InternetMessageId', h.get('message-id')!) : '';
  if (want('message:IsRead', true)) s += textEl('t:IsRead', item.isRead);
  return `${s}</t:Message>`;
}

/** A folder as `t:Folder` (or `t:CalendarFolder` and friends by class), in types.xsd order. */
export function renderFolder(f: SimFolder, mb: Mailbox, shape: Shape): string {
  const all = shape.base === 'AllProperties';
  const dflt = all || shape.base === 'Default';
  const want = (uri: string, inDefault = false): boolean => shape.fields.has(uri) || all || (inDefault && dflt);
  const items = mb.itemsIn(f.id);
  const tag = { 'IPF.Appointment': 't:CalendarFolder', 'IPF.Contact': 't:ContactsFolder', 'IPF.Task': 't:TasksFolder' }[f.folderClass] ?? 't:Folder';
  let s = `<${tag}>${el('t:FolderId', { Id: f.id, ChangeKey: f.changeKey })}`;
  const parent = f.parentId ? mb.folders.get(f.parentId) : undefined;
  if (want('folder:ParentFolderId') && parent) s += el('t:ParentFolderId', { Id: parent.id, ChangeKey: parent.changeKey });
  if (want('folder:FolderClass') && f.folderClass) s += textEl('t:FolderClass', f.folderClass);
  if (want('folder:DisplayName', true)) s += textEl('t:DisplayName', f.name);
  if (want('folder:TotalCount', true)) s += textEl('t:TotalCount', items.length);
  if (want('folder:ChildFolderCount', true)) s += textEl('t:ChildFolderCount', mb.childFolders(f.id).length);
  for (const r of shape.extended) {
    const v = folderExtended(f, mb, r.attrs['PropertyTag'] ?? '');
    if (v !== undefined) s += `<t:ExtendedProperty>${el('t:ExtendedFieldURI', r.attrs)}${textEl('t:Value', v)}</t:ExtendedProperty>`;
  }
  if (tag === 't:Folder' && want('folder:UnreadCount', true)) s += textEl('t:UnreadCount', items.filter((i) => !i.isRead).length);
  return `${s}</${tag}>`;
}

/** Folder MAPI properties (MS-OXPROPS) by tag; unknown ones are left out. */
function folderExtended(f: SimFolder, mb: Mailbox, tag: string): string | undefined {
  const items = mb.itemsIn(f.id);
  switch (tag.toLowerCase()) {
    case '0x3602': return String(items.length); // PidTagContentCount
    case '0x3603': return String(items.filter((i) => !i.isRead).length); // PidTagContentUnreadCount
    case '0x360a': return String(mb.childFolders(f.id).length > 0); // PidTagSubfolders
    case '0x3001': return f.name; // PidTagDisplayName
    case '0x3613': return f.folderClass; // PidTagContainerClass
    case '0x6751': return String(mb.nextArticle.get(f.id) ?? 1); // PidTagArticleNumNext
    case '0x0e08': case '0xe08': return String(items.reduce((n, i) => n + i.raw.length, 0)); // PidTagMessageSize
    default: return undefined;
  }
}

/** Reads a field (FieldURI / ExtendedFieldURI element) of whatever a restriction is evaluated on. */
export type FieldReader = (field: XmlElement | undefined) => string | number | boolean | undefined;

/** Evaluates a restriction (MS-OXWSSRCH SearchExpressionType); an absent field matches no comparison. */
export function matches(read: FieldReader, expr: XmlElement | undefined): boolean {
  if (!expr) return true;
  const sub = expr.children;
  switch (expr.name) {
    case 'Restriction': case 'And': return sub.every((c) => matches(read, c));
    case 'Or': return sub.some((c) => matches(read, c));
    case 'Not': return !matches(read, sub[0]);
    case 'Exists': return read(sub[0]) !== undefined;
    case 'Contains': {
      const v = read(sub[0]);
      const c = child(expr, 'Constant')?.attrs['Value'] ?? '';
      return typeof v === 'string' && v.toLowerCase().includes(c.toLowerCase());
    }
    default: return compare(read, expr);
  }
}

function compare(read: FieldReader, expr: XmlElement): boolean {
  const v = read(expr.children[0]);
  const raw = child(child(expr, 'FieldURIOrConstant'), 'Constant')?.attrs['Value'];
  if (v === undefined || raw === undefined) return false;
  const isDate = /DateTime/.test(expr.children[0]?.attrs['FieldURI'] ?? '') || expr.children[0]?.attrs['PropertyType'] === 'SystemTime';
  const c: string | number | boolean = typeof v === 'boolean' ? raw === 'true' : typeof v === 'number' ? (isDate ? Date.parse(raw) : Number(raw)) : raw;
  switch (expr.name) {
    case 'IsEqualTo': return v === c;
    case 'IsNotEqualTo': return v !== c;
    case 'IsGreaterThan': return v > c;
    case 'IsGreaterThanOrEqualTo': return v >= c;
    case 'IsLessThan': return v < c;
    case 'IsLessThanOrEqualTo': return v <= c;
    default: return false;
  }
}

/** A folder's fields for restrictions (FindFolder). */
export function folderReader(f: SimFolder, mb: Mailbox): FieldReader {
  return (field) => {
    if (field?.name === 'ExtendedFieldURI') {
      const v = folderExtended(f, mb, field.attrs['PropertyTag'] ?? '');
      return v === undefined || v === '' ? undefined : v;
    }
    return field?.attrs['FieldURI'] === 'folder:DisplayName' ? f.name : field?.attrs['FieldURI'] === 'folder:FolderClass' ? f.folderClass || undefined : undefined;
  };
}
