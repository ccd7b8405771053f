/**
 * The EWS simulator checked with raw HTTPS SOAP requests (no EWS client of ours): every operation,
 * the faults, IIS-style Basic and NTLM 401 flows (the client side of NTLM is mailsluice's own
 * ntlm-node builders, so this also checks them against the simulator's independent server side),
 * channel binding, and every request and response validated against the EWS schemas (the project's
 * subset written from Microsoft's documents, test/fixtures/ews-schema).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Agent, request } from 'node:https';
import { startEwsSimulator, type EwsSimulator, type EwsSimulatorOptions } from './ews-simulator.js';
import { authenticateMessage, negotiateMessage, parseChallenge } from '../../src/adapters/ntlm-node/ntlm-messages.js';

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string; localPort: number | undefined }

const BASIC = 'Basic ' + Buffer.from('CORP\\journal:journal-secret').toString('base64');

function post(sim: EwsSimulator, body: string, opts: { auth?: string; agent?: Agent; path?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port: sim.port, path: opts.path ?? '/EWS/Exchange.asmx', method: 'POST', ca: sim.ca, agent: opts.agent ?? false,
      headers: { 'Content-Type': 'text/xml; charset=utf-8', ...(opts.auth ? { Authorization: opts.auth } : {}) },
    }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString('utf8'), localPort: res.socket?.localPort }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A SOAP request as EWS clients write it. */
function soap(body: string, version = 'Exchange2010_SP1'): string {
  return '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" ' +
    'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">' +
    `<soap:Header><t:RequestServerVersion Version="${version}"/></soap:Header><soap:Body>${body}</soap:Body></soap:Envelope>`;
}

const call = async (sim: EwsSimulator, body: string, version?: string): Promise<string> => {
  const r = await post(sim, soap(body, version), { auth: BASIC });
  assert.equal(r.status, 200, r.body);
  return r.body;
};

const attr = (xml: string, name: string): string[] => [...xml.matchAll(new RegExp(`${name}="([^"]*)"`, 'g'))].map((m) => m[1]!);
const texts = (xml: string, tag: string): string[] => [...xml.matchAll(new RegExp(`<${tag}(?: [^>]*)?>([^<]*)</${tag}>`, 'g'))].map((m) => m[1]!);

const msg = (n: number, extra = ''): string => `From: Sender ${n} <s${n}@example.org>\r\nTo: journal@corp.example.com\r\nSubject: Test <${n}> & more\r\nMessage-ID: <m${n}@example.org>\r\n${extra}\r\nBody ${n}\r\n`;

const itemsShape = '<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="item:Size"/>' +
  '<t:FieldURI FieldURI="item:DateTimeReceived"/><t:FieldURI FieldURI="message:IsRead"/></t:AdditionalProperties></m:ItemShape>';
const inbox = '<t:DistinguishedFolderId Id="inbox"/>';

function findItem(view: string, restriction = ''): string {
  return `<m:FindItem Traversal="Shallow">${itemsShape}${view}${restriction}<m:SortOrder><t:FieldOrder Order="Ascending"><t:FieldURI FieldURI="item:DateTimeReceived"/></t:FieldOrder></m:SortOrder>` +
    `<m:ParentFolderIds>${inbox}</m:ParentFolderIds></m:FindItem>`;
}

let sim: EwsSimulator;
const started: EwsSimulator[] = [];
async function start(opts: EwsSimulatorOptions = {}): Promise<EwsSimulator> {
  const s = await startEwsSimulator({ validateFirst: Infinity, ...opts });
  started.push(s);
  assert.ok(s.schemaDir, 'the simulator must validate against the EWS schemas (test/fixtures/ews-schema)');
  return s;
}

before(async () => {
  sim = await start({ keepAliveMs: 200, connectionTimeoutMs: 1500 });
});

after(async () => {
  for (const s of started) await s.stop();
  assert.deepEqual(started.flatMap((s) => s.validationErrors), [], 'every request and response is valid against the EWS schemas');
});

