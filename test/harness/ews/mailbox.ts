/**
 * The EWS simulator's mailbox: folders (the distinguished ones of MS-OXWSFOLD under
 * msgfolderroot, plus custom paths), items with opaque ItemIds and ChangeKeys that change on
 * every update (as Exchange's do), a per-folder change log for SyncFolderItems, and the hooks the
 * notification subscriptions listen on.
 */
import { randomBytes } from 'node:crypto';

/** One message in the simulated mailbox (the API's SimItem). */
export interface SimItem {
  id: string;
  changeKey: string;
  folder: string;
  raw: Buffer;
  isRead: boolean;
  categories: string[];
  received: Date;
}

/** A folder; `path` is its display path under msgfolderroot ('Inbox/Journal'). */
export interface SimFolder {
  id: string;
  changeKey: string;
  name: string;
  parentId: string | undefined;
  /** The DistinguishedFolderIdNameType value when it is one ('inbox', 'msgfolderroot', …). */
  distinguished: string | undefined;
  folderClass: string;
  path: string;
}

/** What happened to an item in a folder, for the change log and the subscriptions. */
export type MailboxChange =
  | { kind: 'created'; item: SimItem; newMail: boolean }
  | { kind: 'deleted'; itemId: string; folderId: string }
  | { kind: 'moved'; item: SimItem; oldItemId: string; oldFolderId: string }
  | { kind: 'modified'; item: SimItem; readOnly: boolean };

interface LogEntry { seq: number; itemId: string; kind: 'in' | 'out' | 'update' | 'read' }

/**
 * Exchange's ids are base64 of a binary store id (an entry id with the mailbox GUID and a
 * counter), some 150 characters with `+`, `/` and `=`; clients must treat them as opaque, so
 * these are the same kind of string, not a readable counter.
 */
function opaqueId(prefix: number, n: number, bytes: number): string {
  const b = randomBytes(bytes);
  b.writeUInt8(prefix, 0);
  b.writeUInt32BE(n, 1);
  return b.toString('base64');
}

const WELL_KNOWN: Array<[distinguished: string, name: string, folderClass: string]> = [
  ['inbox', 'Inbox', 'IPF.Note'],
  ['deleteditems', 'Deleted Items', 'IPF.Note'],
  ['drafts', 'Drafts', 'IPF.Note'],
  ['sentitems', 'Sent Items', 'IPF.Note'],
  ['outbox', 'Outbox', 'IPF.Note'],
  ['junkemail', 'Junk Email', 'IPF.Note'],
  ['calendar', 'Calendar', 'IPF.Appointment'],
  ['contacts', 'Contacts', 'IPF.Contact'],
  ['tasks', 'Tasks', 'IPF.Task'],
];

/** The simulated mailbox. Every change goes through here so the change log stays complete. */
export class Mailbox {
  readonly folders = new Map<string, SimFolder>();
  private readonly itemsById = new Map<string, SimItem>();
  private readonly log = new Map<string, LogEntry[]>();
  private counter = 0;
  /** A global change sequence (SyncFolderItems states point into it). */
  seq = 0;
  readonly listeners = new Set<(c: MailboxChange) => void>();
  /**
   * PidTagInternetArticleNumber of each item and the next one of each folder (PidTagArticleNumNext):
   * the store numbers the messages of a folder in arrival order, as IMAP UIDs; davmail uses them.
   */
  readonly articles = new Map<string, number>();
  readonly nextArticle = new Map<string, number>();

  constructor() {
    const root = this.newFolder('', undefined, 'root', '');
    const top = this.newFolder('Top of Information Store', root.id, 'msgfolderroot', 'IPF.Note');
    for (const [d, name, cls] of WELL_KNOWN) this.newFolder(name, top.id, d, cls);
  }

  private nextKey(): string {
    return opaqueId(0x16, ++this.counter, 30);
  }

  private newFolder(name: string, parentId: string | undefined, distinguished: string | undefined, folderClass: string): SimFolder {
    const parent = parentId ? this.folders.get(parentId) : undefined;
    const path = !parent || parent.distinguished === 'root' || parent.distinguished === 'msgfolderroot' ? name : `${parent.path}/${name}`;
    const f: SimFolder = { id: opaqueId(0x01, ++this.counter, 70), changeKey: this.nextKey(), name, parentId, distinguished, folderClass, path };
    this.folders.set(f.id, f);
    this.log.set(f.id, []);
    return f;
  }

  distinguished(name: string): SimFolder | undefined {
    return [...this.folders.values()].find((f) => f.distinguished === name);
  }

  /** A folder by display path under msgfolderroot, case-insensitively as Exchange compares names. */
  byPath(path: string): SimFolder | undefined {
    const p = path.replace(/^\/+|\/+$/g, '').toLowerCase();
    return [...this.folders.values()].find((f) => f.distinguished !== 'root' && f.distinguished !== 'msgfolderroot' && f.path.toLowerCase() === p);
  }

