/**
 * The message attributes handed to routes and printed by `inspect`, named exactly as SPEC's
 * "Message attributes" section names them (PascalCase, as the seeds' platform publishes them).
 */

/** One mailbox address. `Name` is "" when the header gives none. */
export interface Address {
  Name: string;
  Address: string;
}

/** One attachment (any part that is not the chosen text or HTML body). */
export interface Attachment {
  Name: string;
  Extension: string;
  ContentType: string;
  /** Decoded size in bytes. */
  Size: number;
  /** Hex SHA-256 of the decoded content. */
  Sha256: string;
  /** Inline base64 content or a reference into the archive; filled by routes, absent in the index. */
  Content?: string;
}

/** One header in order of first appearance; repeated headers appear once with all values. */
export interface CustomHeader {
  Name: string;
  /** The first value, unfolded and decoded. */
  Value: string;
  /** Every value of this header, in order. */
  ListValues: string[];
}

/** Where an archived message came from. */
export interface MessageSource {
  Connection: string;
  Mailbox?: string;
  UidValidity?: number;
  Uid?: number;
  Uidl?: string;
}

/** The journal envelope of an unwrapped Exchange journal report (core/message/journal-report.ts). */
export interface JournalEnvelope {
  Sender: string;
  Recipients: Array<{ Address: string; Kind: 'To' | 'Cc' | 'Bcc' | 'Recipient'; Expanded?: string; Forwarded?: string }>;
  /** The envelope's `On-Behalf-Of` (the mailbox the sender sent for), when it has one. */
  OnBehalfOf?: string;
}

/** The attribute set of one parsed message. */
export interface MessageAttributes {
  From: Address | null;
  To: Address[];
  Cc: Address[];
  Bcc: Address[];
  Subject: string;
  /** ISO 8601 from the Date header, or null when absent or unparsable. */
  ReceivedDate: string | null;
  /** The Message-ID without angle brackets, or "" when absent. */
  GlobalMessageId: string;
  InReplyTo: string;
  References: string[];
  TextBody: string;
  HtmlBody: string;
  Attachments: Attachment[];
  CustomHeaders: CustomHeader[];
  Journal?: JournalEnvelope;
  Source?: MessageSource;
  ArchiveId?: string;
  /**
   * True on a connection test's probe message whose `X-Mailsluice-Probe` header this archive
   * signed (ADR 0027): archived as mail that passed through, routed nowhere. Absent otherwise.
   */
  Probe?: true;
}

/**
 * Every top-level attribute name, in SPEC's order: what a route's `attributes` setting may keep
 * or rename (config check names an unknown one against this list).
 */
export const ATTRIBUTE_NAMES = [
  'From',
  'To',
  'Cc',
  'Bcc',
  'Subject',
  'ReceivedDate',
  'GlobalMessageId',
  'InReplyTo',
  'References',
  'TextBody',
  'HtmlBody',
  'Attachments',
  'CustomHeaders',
  'Journal',
  'Source',
  'ArchiveId',
  'Probe',
] as const satisfies ReadonlyArray<keyof MessageAttributes>;

/** One of {@link ATTRIBUTE_NAMES}. */
export type AttributeName = (typeof ATTRIBUTE_NAMES)[number];