test('without credentials IIS answers 401 offering NTLM and Basic; Basic takes DOMAIN\\user, UPN and a bare user; a wrong password is 401', async () => {
  const body = soap(`<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>${inbox}</m:FolderIds></m:GetFolder>`);
  const r = await post(sim, body);
  assert.equal(r.status, 401);
  assert.deepEqual(r.headers['www-authenticate'], 'NTLM, Basic realm="127.0.0.1"');
  for (const login of ['CORP\\journal', 'journal@corp.example.com', 'journal']) {
    const ok = await post(sim, body, { auth: 'Basic ' + Buffer.from(`${login}:journal-secret`).toString('base64') });
    assert.equal(ok.status, 200, login);
    assert.match(ok.body, /<h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11"/);
  }
  assert.equal((await post(sim, body, { auth: 'Basic ' + Buffer.from('CORP\\journal:wrong').toString('base64') })).status, 401);
  assert.equal((await post(sim, body, { auth: 'Basic ' + Buffer.from('OTHER\\journal:journal-secret').toString('base64') })).status, 401);
  assert.equal(sim.requests.at(-1)?.user, 'CORP\\journal');
});

async function ntlmLogin(s: EwsSimulator, agent: Agent, input: { password?: string; domain?: string; user?: string; certificateHash?: Buffer | undefined }): Promise<Reply> {
  const body = soap(`<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>${inbox}</m:FolderIds></m:GetFolder>`);
  const negotiate = negotiateMessage();
  const first = await post(s, body, { agent, auth: `NTLM ${negotiate.toString('base64')}` });
  assert.equal(first.status, 401);
  const header = String(first.headers['www-authenticate']);
  assert.match(header, /^NTLM [A-Za-z0-9+/=]+$/);
  const challenge = parseChallenge(Buffer.from(header.slice(5), 'base64'));
  assert.equal(challenge.serverDomain, 'CORP');
  const auth = authenticateMessage({
    negotiate, challenge, user: input.user ?? 'journal', domain: input.domain ?? 'CORP', password: input.password ?? 'journal-secret', certificateHash: input.certificateHash,
  });
  const second = await post(s, body, { agent, auth: `NTLM ${auth.toString('base64')}` });
  assert.equal(second.localPort, first.localPort, 'the AUTHENTICATE went on the socket that got the CHALLENGE');
  return second;
}

test('NTLM: NEGOTIATE gets the CHALLENGE in a 401, the AUTHENTICATE on the same socket logs in and the socket stays authenticated; a new socket starts over', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const ok = await ntlmLogin(sim, agent, {});
    assert.equal(ok.status, 200, ok.body);
    const again = await post(sim, soap(`<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>${inbox}</m:FolderIds></m:GetFolder>`), { agent });
    assert.equal(again.status, 200);
    assert.equal(again.localPort, ok.localPort);
    assert.equal(sim.requests.at(-1)?.user, 'CORP\\journal');
    const fresh = await post(sim, soap(`<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>${inbox}</m:FolderIds></m:GetFolder>`));
    assert.equal(fresh.status, 401);
  } finally {
    agent.destroy();
  }
  const agent2 = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    assert.equal((await ntlmLogin(sim, agent2, { password: 'wrong' })).status, 401);
    assert.match(sim.authRefusals.at(-1) ?? '', /NTProofStr mismatch/);
    assert.equal((await ntlmLogin(sim, agent2, { domain: 'OTHER' })).status, 401);
    // An empty domain is the server's own (a bare user name).
    assert.equal((await ntlmLogin(sim, agent2, { domain: '' })).status, 200);
  } finally {
    agent2.destroy();
  }
});

test('NTLM channel binding: required refuses an AUTHENTICATE without the tls-server-end-point binding and accepts the right one', async () => {
  const strict = await start({ channelBinding: 'required', auth: ['NTLM'] });
  const certHash = createHash('sha256').update(strict.certificateDer).digest();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    assert.equal((await ntlmLogin(strict, agent, {})).status, 401);
    assert.match(strict.authRefusals.at(-1) ?? '', /MsvAvChannelBindings does not match/);
    assert.equal((await ntlmLogin(strict, agent, { certificateHash: createHash('sha256').update('another certificate').digest() })).status, 401);
    assert.equal((await ntlmLogin(strict, agent, { certificateHash: certHash })).status, 200);
    // Without Extended Protection the same unbound AUTHENTICATE is fine.
    assert.equal((await ntlmLogin(sim, new Agent({ keepAlive: true, maxSockets: 1 }), {})).status, 200);
  } finally {
    agent.destroy();
  }
});

