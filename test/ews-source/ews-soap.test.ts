/**
 * The EWS source's requests and settings without a server: the SOAP builders (well-formed,
 * escaped, the element order the schemas want, RequestServerVersion per ews.version), the
 * WWW-Authenticate parsing, `ews.url` splitting, and what `config check` says of EWS settings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import * as soap from '../../src/adapters/source-ews/ews-soap.js';
import { parseXml, path, child, type XmlNode } from '../../src/adapters/source-ews/ews-xml.js';
import { REQUEST_SERVER_VERSION, ewsEndpoint, hasStreamingNotifications } from '../../src/adapters/source-ews/ews-source-config.js';
import { authChallenges } from '../../src/adapters/source-ews/ews-auth.js';
import { folderPath } from '../../src/adapters/source-ews/ews-source.js';
import { checkConfigText } from '../../src/config/loader.js';
import { MailsluiceError } from '../../src/core/errors/index.js';

const names = (n: XmlNode | undefined): string[] => (n?.children ?? []).map((c) => c.name);
const op = (body: string, version = 'Exchange2016'): XmlNode => path(parseXml(soap.envelope(version, body)), 'Body')!.children[0]!;

test('ews.version maps to the RequestServerVersion Exchange names, in the envelope header', () => {
  assert.deepEqual(REQUEST_SERVER_VERSION, {
    '2007SP1': 'Exchange2007_SP1',
    '2010': 'Exchange2010',
    '2010SP1': 'Exchange2010_SP1',
    '2010SP2': 'Exchange2010_SP2',
    '2013': 'Exchange2013',
    '2013SP1': 'Exchange2013_SP1',
    '2016': 'Exchange2016',
  });
  const env = parseXml(soap.envelope('Exchange2010_SP2', soap.getFolder({ distinguished: 'inbox' })));
  assert.equal(path(env, 'Header', 'RequestServerVersion')?.attrs.Version, 'Exchange2010_SP2');
  assert.deepEqual([hasStreamingNotifications('2007SP1'), hasStreamingNotifications('2010'), hasStreamingNotifications('2010SP1'), hasStreamingNotifications('2016')], [false, false, true, true]);
});

test('ids and names with XML specials are escaped and read back intact', () => {
  const nasty = `AAMk<&>"'=+/`;
  assert.equal(soap.xmlEscape(`<a href="x">&'</a>`), '&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;');
  const get = op(soap.getItemMime([nasty, 'plain']));
  assert.deepEqual(names(get), ['ItemShape', 'ItemIds']);
  assert.deepEqual(names(child(get, 'ItemShape')), ['BaseShape', 'IncludeMimeContent']);
  assert.deepEqual(child(get, 'ItemIds')!.children.map((c) => c.attrs.Id), [nasty, 'plain']);
  const ff = op(soap.findFolder({ id: nasty }, 'Journal & <Co>'));
  assert.equal(ff.attrs.Traversal, 'Shallow');
  assert.deepEqual(names(ff), ['FolderShape', 'Restriction', 'ParentFolderIds']);
  assert.equal(path(ff, 'Restriction', 'IsEqualTo', 'FieldURIOrConstant', 'Constant')?.attrs.Value, 'Journal & <Co>');
  assert.equal(path(ff, 'ParentFolderIds', 'FolderId')?.attrs.Id, nasty);
  const upd = op(soap.updateItems([{ id: nasty, isRead: true, categories: ['a&b', '<c>'] }]));
  assert.deepEqual(
    path(upd, 'ItemChanges', 'ItemChange', 'Updates')!.children.map((c) => child(c, 'FieldURI')?.attrs.FieldURI),
    ['item:Categories', 'message:IsRead'],
  );
  assert.deepEqual(path(upd, 'ItemChanges', 'ItemChange', 'Updates')!.children[0]!.children[1]!.children[0]!.children.map((c) => c.text), ['a&b', '<c>']);
});

test('FindItem asks for ids, size and time received, oldest first, one page, and IsRead=false only with unseenOnly', () => {
  const all = op(soap.findItem({ distinguished: 'inbox' }, 500, 250, false));
  assert.deepEqual(names(all), ['ItemShape', 'IndexedPageItemView', 'SortOrder', 'ParentFolderIds']);
  assert.deepEqual(path(all, 'ItemShape', 'AdditionalProperties')!.children.map((c) => c.attrs.FieldURI), ['item:Size', 'item:DateTimeReceived']);
  assert.deepEqual(child(all, 'IndexedPageItemView')!.attrs, { MaxEntriesReturned: '250', Offset: '500', BasePoint: 'Beginning' });
  assert.equal(path(all, 'SortOrder', 'FieldOrder')?.attrs.Order, 'Ascending');
  const unseen = op(soap.findItem({ id: 'F1' }, 0, 10, true));
  assert.deepEqual(names(unseen), ['ItemShape', 'IndexedPageItemView', 'Restriction', 'SortOrder', 'ParentFolderIds']);
  assert.equal(path(unseen, 'Restriction', 'IsEqualTo', 'FieldURI')?.attrs.FieldURI, 'message:IsRead');
  assert.equal(path(unseen, 'Restriction', 'IsEqualTo', 'FieldURIOrConstant', 'Constant')?.attrs.Value, 'false');
});

test('server actions and subscriptions are the documented requests', () => {
  assert.equal(op(soap.deleteItem(['a'], 'HardDelete')).attrs.DeleteType, 'HardDelete');
  assert.equal(op(soap.deleteItem(['a'], 'MoveToDeletedItems')).attrs.DeleteType, 'MoveToDeletedItems');
  assert.deepEqual(names(op(soap.moveItem(['a', 'b'], { distinguished: 'deleteditems' }))), ['ToFolderId', 'ItemIds']);
  const st = op(soap.subscribeStreaming({ id: 'F' }));
  assert.deepEqual(names(child(st, 'StreamingSubscriptionRequest')), ['FolderIds', 'EventTypes']);
  const pull = op(soap.subscribePull({ id: 'F' }, 10));
  assert.deepEqual(names(child(pull, 'PullSubscriptionRequest')), ['FolderIds', 'EventTypes', 'Timeout']);
  assert.deepEqual(path(pull, 'PullSubscriptionRequest', 'EventTypes')!.children.map((c) => c.text), ['NewMailEvent', 'CreatedEvent']);
  assert.deepEqual(names(op(soap.getStreamingEvents('S', 10))), ['SubscriptionIds', 'ConnectionTimeout']);
  assert.deepEqual(names(op(soap.getEvents('S', 'W'))), ['SubscriptionId', 'Watermark']);
});

test('WWW-Authenticate: schemes told apart from their parameters, several headers, NTLM tokens', () => {
  assert.deepEqual(authChallenges({ 'www-authenticate': 'Negotiate, NTLM, Basic realm="mail.example.com", charset="UTF-8"' }).map((c) => c.scheme), ['Negotiate', 'NTLM', 'Basic']);
  assert.deepEqual(authChallenges({ 'www-authenticate': ['NTLM TlRMTVNTUAACAAAA', 'Basic realm="x"'] as unknown as string }), [
    { scheme: 'NTLM', data: 'TlRMTVNTUAACAAAA' },
    { scheme: 'Basic', data: 'realm="x"' },
  ]);
  assert.deepEqual(authChallenges({}), []);
});

test('ews.url splits into host, port and path; a scheme is refused', () => {
  assert.deepEqual(ewsEndpoint('c', 'mail.example.com/EWS/Exchange.asmx'), { host: 'mail.example.com', port: 443, path: '/EWS/Exchange.asmx' });
  assert.deepEqual(ewsEndpoint('c', '127.0.0.1:8443/EWS/Exchange.asmx'), { host: '127.0.0.1', port: 8443, path: '/EWS/Exchange.asmx' });
  assert.deepEqual(ewsEndpoint('c', '[::1]:8443/ews/exchange.asmx'), { host: '::1', port: 8443, path: '/ews/exchange.asmx' });
  assert.throws(() => ewsEndpoint('c', 'https://mail.example.com/EWS/Exchange.asmx'), (e: unknown) => e instanceof MailsluiceError && e.code === 'CONFIG_INVALID');
  assert.deepEqual(folderPath('INBOX'), { distinguished: 'inbox' });
  assert.deepEqual(folderPath('Inbox'), { distinguished: 'inbox' });
  assert.deepEqual(folderPath('Inbox/Journal/2026'), { path: ['Inbox', 'Journal', '2026'] });
});

test('config check: an EWS connection needs its ews section, refuses a URL with a scheme, accepts ntlm', () => {
  const check = (conn: Record<string, unknown>): { ok: boolean; messages: string[] } => {
    const { config, problems } = checkConfigText(stringify({ connections: [{ name: 'x', protocol: 'ews', host: 'mail.example.com', ...conn }] }));
    return { ok: !!config, messages: problems.map((p) => `${p.path}: ${p.message}`) };
  };
  const good = check({ ews: { url: 'mail.example.com/EWS/Exchange.asmx', version: '2010SP2' }, auth: { type: 'ntlm', username: 'CORP\\journal', password: 'p' } });
  assert.ok(good.ok, good.messages.join('; '));
  const none = check({ auth: { type: 'ntlm', username: 'journal', domain: 'CORP', password: 'p' } });
  assert.ok(!none.ok);
  assert.ok(none.messages.some((m) => /connections\[0\]\.ews: is required for protocol ews/.test(m)), none.messages.join('; '));
  const scheme = check({ ews: { url: 'https://mail.example.com/EWS/Exchange.asmx' } });
  assert.ok(!scheme.ok);
  assert.ok(scheme.messages.some((m) => /ews\.url: must be written without a protocol prefix \(write mail\.example\.com\/EWS\/Exchange\.asmx/.test(m)), scheme.messages.join('; '));
  const elsewhere = checkConfigText(stringify({ connections: [{ name: 'x', protocol: 'imap', host: 'h', ews: { url: 'h/EWS/Exchange.asmx' } }] }));
  assert.ok(elsewhere.problems.some((p) => p.path === 'connections[0].ews' && /only applies to protocol ews/.test(p.message)));
  // ews.url replaces host: an EWS connection needs none (its host is the URL's), IMAP and POP3 do.
  const bare = checkConfigText(stringify({ connections: [{ name: 'x', protocol: 'ews', ews: { url: '[2001:db8::1]:8443/EWS/Exchange.asmx' }, auth: { type: 'basic', username: 'u', password: 'p' } }] }));
  assert.ok(bare.config, JSON.stringify(bare.problems));
  assert.equal(bare.config.connections[0]!.host, '2001:db8::1');
  for (const protocol of ['imap', 'pop3']) {
    const hostless = checkConfigText(stringify({ connections: [{ name: 'x', protocol, auth: { type: 'basic', username: 'u', password: 'p' } }] }));
    assert.ok(hostless.problems.some((p) => p.path === 'connections[0].host' && p.message === `is required for protocol ${protocol}`), JSON.stringify(hostless.problems));
  }
});

test('config check: a route response on an EWS connection is accepted; a system flag other than \\Seen is refused; delete, move and delete-and-expunge warn', () => {
  const conn = (deletePolicy: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    name: 'x', protocol: 'ews', ews: { url: 'mail.example.com/EWS/Exchange.asmx' }, auth: { type: 'ntlm', username: 'CORP\\journal', password: 'p' }, deletePolicy, ...extra,
  });
  const route = (response: Record<string, unknown>): Record<string, unknown> => ({ name: 'r', connection: 'x', response, errorResponse: { moveTo: 'Failed' }, scenario: [{ action: 'archive' }] });
  const leave = checkConfigText(stringify({ connections: [conn('leave')], routes: [route({ addFlags: ['\\Seen', '$Processed'] })] }));
  assert.ok(leave.config, JSON.stringify(leave.problems));
  assert.deepEqual(leave.warnings.filter((w) => w.path.startsWith('routes')), []);
  const flagged = checkConfigText(stringify({ connections: [conn('leave')], routes: [route({ addFlags: ['\\Flagged', '\\Seen', 'Blue'] })] }));
  assert.deepEqual(flagged.problems.map((p) => p.path), ['routes[0].response.addFlags']);
  assert.match(flagged.problems[0]!.message, /EWS, which has no equivalent of \\Flagged \(/);
  for (const [policy, extra] of [['delete', {}], ['delete-and-expunge', {}], ['move', { moveTo: 'Done' }]] as const) {
    const w = checkConfigText(stringify({ connections: [conn(policy, extra)], routes: [route({ addFlags: ['$P'] })] }));
    assert.ok(w.config, JSON.stringify(w.problems));
    assert.deepEqual(w.warnings.filter((x) => x.path.startsWith('routes')).map((x) => x.path), ['routes[0].response', 'routes[0].errorResponse'], policy);
    assert.match(w.warnings.find((x) => x.path === 'routes[0].response')!.message, /use leave or mark-seen\)/);
  }
});
