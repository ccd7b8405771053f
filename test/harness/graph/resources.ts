/**
 * The JSON of Graph's `message` and `mailFolder` resources ("message resource type", "mailFolder
 * resource type", v1.0) and `$select`: the properties a client can name, and a message's
 * size through the PidTagMessageSize extended property ("Get singleValueLegacyExtendedProperty").
 */
import { GraphError } from './errors.js';
import type { GraphFolder, GraphMailbox, GraphMessage } from './mailbox.js';

/** Every property of the v1.0 message resource; `$select` may name only these. */
export const MESSAGE_PROPERTIES = [
  'bccRecipients', 'body', 'bodyPreview', 'categories', 'ccRecipients', 'changeKey', 'conversationId', 'conversationIndex',
  'createdDateTime', 'flag', 'from', 'hasAttachments', 'id', 'importance', 'inferenceClassification', 'internetMessageHeaders',
  'internetMessageId', 'isDeliveryReceiptRequested', 'isDraft', 'isRead', 'isReadReceiptRequested', 'lastModifiedDateTime',
  'parentFolderId', 'receivedDateTime', 'replyTo', 'sender', 'sentDateTime', 'subject', 'toRecipients', 'uniqueBody', 'webLink',
] as const;

/** What a message shows without `$select` (Graph leaves out a few, such as internetMessageHeaders). */
const DEFAULT_MESSAGE = MESSAGE_PROPERTIES.filter((p) => p !== 'internetMessageHeaders' && p !== 'uniqueBody');

/** Every property of the v1.0 mailFolder resource. */
export const FOLDER_PROPERTIES = ['id', 'displayName', 'parentFolderId', 'childFolderCount', 'unreadItemCount', 'totalItemCount', 'isHidden'] as const;

/** The `$expand` for the message size, the one extended property served. */
export const SIZE_EXPAND = /^singleValueExtendedProperties\(\$filter=id eq '(Integer 0x0E08)'\)$/i;

/** `$select`'s list, checked against `known`; Graph's answer to an unknown name is a 400. */
export function parseSelect(value: string | null, known: readonly string[], type: string): string[] | undefined {
  if (value === null) return undefined;
  const names = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const n of names) {
    if (!known.some((k) => k.toLowerCase() === n.toLowerCase())) {
      throw new GraphError(400, 'RequestBroker--ParseUri', `Could not find a property named '${n}' on type 'microsoft.graph.${type}'.`);
    }
  }
  return names.map((n) => known.find((k) => k.toLowerCase() === n.toLowerCase())!);
}

function address(header: string | undefined): unknown {
  if (header === undefined) return undefined;
  const m = /^\s*"?([^"<]*?)"?\s*<([^>]+)>\s*$/.exec(header);
  return { emailAddress: m ? { name: m[1] || m[2], address: m[2] } : { name: header.trim(), address: header.trim() } };
}

function bodyText(m: GraphMessage): string {
  const end = m.raw.indexOf('\r\n\r\n');
  return end < 0 ? '' : m.raw.subarray(end + 4, end + 4 + 4096).toString('utf8');
}

/** The value of one message property. */
function messageProperty(m: GraphMessage, p: string): unknown {
  switch (p) {
    case 'id': return m.id;
    case 'changeKey': return m.changeKey;
    case 'categories': return [...m.categories];
    case 'createdDateTime': return iso(m.createdDateTime);
    case 'lastModifiedDateTime': return iso(m.lastModifiedDateTime);
    case 'receivedDateTime': return iso(m.receivedDateTime);
    case 'sentDateTime': return iso(m.sentDateTime ?? m.receivedDateTime);
    case 'subject': return m.subject ?? '';
    case 'internetMessageId': return m.internetMessageId ?? null;
    case 'isRead': return m.isRead;
    case 'isDraft': return false;
    case 'hasAttachments': return /^content-type:\s*multipart\/mixed/im.test(m.raw.subarray(0, 65536).toString('latin1'));
    case 'importance': return 'normal';
    case 'inferenceClassification': return 'focused';
    case 'parentFolderId': return m.folderId;
    case 'conversationId': return `AAQkAG${m.id.slice(6, 40)}`;
    case 'conversationIndex': return Buffer.from(m.id.slice(6, 28)).toString('base64');
    case 'from': case 'sender': return address(m.from) ?? null;
    case 'toRecipients': case 'ccRecipients': case 'bccRecipients': case 'replyTo': return [];
    case 'flag': return { flagStatus: m.flagStatus };
    case 'body': return { contentType: 'text', content: bodyText(m) };
    case 'uniqueBody': return { contentType: 'text', content: bodyText(m) };
    case 'bodyPreview': return bodyText(m).slice(0, 255);
    case 'isDeliveryReceiptRequested': case 'isReadReceiptRequested': return false;
    case 'webLink': return `https://outlook.office365.com/owa/?ItemID=${encodeURIComponent(m.id)}&exvsurl=1&viewmodel=ReadMessageItem`;
    case 'internetMessageHeaders': return [];
    default: return undefined;
  }
}

const iso = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A message's JSON with the `$select`ed properties (id always), the etag, and the size when expanded. */
export function messageJson(m: GraphMessage, select: string[] | undefined, expandSize = false): Record<string, unknown> {
  const out: Record<string, unknown> = { '@odata.etag': `W/"${m.changeKey}"`, id: m.id };
  for (const p of select ?? DEFAULT_MESSAGE) out[p] = messageProperty(m, p);
  if (expandSize) out.singleValueExtendedProperties = [{ id: 'Integer 0xe08', value: String(m.raw.length) }];
  return out;
}

/** A folder's JSON with the `$select`ed properties. */
export function folderJson(box: GraphMailbox, f: GraphFolder, select: string[] | undefined): Record<string, unknown> {
  const all: Record<string, unknown> = {
    id: f.id,
    displayName: f.displayName,
    parentFolderId: f.parentFolderId || null,
    childFolderCount: box.childFolders(f.id).length,
    unreadItemCount: box.messagesIn(f.id).filter((m) => !m.isRead).length,
    totalItemCount: box.messagesIn(f.id).length,
    isHidden: false,
  };
  if (!select) return all;
  return Object.fromEntries([['id', f.id], ...select.map((p) => [p, all[p]])]);
}