test('GetFolder and FindFolder: distinguished folders, folder ids, paths by DisplayName, ErrorFolderNotFound, ErrorNonExistentMailbox', async () => {
  sim.createFolder('Inbox/Journal');
  const shape = '<m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>';
  const got = await call(sim, `<m:GetFolder>${shape}<m:FolderIds><t:DistinguishedFolderId Id="msgfolderroot"/>${inbox}<t:DistinguishedFolderId Id="deleteditems"/><t:FolderId Id="AAMkNoSuchFolder="/></m:FolderIds></m:GetFolder>`);
  assert.deepEqual(texts(got, 'm:ResponseCode'), ['NoError', 'NoError', 'NoError', 'ErrorFolderNotFound']);
  assert.deepEqual(texts(got, 't:DisplayName'), ['Top of Information Store', 'Inbox', 'Deleted Items']);
  const inboxId = attr(got, 'Id')[1]!;
  const found = await call(sim, `<m:FindFolder Traversal="Shallow">${shape}<m:Restriction><t:IsEqualTo><t:FieldURI FieldURI="folder:DisplayName"/><t:FieldURIOrConstant><t:Constant Value="journal"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>` +
    `<m:ParentFolderIds><t:FolderId Id="${inboxId}"/></m:ParentFolderIds></m:FindFolder>`);
  assert.deepEqual(texts(found, 't:DisplayName'), ['Journal']);
  assert.match(found, /TotalItemsInView="1" IncludesLastItemInRange="true"/);
  const other = await call(sim, `<m:GetFolder>${shape}<m:FolderIds><t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress>nobody@corp.example.com</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:FolderIds></m:GetFolder>`);
  assert.deepEqual(texts(other, 'm:ResponseCode'), ['ErrorNonExistentMailbox']);
  assert.match(other, /ResponseClass="Error"><m:MessageText>/);
});

test('FindItem pages with IndexedPageItemView, sorts by DateTimeReceived, filters IsRead; GetItem returns the MIME byte for byte and ErrorItemNotFound per missing id', async () => {
  const s = await start();
  const raws = [0, 1, 2, 3, 4].map((n) => msg(n));
  const ids = raws.map((r, n) => s.add('Inbox', r, { isRead: n === 1, received: new Date(Date.UTC(2026, 0, 1, 0, 0, 10 - n)) }));
  const p1 = await call(s, findItem('<m:IndexedPageItemView MaxEntriesReturned="2" Offset="0" BasePoint="Beginning"/>'));
  assert.match(p1, /IndexedPagingOffset="2" TotalItemsInView="5" IncludesLastItemInRange="false"/);
  assert.deepEqual(attr(p1, 'Id'), [ids[4], ids[3]], 'oldest first');
  const p3 = await call(s, findItem('<m:IndexedPageItemView MaxEntriesReturned="2" Offset="4" BasePoint="Beginning"/>'));
  assert.match(p3, /IndexedPagingOffset="5" TotalItemsInView="5" IncludesLastItemInRange="true"/);
  assert.deepEqual(texts(p3, 't:Size'), [String(Buffer.byteLength(raws[0]!))]);
  assert.deepEqual(texts(p3, 't:DateTimeReceived'), ['2026-01-01T00:00:10Z']);
  const unread = await call(s, findItem('<m:IndexedPageItemView MaxEntriesReturned="10" Offset="0" BasePoint="Beginning"/>',
    '<m:Restriction><t:IsEqualTo><t:FieldURI FieldURI="message:IsRead"/><t:FieldURIOrConstant><t:Constant Value="false"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>'));
  assert.equal(attr(unread, 'Id').length, 4);
  assert.ok(!attr(unread, 'Id').includes(ids[1]!));
  assert.ok(ids.every((id) => id.length > 100), 'ItemIds are long opaque strings like Exchange\'s');
  const got = await call(s, `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:IncludeMimeContent>true</t:IncludeMimeContent></m:ItemShape><m:ItemIds><t:ItemId Id="${ids[0]}"/><t:ItemId Id="AAMkGone="/><t:ItemId Id="${ids[2]}"/></m:ItemIds></m:GetItem>`);
  assert.deepEqual(texts(got, 'm:ResponseCode'), ['NoError', 'ErrorItemNotFound', 'NoError']);
  const mime = texts(got, 't:MimeContent').map((b) => Buffer.from(b, 'base64').toString('utf8'));
  assert.deepEqual(mime, [raws[0], raws[2]]);
  assert.match(got, /<t:MimeContent CharacterSet="UTF-8">/);
});

