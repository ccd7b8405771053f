/**
 * The mailbox operations of the EWS simulator (GetFolder, FindFolder, FindItem, GetItem,
 * DeleteItem, MoveItem, UpdateItem, SyncFolderItems), each answering Exchange's response
 * messages (MS-OXWSFOLD, MS-OXWSSRCH, MS-OXWSCORE, MS-OXWSMSG, MS-OXWSSYNC), one per request
 * element with per-element errors such as ErrorItemNotFound.
 */
import { randomBytes } from 'node:crypto';
import type { Mailbox, SimFolder, SimItem } from './mailbox.js';
import { itemIdEl, matches, readShape, renderFolder, renderItem, fieldValue, folderReader, type Shape } from './items.js';
import { ERROR_TEXT, errorMessage, success } from './soap.js';
import { child, childrenNamed, el, textEl, type XmlElement } from './xml.js';

/** What an operation sees of the server besides its request. */
export interface OpContext {
  mailbox: Mailbox;
  /** SMTP addresses that have a mailbox (others are ErrorNonExistentMailbox). */
  addresses: string[];
  syncStates: SyncStates;
}

/** An operation: the request's operation element in, the response messages out. */
export type Operation = (req: XmlElement, ctx: OpContext) => string[];

/** An error message named for the operation with the standard text for `code`. */
export function err(op: string, code: string, inner?: string): string {
  return errorMessage(`${op}ResponseMessage`, code, ERROR_TEXT[code] ?? code, inner ? { inner } : {});
}

/** A FolderId / DistinguishedFolderId element to a folder, or the error code Exchange answers. */
export function resolveFolder(ref: XmlElement | undefined, ctx: OpContext): SimFolder | string {
  if (!ref) return 'ErrorInvalidRequest';
  const id = ref.attrs['Id'] ?? '';
  if (ref.name === 'DistinguishedFolderId') {
    const address = child(child(ref, 'Mailbox'), 'EmailAddress')?.text.trim();
    if (address && !ctx.addresses.some((a) => a.toLowerCase() === address.toLowerCase())) return 'ErrorNonExistentMailbox';
    return ctx.mailbox.distinguished(id) ?? 'ErrorFolderNotFound';
  }
  return ctx.mailbox.folders.get(id) ?? 'ErrorFolderNotFound';
}

const folderRefs = (parent: XmlElement | undefined): XmlElement[] =>
  parent?.children.filter((c) => c.name === 'FolderId' || c.name === 'DistinguishedFolderId') ?? [];

const getFolder: Operation = (req, ctx) => {
  const shape = readShape(child(req, 'FolderShape'));
  return folderRefs(child(req, 'FolderIds')).map((ref) => {
    const f = resolveFolder(ref, ctx);
    return typeof f === 'string' ? err('GetFolder', f) : success('GetFolderResponseMessage', `<m:Folders>${renderFolder(f, ctx.mailbox, shape)}</m:Folders>`);
  });
};

/** Paging of an IndexedPage*View: the page and the RootFolder attributes. */
function page<T>(all: T[], view: XmlElement | undefined): { page: T[]; attrs: Record<string, string | number | boolean> } {
  if (!view || view.name !== 'IndexedPageItemView' && view.name !== 'IndexedPageFolderView') {
    return { page: all, attrs: { TotalItemsInView: all.length, IncludesLastItemInRange: true } };
  }
  const max = view.attrs['MaxEntriesReturned'] ? Number(view.attrs['MaxEntriesReturned']) : Infinity;
  const offset = Number(view.attrs['Offset'] ?? 0);
  const fromEnd = view.attrs['BasePoint'] === 'End';
  const start = fromEnd ? Math.max(0, all.length - offset - (Number.isFinite(max) ? max : all.length)) : offset;
  const end = fromEnd ? all.length - offset : Math.min(all.length, start + max);
  const p = all.slice(start, Math.max(start, end));
  const last = fromEnd ? start === 0 : end >= all.length;
  return { page: p, attrs: { IndexedPagingOffset: fromEnd ? all.length - start : start + p.length, TotalItemsInView: all.length, IncludesLastItemInRange: last } };
}

const findFolder: Operation = (req, ctx) => {
  const shape = readShape(child(req, 'FolderShape'));
  const deep = req.attrs['Traversal'] === 'Deep';
  const restriction = child(req, 'Restriction');
  return folderRefs(child(req, 'ParentFolderIds')).map((ref) => {
    const parent = resolveFolder(ref, ctx);
    if (typeof parent === 'string') return err('FindFolder', parent);
    const collect = (p: SimFolder): SimFolder[] => ctx.mailbox.childFolders(p.id).flatMap((c) => [c, ...(deep ? collect(c) : [])]);
    // Exchange compares display names case-insensitively; the reader lower-cases both sides for that.
    const found = collect(parent).filter((f) => matches(caseless(folderReader(f, ctx.mailbox)), restriction && lowerConstants(restriction)));
    const { page: shown, attrs } = page(found, child(req, 'IndexedPageFolderView'));
    return success('FindFolderResponseMessage', el('m:RootFolder', attrs, `<t:Folders>${shown.map((f) => renderFolder(f, ctx.mailbox, shape)).join('')}</t:Folders>`));
  });
};

