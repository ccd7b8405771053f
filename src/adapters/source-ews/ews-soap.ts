/**
 * The SOAP requests the EWS source sends, as strings (MS-OXWS* documents; element order as
 * `messages.xsd` and `types.xsd` require). Every value from the outside (item and folder ids,
 * display names) goes through {@link xmlEscape}; nothing here does I/O.
 */

const NS = {
  soap: 'http://schemas.xmlsoap.org/soap/envelope/',
  t: 'http://schemas.microsoft.com/exchange/services/2006/types',
  m: 'http://schemas.microsoft.com/exchange/services/2006/messages',
} as const;

/** Escapes text or an attribute value for XML (both quotes too, so it fits either). */
export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;'));
}

/** A folder as EWS names it: a well-known (distinguished) one, or one by its id. */
export type EwsFolderRef = { distinguished: string } | { id: string };

/** One SOAP envelope asking `version` (a `RequestServerVersion` value) for `body`. */
export function envelope(version: string, body: string): string {
  return (
    '<?xml version="1.0" encoding="utf-8"?>' +
    `<soap:Envelope xmlns:soap="${NS.soap}" xmlns:t="${NS.t}" xmlns:m="${NS.m}">` +
    `<soap:Header><t:RequestServerVersion Version="${xmlEscape(version)}"/></soap:Header>` +
    `<soap:Body>${body}</soap:Body></soap:Envelope>`
  );
}

function folderRef(f: EwsFolderRef): string {
  return 'distinguished' in f ? `<t:DistinguishedFolderId Id="${xmlEscape(f.distinguished)}"/>` : `<t:FolderId Id="${xmlEscape(f.id)}"/>`;
}

function itemIds(ids: readonly string[]): string {
  return ids.map((id) => `<t:ItemId Id="${xmlEscape(id)}"/>`).join('');
}

const field = (uri: string): string => `<t:FieldURI FieldURI="${uri}"/>`;

/** GetFolder with the default shape (DisplayName, TotalCount, UnreadCount, ChildFolderCount). */
export function getFolder(f: EwsFolderRef): string {
  return `<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds>${folderRef(f)}</m:FolderIds></m:GetFolder>`;
}

/** FindFolder (Shallow) for the child of `parent` whose DisplayName is `name`. */
export function findFolder(parent: EwsFolderRef, name: string): string {
  return (
    '<m:FindFolder Traversal="Shallow">' +
    `<m:FolderShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>${field('folder:DisplayName')}</t:AdditionalProperties></m:FolderShape>` +
    `<m:Restriction><t:IsEqualTo>${field('folder:DisplayName')}<t:FieldURIOrConstant><t:Constant Value="${xmlEscape(name)}"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>` +
    `<m:ParentFolderIds>${folderRef(parent)}</m:ParentFolderIds>` +
    '</m:FindFolder>'
  );
}

/**
 * FindItem (Shallow) of one page: ids with size and time received, oldest first; `unreadOnly`
 * restricts to IsRead = false.
 */
export function findItem(folder: EwsFolderRef, offset: number, max: number, unreadOnly: boolean): string {
  const restriction = unreadOnly
    ? `<m:Restriction><t:IsEqualTo>${field('message:IsRead')}<t:FieldURIOrConstant><t:Constant Value="false"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>`
    : '';
  return (
    '<m:FindItem Traversal="Shallow">' +
    `<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>${field('item:Size')}${field('item:DateTimeReceived')}</t:AdditionalProperties></m:ItemShape>` +
    `<m:IndexedPageItemView MaxEntriesReturned="${max}" Offset="${offset}" BasePoint="Beginning"/>` +
    restriction +
    `<m:SortOrder><t:FieldOrder Order="Ascending">${field('item:DateTimeReceived')}</t:FieldOrder></m:SortOrder>` +
    `<m:ParentFolderIds>${folderRef(folder)}</m:ParentFolderIds>` +
    '</m:FindItem>'
  );
}

/**
 * SyncFolderItems of one page: the changes to `folder` since `state` (none: every item, as a full
 * synchronisation), at most `max` (1 to 512), new items with their id, size and time received.
 * No SyncScope: it is Exchange 2010's, and its default (NormalItems) is what a drain wants.
 */
export function syncFolderItems(folder: EwsFolderRef, state: string | undefined, max: number): string {
  return (
    '<m:SyncFolderItems>' +
    `<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>${field('item:Size')}${field('item:DateTimeReceived')}</t:AdditionalProperties></m:ItemShape>` +
    `<m:SyncFolderId>${folderRef(folder)}</m:SyncFolderId>` +
    (state !== undefined ? `<m:SyncState>${xmlEscape(state)}</m:SyncState>` : '') +
    `<m:MaxChangesReturned>${max}</m:MaxChangesReturned>` +
    '</m:SyncFolderItems>'
  );
}