test('UpdateItem (IsRead, Categories) changes the ChangeKey; MoveItem gives a new ItemId; DeleteItem HardDelete and MoveToDeletedItems', async () => {
  const s = await start();
  s.createFolder('Inbox/Processed');
  const [a, b, c] = [1, 2, 3].map((n) => s.add('Inbox', msg(n)));
  const before = s.items('Inbox').find((i) => i.id === a)!.changeKey;
  const upd = await call(s, `<m:UpdateItem ConflictResolution="AlwaysOverwrite" MessageDisposition="SaveOnly"><m:ItemChanges><t:ItemChange><t:ItemId Id="${a}" ChangeKey="${before}"/><t:Updates>` +
    '<t:SetItemField><t:FieldURI FieldURI="message:IsRead"/><t:Message><t:IsRead>true</t:IsRead></t:Message></t:SetItemField>' +
    '<t:SetItemField><t:FieldURI FieldURI="item:Categories"/><t:Message><t:Categories><t:String>archived</t:String><t:String>Red</t:String></t:Categories></t:Message></t:SetItemField>' +
    '</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>');
  assert.deepEqual(texts(upd, 'm:ResponseCode'), ['NoError']);
  const after = s.items('Inbox').find((i) => i.id === a)!;
  assert.equal(after.isRead, true);
  assert.deepEqual(after.categories, ['archived', 'Red']);
  assert.notEqual(after.changeKey, before);
  assert.equal(attr(upd, 'ChangeKey')[0], after.changeKey);
  const moved = await call(s, `<m:MoveItem><m:ToFolderId><t:FolderId Id="${attr(await call(s, '<m:FindFolder Traversal="Deep"><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:Restriction><t:IsEqualTo><t:FieldURI FieldURI="folder:DisplayName"/><t:FieldURIOrConstant><t:Constant Value="Processed"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction><m:ParentFolderIds><t:DistinguishedFolderId Id="msgfolderroot"/></m:ParentFolderIds></m:FindFolder>'), 'Id')[0]}"/></m:ToFolderId><m:ItemIds><t:ItemId Id="${b}"/></m:ItemIds></m:MoveItem>`);
  assert.deepEqual(texts(moved, 'm:ResponseCode'), ['NoError']);
  const newId = attr(moved, 'Id')[0]!;
  assert.notEqual(newId, b);
  assert.deepEqual(s.items('Inbox/Processed').map((i) => i.id), [newId]);
  const del = await call(s, `<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:ItemId Id="${a}"/><t:ItemId Id="${b}"/></m:ItemIds></m:DeleteItem>`);
  assert.deepEqual(texts(del, 'm:ResponseCode'), ['NoError', 'ErrorItemNotFound']);
  await call(s, `<m:DeleteItem DeleteType="MoveToDeletedItems"><m:ItemIds><t:ItemId Id="${c}"/></m:ItemIds></m:DeleteItem>`);
  assert.deepEqual(s.items('Inbox'), []);
  assert.equal(s.items('Deleted Items').length, 1);
});

