/**
 * SOAP 1.1 envelopes as Exchange writes them (MS-OXWS* examples): the `t:ServerVersionInfo`
 * header on every answer, `m:ResponseMessages` with one message per request element, and SOAP
 * faults for what fails before an operation runs (schema validation, the requested version).
 */
import { NS, el, esc, textEl } from './xml.js';

/** What `ServerVersionInfo` says (an Exchange 2016 CU by default). */
export interface ServerVersion { major: number; minor: number; build: number; revision: number; version: string }

function header(v: ServerVersion): string {
  return `<s:Header>${el('h:ServerVersionInfo', {
    MajorVersion: v.major, MinorVersion: v.minor, MajorBuildNumber: v.build, MinorBuildNumber: v.revision, Version: v.version,
    'xmlns:h': NS.t, xmlns: NS.t, 'xmlns:xsd': 'http://www.w3.org/2001/XMLSchema', 'xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance',
  })}</s:Header>`;
}

/** A whole envelope around `body` (the operation's response element). */
export function envelope(v: ServerVersion, body: string): string {
  return `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="${NS.soap}">${header(v)}` +
    `<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">${body}</s:Body></s:Envelope>`;
}

/** `<m:{op}Response>` with its ResponseMessages. */
export function responseBody(op: string, messages: string[]): string {
  return `<m:${op}Response xmlns:m="${NS.m}" xmlns:t="${NS.t}"><m:ResponseMessages>${messages.join('')}</m:ResponseMessages></m:${op}Response>`;
}

/** A Success response message named `name` (e.g. `GetItemResponseMessage`) with its content. */
export function success(name: string, inner = ''): string {
  return `<m:${name} ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>${inner}</m:${name}>`;
}

/** An Error response message with Exchange's code and text; `messageXml` for ErrorServerBusy's back-off. */
export function errorMessage(name: string, code: string, text: string, opts: { messageXml?: string; inner?: string } = {}): string {
  return `<m:${name} ResponseClass="Error">${textEl('m:MessageText', text)}${textEl('m:ResponseCode', code)}` +
    `<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>${opts.messageXml ? `<m:MessageXml>${opts.messageXml}</m:MessageXml>` : ''}${opts.inner ?? ''}</m:${name}>`;
}

/** The MessageText Exchange sends with each code the simulator uses. */
export const ERROR_TEXT: Record<string, string> = {
  ErrorItemNotFound: 'The specified object was not found in the store., The process failed to get the correct properties.',
  ErrorFolderNotFound: 'The specified folder could not be found in the store.',
  ErrorServerBusy: 'The server cannot service this request right now. Try again later.',
  ErrorInvalidSyncStateData: 'Synchronization state data is corrupt or otherwise invalid.',
  ErrorNonExistentMailbox: 'The SMTP address has no mailbox associated with it.',
  ErrorInvalidServerVersion: 'The specified server version is invalid.',
  ErrorSubscriptionNotFound: 'The specified subscription was not found.',
  ErrorSchemaValidation: 'The request failed schema validation.',
  ErrorInvalidRequest: 'The request is invalid.',
  ErrorInvalidOperation: 'The operation is not supported by the EWS simulator.',
  ErrorInvalidWatermark: 'The watermark used for this request is invalid.',
  ErrorIrresolvableConflict: 'The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.',
  ErrorInvalidPropertyRequest: 'The property request is invalid.',
  ErrorInvalidIdMalformed: 'Id is malformed.',
};

/**
 * A SOAP fault as Exchange sends for a request it refuses as a whole (HTTP 500): faultcode in the
 * types namespace, and the code again in `detail` (MS-OXWSCDATA 2.2.4.x, the errors namespace).
 */
export function fault(v: ServerVersion, code: string, text: string, messageXml?: string): string {
  const errors = 'http://schemas.microsoft.com/exchange/services/2006/errors';
  const xml = messageXml ? `<t:MessageXml xmlns:t="${NS.t}">${messageXml}</t:MessageXml>` : '';
  return envelope(
    v,
    `<s:Fault><faultcode xmlns:a="${NS.t}">a:${esc(code)}</faultcode><faultstring xml:lang="en-US">${esc(text)}</faultstring>` +
      `<detail><e:ResponseCode xmlns:e="${errors}">${esc(code)}</e:ResponseCode><e:Message xmlns:e="${errors}">${esc(text)}</e:Message>${xml}</detail></s:Fault>`,
  );
}
