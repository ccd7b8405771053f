/**
 * The project's EWS schemas (test/fixtures/ews-schema) as the simulator's validator uses them:
 * they accept what the documents allow within the subset, and refuse envelopes out of order,
 * with an element outside the subset, or with a value outside an enumeration, so a client or the
 * simulator that drifts is caught. Also prints what one xmllint-wasm run costs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EwsSchemaValidator } from './ews/schema.js';

const NS = 'xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" ' +
  'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"';

function request(body: string, header = '<t:RequestServerVersion Version="Exchange2013_SP1"/>'): string {
  return `<?xml version="1.0" encoding="utf-8"?><s:Envelope ${NS}><s:Header>${header}</s:Header><s:Body>${body}</s:Body></s:Envelope>`;
}

function getItemResponse(message: string): string {
  return request(`<m:GetItemResponse><m:ResponseMessages>${message}</m:ResponseMessages></m:GetItemResponse>`,
    '<t:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11"/>');
}

const shape = '<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:IncludeMimeContent>true</t:IncludeMimeContent></m:ItemShape>';
const ids = '<m:ItemIds><t:ItemId Id="AAMk1" ChangeKey="CQAA"/></m:ItemIds>';
const okMessage = (item: string): string =>
  `<m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items>${item}</m:Items></m:GetItemResponseMessage>`;

const validator = EwsSchemaValidator.load();

test('valid GetItem request and response pass; the restriction grammar of MS-OXWSSRCH passes', async () => {
  assert.deepEqual(await validator.validate(request(`<m:GetItem>${shape}${ids}</m:GetItem>`)), []);
  const item = '<t:Message><t:MimeContent CharacterSet="UTF-8">U3ViamVjdDogaGkNCg0KaGkNCg==</t:MimeContent><t:ItemId Id="AAMk1" ChangeKey="CQAA"/>' +
    '<t:DateTimeReceived>2026-01-01T00:00:01Z</t:DateTimeReceived><t:Size>20</t:Size>' +
    '<t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0x0e23" PropertyType="Integer"/><t:Value>7</t:Value></t:ExtendedProperty><t:IsRead>false</t:IsRead></t:Message>';
  assert.deepEqual(await validator.validate(getItemResponse(okMessage(item))), []);
  const restriction = '<m:Restriction><t:And><t:Not><t:Exists><t:FieldURI FieldURI="message:IsRead"/></t:Exists></t:Not>' +
    '<t:IsGreaterThan><t:FieldURI FieldURI="item:DateTimeReceived"/><t:FieldURIOrConstant><t:Constant Value="2026-01-01T00:00:00Z"/></t:FieldURIOrConstant></t:IsGreaterThan></t:And></m:Restriction>';
  const findItem = `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="10" Offset="0" BasePoint="Beginning"/>` +
    `${restriction}<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`;
  assert.deepEqual(await validator.validate(request(findItem)), []);
});

test('refused: elements out of the documented order, an unknown element, an element outside the subset, a bad enumeration value', async () => {
  const problems = async (xml: string): Promise<string> => {
    const p = await validator.validate(xml);
    assert.ok(p.length > 0, `expected a refusal of ${xml}`);
    return p.join('\n');
  };
  assert.match(await problems(request(`<m:GetItem>${ids}${shape}</m:GetItem>`)), /ItemIds': This element is not expected\. Expected is .*ItemShape/);
  assert.match(await problems(request(`<m:GetItem>${shape}${ids}<m:Extra/></m:GetItem>`)), /Extra': This element is not expected/);
  // Body is a real ItemType property, but outside the subset the simulator serves.
  const withBody = '<t:Message><t:ItemId Id="AAMk1"/><t:Body BodyType="Text">hi</t:Body></t:Message>';
  assert.match(await problems(getItemResponse(okMessage(withBody))), /Body': This element is not expected/);
  // IsRead belongs after the extended properties (MessageType extends ItemType).
  const outOfOrder = '<t:Message><t:IsRead>true</t:IsRead><t:ItemId Id="AAMk1"/></t:Message>';
  assert.match(await problems(getItemResponse(okMessage(outOfOrder))), /ItemId': This element is not expected/);
  const badCode = '<m:GetItemResponseMessage ResponseClass="Error"><m:ResponseCode>ErrorMadeUp</m:ResponseCode><m:Items/></m:GetItemResponseMessage>';
  assert.match(await problems(getItemResponse(badCode)), /ErrorMadeUp/);
  assert.match(await problems(request(`<m:GetItem>${shape}${ids}</m:GetItem>`, '<t:RequestServerVersion Version="Exchange2099"/>')), /Exchange2099/);
  // A GetItemResponse holds GetItemResponseMessages only.
  const wrongMessage = '<m:FindItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode></m:FindItemResponseMessage>';
  assert.match(await problems(getItemResponse(wrongMessage)), /FindItemResponseMessage': This element is not expected/);
});

test('cost: one xmllint-wasm run (compiling the schemas) per batch', async () => {
  const runs = validator.stats.runs;
  const started = Date.now();
  await validator.validate(request(`<m:GetItem>${shape}${ids}</m:GetItem>`));
  const ms = Date.now() - started;
  assert.equal(validator.stats.runs, runs + 1);
  process.stdout.write(`# one validation run: ${ms} ms (${validator.stats.runs} runs so far, ${validator.stats.ms} ms in all)\n`);
});