test('SyncFolderItems: pages by MaxChangesReturned, then reports only new changes; an invalidated state is ErrorInvalidSyncStateData', async () => {
  const s = await start();
  const ids = [1, 2, 3].map((n) => s.add('Inbox', msg(n), { received: new Date(Date.UTC(2026, 0, 1, 0, 0, n)) }));
  const sync = (state: string, max = 2): string => `<m:SyncFolderItems>${itemsShape}<m:SyncFolderId>${inbox}</m:SyncFolderId>${state ? `<m:SyncState>${state}</m:SyncState>` : ''}<m:MaxChangesReturned>${max}</m:MaxChangesReturned></m:SyncFolderItems>`;
  const r1 = await call(s, sync(''));
  assert.deepEqual(texts(r1, 'm:IncludesLastItemInRange'), ['false']);
  assert.deepEqual(attr(r1, 'Id'), ids.slice(0, 2));
  const r2 = await call(s, sync(texts(r1, 'm:SyncState')[0]!));
  assert.deepEqual(attr(r2, 'Id'), [ids[2]]);
  assert.deepEqual(texts(r2, 'm:IncludesLastItemInRange'), ['true']);
  const fresh = s.add('Inbox', msg(4));
  await call(s, `<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:ItemId Id="${ids[0]}"/></m:ItemIds></m:DeleteItem>`);
  const r3 = await call(s, sync(texts(r2, 'm:SyncState')[0]!, 10));
  assert.match(r3, new RegExp(`<t:Create><t:Message><t:ItemId Id="${fresh.replace(/[+/]/g, '\\$&')}"`));
  assert.match(r3, /<t:Delete><t:ItemId Id="/);
  s.fault.invalidateSyncStates();
  const r4 = await call(s, sync(texts(r3, 'm:SyncState')[0]!));
  assert.deepEqual(texts(r4, 'm:ResponseCode'), ['ErrorInvalidSyncStateData']);
});

/** Reads a chunked GetStreamingEvents response as it arrives: one string per envelope. */
function stream(s: EwsSimulator, body: string): Promise<{ envelopes: string[]; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const envelopes: string[] = [];
    const req = request({ host: '127.0.0.1', port: s.port, path: '/EWS/Exchange.asmx', method: 'POST', ca: s.ca, agent: false,
      headers: { 'Content-Type': 'text/xml; charset=utf-8', Authorization: BASIC } }, (res) => {
      assert.equal(res.headers['transfer-encoding'], 'chunked');
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        for (let end = buf.indexOf('</s:Envelope>'); end >= 0; end = buf.indexOf('</s:Envelope>')) {
          envelopes.push(buf.slice(0, end + 13));
          buf = buf.slice(end + 13);
        }
      });
      resolve({ envelopes, ended: new Promise((r) => res.on('end', () => r())) });
    });
    req.on('error', reject);
    req.end(soap(body));
  });
}

