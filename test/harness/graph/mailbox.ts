/**
 * The Graph simulator's mailboxes: one per user, folders under msgfolderroot with Graph's
 * well-known folder names ("mailFolder resource type"), messages with opaque ids that change when
 * a message moves (as Exchange Online's do), and a per-folder change log that the delta query
 * reads.
 */
import { randomBytes } from 'node:crypto';

/** The flag of a message ("followupFlag resource type"; only its status is kept). */
export type FlagStatus = 'notFlagged' | 'complete' | 'flagged';

/** One message as the simulator holds it. */
export interface GraphMessage {
  id: string;
  folderId: string;
  /** The raw MIME, served by `$value` as it is. */
  raw: Buffer;
  isRead: boolean;
  categories: string[];
  flagStatus: FlagStatus;
  receivedDateTime: Date;
  createdDateTime: Date;
  lastModifiedDateTime: Date;
  changeKey: string;
  /** From the MIME header, unfolded; undefined when absent. */
  subject: string | undefined;
  internetMessageId: string | undefined;
  from: string | undefined;
  sentDateTime: Date | undefined;
}

/** A mail folder; `path` is its display path under msgfolderroot ('Inbox/Journal'). */
export interface GraphFolder {
  id: string;
  displayName: string;
  parentFolderId: string;
  /** Its well-known name when it has one ('inbox', 'archive', …). */
  wellKnown: string | undefined;
  path: string;
}

interface LogEntry { seq: number; messageId: string; kind: 'in' | 'out' | 'update' }

/** Graph's well-known mail folder names served here and their display names. */
const WELL_KNOWN: Array<[name: string, displayName: string]> = [
  ['inbox', 'Inbox'],
  ['archive', 'Archive'],
  ['deleteditems', 'Deleted Items'],
  ['drafts', 'Drafts'],
  ['sentitems', 'Sent Items'],
  ['outbox', 'Outbox'],
  ['junkemail', 'Junk Email'],
  ['clutter', 'Clutter'],
  ['conversationhistory', 'Conversation History'],
];

/**
 * Exchange Online's ids are URL-safe base64 of a binary store id ("AAMkAG…"), some 150
 * characters; clients must treat them as opaque, so these are the same kind of string. The
 * first byte says message or folder, so an id of the wrong kind is recognisably malformed.
 */
export function opaqueId(kind: 'message' | 'folder', n: number): string {
  const b = randomBytes(kind === 'message' ? 112 : 60);
  b.writeUInt8(kind === 'message' ? 0x46 : 0x01, 0);
  b.writeUInt32BE(n, 1);
  return 'AAMkAG' + b.toString('base64').replace(/\//g, '-').replace(/\+/g, '_');
}

/** Whether `id` has the shape of an id of `kind` (not whether it exists). */
export function isWellFormedId(id: string, kind: 'message' | 'folder'): boolean {
  if (!/^AAMkAG[A-Za-z0-9_-]+=*$/.test(id)) return false;
  const b = Buffer.from(id.slice(6).replace(/-/g, '/').replace(/_/g, '+'), 'base64');
  return b.length > 5 && b[0] === (kind === 'message' ? 0x46 : 0x01);
}

/** The unfolded value of `name` in the header block of `raw`, or undefined. */
function header(raw: Buffer, name: string): string | undefined {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end < 0 ? Math.min(raw.length, 65536) : end).toString('latin1').replace(/\r?\n[ \t]+/g, ' ');
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head);
  return m?.[1]?.trim();
}

/** One user's mailbox. Every change goes through here so the change log stays complete. */
export class GraphMailbox {
  readonly folders = new Map<string, GraphFolder>();
  readonly root: GraphFolder;
  private readonly messages = new Map<string, GraphMessage>();
  private readonly log = new Map<string, LogEntry[]>();
  private counter = 0;
  /** The sequence of the last change; delta states point into it. */
  seq = 0;

  constructor() {
    this.root = this.newFolder('Top of Information Store', '', 'msgfolderroot');
    for (const [name, displayName] of WELL_KNOWN) this.newFolder(displayName, this.root.id, name);
  }

  private newFolder(displayName: string, parentFolderId: string, wellKnown: string | undefined): GraphFolder {
    const parent = this.folders.get(parentFolderId);
    const path = !parent || parent === this.root ? displayName : `${parent.path}/${displayName}`;
    const f: GraphFolder = { id: opaqueId('folder', ++this.counter), displayName, parentFolderId, wellKnown, path };
    this.folders.set(f.id, f);
    this.log.set(f.id, []);
    return f;
  }

  /** A folder by id or well-known name (case-insensitive, as Graph takes them), or undefined. */
  folder(idOrWellKnown: string): GraphFolder | undefined {
    const lower = idOrWellKnown.toLowerCase();
    return this.folders.get(idOrWellKnown) ?? [...this.folders.values()].find((f) => f.wellKnown === lower);
  }