/** Folder names compare case-insensitively: string field values and constants are lower-cased. */
const caseless = (read: (f: XmlElement | undefined) => string | number | boolean | undefined) => (f: XmlElement | undefined) => {
  const v = read(f);
  return typeof v === 'string' ? v.toLowerCase() : v;
};

function lowerConstants(e: XmlElement): XmlElement {
  const attrs = e.name === 'Constant' && e.attrs['Value'] !== undefined ? { ...e.attrs, Value: e.attrs['Value'].toLowerCase() } : e.attrs;
  return { ...e, attrs, children: e.children.map(lowerConstants) };
}

function sorted(items: SimItem[], mb: Mailbox, order: XmlElement | undefined): SimItem[] {
  const fields: Array<{ field: XmlElement | undefined; desc: boolean }> = childrenNamed(order, 'FieldOrder').map((o) => ({ field: o.children[0], desc: o.attrs['Order'] === 'Descending' }));
  if (fields.length === 0) fields.push({ field: { ns: '', name: 'FieldURI', attrs: { FieldURI: 'item:DateTimeReceived' }, children: [], text: '' }, desc: true });
  return [...items].sort((a, b) => {
    for (const f of fields) {
      const x = fieldValue(a, mb, f.field) ?? 0, y = fieldValue(b, mb, f.field) ?? 0;
      if (x !== y) return (x < y ? -1 : 1) * (f.desc ? -1 : 1);
    }
    return 0;
  });
}

const findItem: Operation = (req, ctx) => {
  const shape = readShape(child(req, 'ItemShape'));
  return folderRefs(child(req, 'ParentFolderIds')).map((ref) => {
    const f = resolveFolder(ref, ctx);
    if (typeof f === 'string') return err('FindItem', f);
    const all = sorted(ctx.mailbox.itemsIn(f.id).filter((i) => matches((field) => fieldValue(i, ctx.mailbox, field), child(req, 'Restriction'))), ctx.mailbox, child(req, 'SortOrder'));
    const { page: shown, attrs } = page(all, child(req, 'IndexedPageItemView'));
    const inner = shown.map((i) => renderItem(i, ctx.mailbox, shape)).join('');
    return success('FindItemResponseMessage', el('m:RootFolder', attrs, inner === '' ? '<t:Items/>' : `<t:Items>${inner}</t:Items>`));
  });
};

const itemRefs = (req: XmlElement): XmlElement[] => childrenNamed(child(req, 'ItemIds'), 'ItemId');

const getItem: Operation = (req, ctx) => {
  const shape: Shape = readShape(child(req, 'ItemShape'));
  return itemRefs(req).map((ref) => {
    const item = ctx.mailbox.item(ref.attrs['Id'] ?? '');
    return item ? success('GetItemResponseMessage', `<m:Items>${renderItem(item, ctx.mailbox, shape)}</m:Items>`) : err('GetItem', 'ErrorItemNotFound', '<m:Items/>');
  });
};

const deleteItem: Operation = (req, ctx) => {
  const type = req.attrs['DeleteType'] ?? 'MoveToDeletedItems';
  const trash = ctx.mailbox.distinguished('deleteditems')!;
  return itemRefs(req).map((ref) => {
    const item = ctx.mailbox.item(ref.attrs['Id'] ?? '');
    if (!item) return err('DeleteItem', 'ErrorItemNotFound');
    // Exchange soft-deletes what is already in Deleted Items instead of moving it onto itself.
    if (type === 'MoveToDeletedItems' && item.folder !== trash.id) ctx.mailbox.move(item.id, trash.id);
    else ctx.mailbox.remove(item.id);
    return success('DeleteItemResponseMessage');
  });
};

const moveItem: Operation = (req, ctx) => {
  const to = resolveFolder(child(req, 'ToFolderId')?.children[0], ctx);
  return itemRefs(req).map((ref) => {
    if (typeof to === 'string') return err('MoveItem', to, '<m:Items/>');
    const item = ctx.mailbox.item(ref.attrs['Id'] ?? '');
    if (!item) return err('MoveItem', 'ErrorItemNotFound', '<m:Items/>');
    const moved = ctx.mailbox.move(item.id, to.id);
    return success('MoveItemResponseMessage', `<m:Items><t:Message>${itemIdEl(moved)}</t:Message></m:Items>`);
  });
};