const until = async (what: string, ok: () => boolean, ms = 5000): Promise<void> => {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('streaming notifications: keep-alives, NewMailEvent for an item added to the subscribed folder, Closed after the ConnectionTimeout, silence on demand', async () => {
  const sub = await call(sim, `<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds>${inbox}</t:FolderIds><t:EventTypes><t:EventType>NewMailEvent</t:EventType><t:EventType>CreatedEvent</t:EventType></t:EventTypes></m:StreamingSubscriptionRequest></m:Subscribe>`, 'Exchange2010_SP1');
  const id = texts(sub, 'm:SubscriptionId')[0]!;
  const { envelopes, ended } = await stream(sim, `<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>${id}</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents>`);
  await until('two keep-alives', () => envelopes.length >= 2);
  assert.ok(envelopes.every((e) => e.includes('<m:ConnectionStatus>OK</m:ConnectionStatus>') && !e.includes('Notification')));
  sim.add('Deleted Items', msg(8));
  const itemId = sim.add('Inbox', msg(9));
  await until('the NewMailEvent', () => envelopes.some((e) => e.includes('NewMailEvent')));
  const ev = envelopes.find((e) => e.includes('NewMailEvent'))!;
  assert.ok(ev.includes(`<t:ItemId Id="${itemId}"`) && ev.includes('<t:CreatedEvent>') && ev.includes(`<t:SubscriptionId>${id}</t:SubscriptionId>`));
  assert.equal(envelopes.filter((e) => e.includes('Notification')).length, 1, 'nothing for the folder not subscribed');
  await ended;
  assert.match(envelopes.at(-1)!, /<m:ConnectionStatus>Closed<\/m:ConnectionStatus>/);
  // Silenced: the connection stays up with keep-alives only.
  sim.fault.silenceNotifications();
  const quiet = await stream(sim, `<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>${id}</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents>`);
  sim.add('Inbox', msg(10));
  await quiet.ended;
  assert.ok(quiet.envelopes.length >= 3 && quiet.envelopes.every((e) => !e.includes('Notification')));
  assert.deepEqual(texts(await call(sim, `<m:Unsubscribe><m:SubscriptionId>${id}</m:SubscriptionId></m:Unsubscribe>`), 'm:ResponseCode'), ['NoError']);
  assert.deepEqual(texts(await call(sim, `<m:Unsubscribe><m:SubscriptionId>${id}</m:SubscriptionId></m:Unsubscribe>`), 'm:ResponseCode'), ['ErrorSubscriptionNotFound']);
});

test('pull subscriptions (Exchange 2007 SP1): GetEvents returns the events after the watermark, then a StatusEvent', async () => {
  const s = await start();
  const sub = await call(s, `<m:Subscribe><m:PullSubscriptionRequest><t:FolderIds>${inbox}</t:FolderIds><t:EventTypes><t:EventType>NewMailEvent</t:EventType></t:EventTypes><t:Timeout>10</t:Timeout></m:PullSubscriptionRequest></m:Subscribe>`, 'Exchange2007_SP1');
  const [id] = texts(sub, 'm:SubscriptionId');
  const [w0] = texts(sub, 'm:Watermark');
  const a = s.add('Inbox', msg(1));
  const b = s.add('Inbox', msg(2));
  const get = (w: string): Promise<string> => call(s, `<m:GetEvents><m:SubscriptionId>${id}</m:SubscriptionId><m:Watermark>${w}</m:Watermark></m:GetEvents>`, 'Exchange2007_SP1');
  const e1 = await get(w0!);
  assert.deepEqual(attr(e1, 'Id').filter((x) => x === a || x === b), [a, b]);
  assert.deepEqual(texts(e1, 't:MoreEvents'), ['false']);
  const last = texts(e1, 't:Watermark').at(-1)!;
  const e2 = await get(last);
  assert.match(e2, /<t:StatusEvent><t:Watermark>/);
  assert.deepEqual(texts(await call(s, `<m:GetEvents><m:SubscriptionId>nope</m:SubscriptionId><m:Watermark>${last}</m:Watermark></m:GetEvents>`), 'm:ResponseCode'), ['ErrorSubscriptionNotFound']);
});

test('faults: ErrorServerBusy with BackOffMilliseconds, HTTP 503/429 with Retry-After, a cut response, a refused RequestServerVersion, a request that fails schema validation', async () => {
  const s = await start({ refuseVersions: ['Exchange2007_SP1'] });
  const id = s.add('Inbox', msg(1));
  s.fault.serverBusy(1, 2500);
  const busy = await call(s, findItem(''));
  assert.match(busy, /ResponseClass="Error">.*<m:ResponseCode>ErrorServerBusy<\/m:ResponseCode>.*<m:MessageXml><t:Value Name="BackOffMilliseconds">2500<\/t:Value><\/m:MessageXml>/);
  assert.deepEqual(texts(await call(s, findItem('')), 'm:ResponseCode'), ['NoError'], 'consumed as it fired');
  s.fault.serverBusy(1, 300, { asFault: true });
  const busyFault = await post(s, soap(findItem('')), { auth: BASIC });
  assert.equal(busyFault.status, 500);
  assert.match(busyFault.body, /a:ErrorServerBusy<\/faultcode>.*<t:MessageXml xmlns:t="[^"]+"><t:Value Name="BackOffMilliseconds">300<\/t:Value><\/t:MessageXml><\/detail>/);
  s.fault.httpStatus(503, 1, 7);
  const r503 = await post(s, soap(findItem('')), { auth: BASIC });
  assert.equal(r503.status, 503);
  assert.equal(r503.headers['retry-after'], '7');
  s.fault.httpStatus(429, 1);
  assert.equal((await post(s, soap(findItem('')), { auth: BASIC })).status, 429);
  s.fault.cutResponse('GetItem', 100);
  const getItem = soap(`<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:IncludeMimeContent>true</t:IncludeMimeContent></m:ItemShape><m:ItemIds><t:ItemId Id="${id}"/></m:ItemIds></m:GetItem>`);
  await assert.rejects(post(s, getItem, { auth: BASIC }), /aborted|ECONNRESET|socket hang up/);
  assert.equal((await post(s, getItem, { auth: BASIC })).status, 200);
  const refused = await post(s, soap(findItem(''), 'Exchange2007_SP1'), { auth: BASIC });
  assert.equal(refused.status, 500);
  assert.match(refused.body, /<faultcode xmlns:a="[^"]+">a:ErrorInvalidServerVersion<\/faultcode>/);
  const invalid = await post(s, soap('<m:FindItem Traversal="Sideways"><m:Nonsense/></m:FindItem>'), { auth: BASIC });
  assert.equal(invalid.status, 500);
  assert.match(invalid.body, /a:ErrorSchemaValidation/);
  assert.equal(s.validationErrors.length, 2, s.validationErrors.join('\n'));
  assert.match(s.validationErrors[0]!, /^FindItem request: /);
  s.validationErrors.length = 0;
  assert.deepEqual(s.requests.map((r) => r.operation).slice(0, 4), ['FindItem', 'FindItem', 'FindItem', 'GetItem'], 'HTTP-level refusals are not operations');
});