  /** A folder by display path ('Inbox/Journal'), id or well-known name; throws for the tests' mistakes. */
  folderOf(pathOrId: string): GraphFolder {
    const p = pathOrId.replace(/^\/+|\/+$/g, '').toLowerCase();
    const f = this.folder(pathOrId) ?? [...this.folders.values()].find((x) => x !== this.root && x.path.toLowerCase() === p);
    if (!f) throw new Error(`the Graph simulator has no folder ${JSON.stringify(pathOrId)}`);
    return f;
  }

  childFolders(parentId: string): GraphFolder[] {
    return [...this.folders.values()].filter((f) => f.parentFolderId === parentId);
  }

  createFolder(path: string): GraphFolder {
    const parts = path.split('/').filter((p) => p !== '');
    const name = parts.pop();
    if (!name) throw new Error('createFolder needs a folder name');
    const parent = parts.length === 0 ? this.root : this.folderOf(parts.join('/'));
    if (this.childFolders(parent.id).some((f) => f.displayName.toLowerCase() === name.toLowerCase())) throw new Error(`folder ${path} exists already`);
    return this.newFolder(name, parent.id, undefined);
  }

  message(id: string): GraphMessage | undefined {
    return this.messages.get(id);
  }

  /** The messages of a folder, in arrival order. */
  messagesIn(folderId: string): GraphMessage[] {
    return [...this.messages.values()].filter((m) => m.folderId === folderId);
  }

  private record(folderId: string, messageId: string, kind: LogEntry['kind']): void {
    this.log.get(folderId)!.push({ seq: ++this.seq, messageId, kind });
  }

  add(folderId: string, raw: Buffer, opts: { isRead?: boolean; received?: Date; categories?: string[] } = {}): GraphMessage {
    const now = new Date();
    const date = header(raw, 'Date');
    const sent = date ? new Date(date) : undefined;
    const m: GraphMessage = {
      id: opaqueId('message', ++this.counter),
      folderId,
      raw,
      isRead: opts.isRead ?? false,
      categories: opts.categories ?? [],
      flagStatus: 'notFlagged',
      receivedDateTime: opts.received ?? now,
      createdDateTime: now,
      lastModifiedDateTime: now,
      changeKey: randomBytes(18).toString('base64'),
      subject: header(raw, 'Subject'),
      internetMessageId: header(raw, 'Message-ID'),
      from: header(raw, 'From'),
      sentDateTime: sent && !Number.isNaN(sent.getTime()) ? sent : undefined,
    };
    this.messages.set(m.id, m);
    this.record(folderId, m.id, 'in');
    return m;
  }

  /** Removes a message for good (permanentDelete, or a delete in Deleted Items). */
  remove(id: string): void {
    const m = this.messages.get(id);
    if (!m) return;
    this.messages.delete(id);
    this.record(m.folderId, id, 'out');
  }

  /** Moves a message; it gets a new id, as in Exchange Online (the id names the folder). */
  move(id: string, toFolderId: string): GraphMessage {
    const old = this.messages.get(id)!;
    this.messages.delete(id);
    this.record(old.folderId, id, 'out');
    const moved: GraphMessage = { ...old, id: opaqueId('message', ++this.counter), folderId: toFolderId, lastModifiedDateTime: new Date(), changeKey: randomBytes(18).toString('base64') };
    this.messages.set(moved.id, moved);
    this.record(toFolderId, moved.id, 'in');
    return moved;
  }

  update(id: string, change: { isRead?: boolean; categories?: string[]; flagStatus?: FlagStatus }): GraphMessage {
    const m = this.messages.get(id)!;
    if (change.isRead !== undefined) m.isRead = change.isRead;
    if (change.categories !== undefined) m.categories = change.categories;
    if (change.flagStatus !== undefined) m.flagStatus = change.flagStatus;
    m.lastModifiedDateTime = new Date();
    m.changeKey = randomBytes(18).toString('base64');
    this.record(m.folderId, id, 'update');
    return m;
  }

  /**
   * The net changes to a folder after `sinceSeq`, in the order they last happened: a message
   * there now that came in or changed is `changed`, one that left (deleted or moved) `removed`;
   * one that came and went in between is nothing, as a delta shows.
   */
  changesSince(folderId: string, sinceSeq: number): Array<{ kind: 'changed' | 'removed'; messageId: string }> {
    const last = new Map<string, LogEntry[]>();
    for (const e of this.log.get(folderId) ?? []) {
      if (e.seq <= sinceSeq) continue;
      const list = last.get(e.messageId) ?? [];
      last.delete(e.messageId);
      last.set(e.messageId, [...list, e]);
    }
    const out: Array<{ kind: 'changed' | 'removed'; messageId: string }> = [];
    for (const [messageId, entries] of last) {
      const here = this.messages.get(messageId)?.folderId === folderId;
      if (here) out.push({ kind: 'changed', messageId });
      else if (!entries.some((e) => e.kind === 'in')) out.push({ kind: 'removed', messageId });
    }
    return out;
  }
}