/** GetItem of the given ids with their MIME content (the message as the server holds it). */
export function getItemMime(ids: readonly string[]): string {
  return `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:IncludeMimeContent>true</t:IncludeMimeContent></m:ItemShape><m:ItemIds>${itemIds(ids)}</m:ItemIds></m:GetItem>`;
}

/** How DeleteItem deletes: HardDelete (gone), MoveToDeletedItems. */
export type EwsDeleteType = 'HardDelete' | 'MoveToDeletedItems' | 'SoftDelete';

/** DeleteItem of the given ids. */
export function deleteItem(ids: readonly string[], how: EwsDeleteType): string {
  return `<m:DeleteItem DeleteType="${how}"><m:ItemIds>${itemIds(ids)}</m:ItemIds></m:DeleteItem>`;
}

/** MoveItem of the given ids to a folder. */
export function moveItem(ids: readonly string[], to: EwsFolderRef): string {
  return `<m:MoveItem><m:ToFolderId>${folderRef(to)}</m:ToFolderId><m:ItemIds>${itemIds(ids)}</m:ItemIds></m:MoveItem>`;
}

/** One item's change for {@link updateItems}: IsRead and/or categories to set. */
export interface EwsItemChange {
  id: string;
  isRead?: boolean;
  /** The whole category list to set (EWS replaces it; callers merge with what is there). */
  categories?: readonly string[];
}

/** UpdateItem (SaveOnly, AlwaysOverwrite) setting IsRead and categories per item. */
export function updateItems(changes: readonly EwsItemChange[]): string {
  const one = (c: EwsItemChange): string => {
    let updates = '';
    if (c.categories !== undefined) {
      const list = c.categories.map((s) => `<t:String>${xmlEscape(s)}</t:String>`).join('');
      updates += `<t:SetItemField>${field('item:Categories')}<t:Message><t:Categories>${list}</t:Categories></t:Message></t:SetItemField>`;
    }
    if (c.isRead !== undefined) updates += `<t:SetItemField>${field('message:IsRead')}<t:Message><t:IsRead>${c.isRead}</t:IsRead></t:Message></t:SetItemField>`;
    return `<t:ItemChange><t:ItemId Id="${xmlEscape(c.id)}"/><t:Updates>${updates}</t:Updates></t:ItemChange>`;
  };
  return `<m:UpdateItem MessageDisposition="SaveOnly" ConflictResolution="AlwaysOverwrite"><m:ItemChanges>${changes.map(one).join('')}</m:ItemChanges></m:UpdateItem>`;
}

/** GetItem of the given ids' categories (to merge a response's flags into them). */
export function getItemCategories(ids: readonly string[]): string {
  return `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>${field('item:Categories')}</t:AdditionalProperties></m:ItemShape><m:ItemIds>${itemIds(ids)}</m:ItemIds></m:GetItem>`;
}

const EVENT_TYPES = '<t:EventTypes><t:EventType>NewMailEvent</t:EventType><t:EventType>CreatedEvent</t:EventType></t:EventTypes>';

/** Subscribe to new and created items of a folder, streaming (Exchange 2010 SP1 and later). */
export function subscribeStreaming(folder: EwsFolderRef): string {
  return `<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds>${folderRef(folder)}</t:FolderIds>${EVENT_TYPES}</m:StreamingSubscriptionRequest></m:Subscribe>`;
}

/** Subscribe to new and created items of a folder by pull (GetEvents), living `timeoutMinutes` between polls. */
export function subscribePull(folder: EwsFolderRef, timeoutMinutes: number): string {
  return `<m:Subscribe><m:PullSubscriptionRequest><t:FolderIds>${folderRef(folder)}</t:FolderIds>${EVENT_TYPES}<t:Timeout>${timeoutMinutes}</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>`;
}

/** GetStreamingEvents of one subscription, the response held open `minutes`. */
export function getStreamingEvents(subscriptionId: string, minutes: number): string {
  return `<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>${xmlEscape(subscriptionId)}</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>${minutes}</m:ConnectionTimeout></m:GetStreamingEvents>`;
}

/** GetEvents of a pull subscription since `watermark`. */
export function getEvents(subscriptionId: string, watermark: string): string {
  return `<m:GetEvents><m:SubscriptionId>${xmlEscape(subscriptionId)}</m:SubscriptionId><m:Watermark>${xmlEscape(watermark)}</m:Watermark></m:GetEvents>`;
}

/** Unsubscribe (pull subscriptions; a streaming one ends with its connection too). */
export function unsubscribe(subscriptionId: string): string {
  return `<m:Unsubscribe><m:SubscriptionId>${xmlEscape(subscriptionId)}</m:SubscriptionId></m:Unsubscribe>`;
}