  folderOf(pathOrId: string): SimFolder {
    const f = this.folders.get(pathOrId) ?? this.byPath(pathOrId);
    if (!f) throw new Error(`the EWS simulator has no folder ${JSON.stringify(pathOrId)}`);
    return f;
  }

  childFolders(parentId: string): SimFolder[] {
    return [...this.folders.values()].filter((f) => f.parentId === parentId);
  }

  createFolder(path: string): SimFolder {
    const parts = path.split('/').filter((p) => p !== '');
    const name = parts.pop();
    if (!name) throw new Error('createFolder needs a folder name');
    const parent = parts.length === 0 ? this.distinguished('msgfolderroot')! : this.folderOf(parts.join('/'));
    if (this.childFolders(parent.id).some((f) => f.name.toLowerCase() === name.toLowerCase())) throw new Error(`folder ${path} exists already`);
    return this.newFolder(name, parent.id, undefined, 'IPF.Note');
  }

  item(id: string): SimItem | undefined {
    return this.itemsById.get(id);
  }

  itemsIn(folderId: string): SimItem[] {
    return [...this.itemsById.values()].filter((i) => i.folder === folderId);
  }

  private record(folderId: string, itemId: string, kind: LogEntry['kind']): void {
    this.log.get(folderId)!.push({ seq: ++this.seq, itemId, kind });
    if (kind === 'in') {
      const n = this.nextArticle.get(folderId) ?? 1;
      this.articles.set(itemId, n);
      this.nextArticle.set(folderId, n + 1);
    }
  }

  private emit(c: MailboxChange): void {
    for (const l of this.listeners) l(c);
  }

  add(folderId: string, raw: Buffer, isRead: boolean, received: Date): SimItem {
    const item: SimItem = { id: opaqueId(0x46, ++this.counter, 112), changeKey: this.nextKey(), folder: folderId, raw, isRead, categories: [], received };
    this.itemsById.set(item.id, item);
    this.record(folderId, item.id, 'in');
    this.emit({ kind: 'created', item, newMail: true });
    return item;
  }

  /** Removes an item for good (HardDelete, SoftDelete: either way it leaves every folder view). */
  remove(id: string): void {
    const item = this.itemsById.get(id);
    if (!item) return;
    this.itemsById.delete(id);
    this.record(item.folder, id, 'out');
    this.emit({ kind: 'deleted', itemId: id, folderId: item.folder });
  }

  /** Moves an item; like Exchange, the moved item gets a new ItemId (the id embeds the folder). */
  move(id: string, toFolderId: string): SimItem {
    const old = this.itemsById.get(id)!;
    this.itemsById.delete(id);
    this.record(old.folder, id, 'out');
    const moved: SimItem = { ...old, id: opaqueId(0x46, ++this.counter, 112), changeKey: this.nextKey(), folder: toFolderId };
    this.itemsById.set(moved.id, moved);
    this.record(toFolderId, moved.id, 'in');
    this.emit({ kind: 'moved', item: moved, oldItemId: id, oldFolderId: old.folder });
    return moved;
  }

  update(id: string, change: { isRead?: boolean; categories?: string[] }): SimItem {
    const item = this.itemsById.get(id)!;
    const readOnly = change.categories === undefined;
    if (change.isRead !== undefined) item.isRead = change.isRead;
    if (change.categories !== undefined) item.categories = change.categories;
    item.changeKey = this.nextKey();
    this.record(item.folder, id, readOnly ? 'read' : 'update');
    this.emit({ kind: 'modified', item, readOnly });
    return item;
  }

  /**
   * The net changes to `folderId` after `sinceSeq` (SyncFolderItems): an item that came in is a
   * Create, one that left is a Delete, one that stayed and changed an Update or ReadFlagChange;
   * an item that came and went in between is nothing, as a real delta would show.
   */
  changesSince(folderId: string, sinceSeq: number): Array<{ kind: 'Create' | 'Update' | 'Delete' | 'ReadFlagChange'; itemId: string }> {
    const touched = new Map<string, LogEntry[]>();
    for (const e of this.log.get(folderId) ?? []) {
      if (e.seq <= sinceSeq) continue;
      touched.set(e.itemId, [...(touched.get(e.itemId) ?? []), e]);
    }
    const out: Array<{ kind: 'Create' | 'Update' | 'Delete' | 'ReadFlagChange'; itemId: string }> = [];
    for (const [itemId, entries] of touched) {
      const cameIn = entries.some((e) => e.kind === 'in');
      const here = this.itemsById.get(itemId)?.folder === folderId;
      if (here && cameIn) out.push({ kind: 'Create', itemId });
      else if (here) out.push({ kind: entries.some((e) => e.kind === 'update') ? 'Update' : 'ReadFlagChange', itemId });
      else if (!cameIn) out.push({ kind: 'Delete', itemId });
    }
    return out;
  }
}