/** The changes of one ItemChange that the simulator applies: IsRead and Categories. */
function readChanges(updates: XmlElement | undefined): { isRead?: boolean; categories?: string[] } {
  const out: { isRead?: boolean; categories?: string[] } = {};
  for (const u of updates?.children ?? []) {
    const uri = child(u, 'FieldURI')?.attrs['FieldURI'];
    const value = u.children.find((c) => c.name === 'Message' || c.name === 'Item');
    if (uri === 'message:IsRead' && u.name === 'SetItemField') out.isRead = child(value, 'IsRead')?.text.trim() === 'true';
    if (uri === 'item:Categories') {
      const list = childrenNamed(child(value, 'Categories'), 'String').map((s) => s.text);
      out.categories = u.name === 'DeleteItemField' ? [] : list;
    }
  }
  return out;
}

const updateItem: Operation = (req, ctx) => {
  const overwrite = req.attrs['ConflictResolution'] !== 'NeverOverwrite';
  return childrenNamed(child(req, 'ItemChanges'), 'ItemChange').map((change) => {
    const ref = child(change, 'ItemId');
    const item = ctx.mailbox.item(ref?.attrs['Id'] ?? '');
    if (!item) return err('UpdateItem', 'ErrorItemNotFound', '<m:Items/>');
    const key = ref?.attrs['ChangeKey'];
    if (!overwrite && key && key !== item.changeKey) return err('UpdateItem', 'ErrorIrresolvableConflict', '<m:Items/>');
    const updated = ctx.mailbox.update(item.id, readChanges(child(change, 'Updates')));
    return success('UpdateItemResponseMessage', `<m:Items><t:Message>${itemIdEl(updated)}</t:Message></m:Items><m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>`);
  });
};

/**
 * SyncFolderItems states, kept here and handed out as opaque base64 like Exchange's: a state
 * names its folder, the change sequence it saw and the changes still owed from a page cut by
 * MaxChangesReturned. `invalidate` makes every state handed out so far unusable.
 */
export class SyncStates {
  private readonly states = new Map<string, { folderId: string; seq: number; pending: Array<{ kind: string; itemId: string }> }>();

  issue(folderId: string, seq: number, pending: Array<{ kind: string; itemId: string }>): string {
    const token = randomBytes(96).toString('base64');
    this.states.set(token, { folderId, seq, pending });
    return token;
  }

  get(token: string): { folderId: string; seq: number; pending: Array<{ kind: string; itemId: string }> } | undefined {
    return this.states.get(token);
  }

  invalidate(): void {
    this.states.clear();
  }
}

const syncFolderItems: Operation = (req, ctx) => {
  const shape = readShape(child(req, 'ItemShape'));
  const f = resolveFolder(child(req, 'SyncFolderId')?.children[0], ctx);
  if (typeof f === 'string') return [err('SyncFolderItems', f)];
  const token = child(req, 'SyncState')?.text.trim() ?? '';
  let changes: Array<{ kind: string; itemId: string }>;
  if (token === '') changes = ctx.mailbox.itemsIn(f.id).sort((a, b) => a.received.getTime() - b.received.getTime()).map((i) => ({ kind: 'Create', itemId: i.id }));
  else {
    const state = ctx.syncStates.get(token);
    if (!state || state.folderId !== f.id) return [err('SyncFolderItems', 'ErrorInvalidSyncStateData')];
    changes = [...state.pending, ...ctx.mailbox.changesSince(f.id, state.seq)];
  }
  const max = Number(child(req, 'MaxChangesReturned')?.text ?? 512);
  const now = changes.slice(0, max);
  const rest = changes.slice(max);
  const render = (c: { kind: string; itemId: string }): string => {
    const item = ctx.mailbox.item(c.itemId);
    if (c.kind === 'Delete' || !item) return `<t:Delete>${el('t:ItemId', { Id: c.itemId })}</t:Delete>`;
    if (c.kind === 'ReadFlagChange') return `<t:ReadFlagChange>${itemIdEl(item)}${textEl('t:IsRead', item.isRead)}</t:ReadFlagChange>`;
    return `<t:${c.kind}>${renderItem(item, ctx.mailbox, shape)}</t:${c.kind}>`;
  };
  const state = ctx.syncStates.issue(f.id, ctx.mailbox.seq, rest);
  const list = now.map(render).join('');
  return [success('SyncFolderItemsResponseMessage',
    `${textEl('m:SyncState', state)}${textEl('m:IncludesLastItemInRange', rest.length === 0)}${list === '' ? '<m:Changes/>' : `<m:Changes>${list}</m:Changes>`}`)];
};

/** The mailbox operations by name. */
export const MAILBOX_OPERATIONS: Record<string, Operation> = {
  GetFolder: getFolder, FindFolder: findFolder, FindItem: findItem, GetItem: getItem, DeleteItem: deleteItem,
  MoveItem: moveItem, UpdateItem: updateItem, SyncFolderItems: syncFolderItems,
};

/** How many response messages a request expects (one per folder, item or change it names). */
export function expectedMessages(req: XmlElement): number {
  const n = folderRefs(child(req, 'FolderIds')).length + folderRefs(child(req, 'ParentFolderIds')).length + itemRefs(req).length +
    childrenNamed(child(req, 'ItemChanges'), 'ItemChange').length;
  return Math.max(1, n);
}
