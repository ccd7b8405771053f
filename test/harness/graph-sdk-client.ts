/**
 * Microsoft's own clients against the Graph simulator, run as a child process by
 * graph-simulator-sdk.test.ts: msal-node obtains app-only tokens (client secret, then certificate)
 * from the simulator's token endpoint, and the Graph JavaScript SDK lists a folder, pages through
 * a delta round, reads a `$value`, moves, deletes and batches with the token. A child because both
 * libraries use Node's fetch, which trusts a CA only through NODE_EXTRA_CA_CERTS, read at start
 * (the parent sets it to the simulator's CA). Each step's outcome goes to stdout as one JSON
 * object; the parent compares it with the simulator's state.
 */
import { ConfidentialClientApplication } from '@azure/msal-node';
import { BatchRequestContent, BatchResponseContent, Client, PageIterator, ResponseType, type PageCollection } from '@microsoft/microsoft-graph-client';

/** What the parent passes in argv[2]. */
export interface SdkCheckInput {
  url: string;
  tenant: string;
  clientId: string;
  clientSecret: string;
  certClientId: string;
  certPem: string;
  keyPem: string;
  thumbprintSha256: string;
  mailbox: string;
  /** A folder id (Delta) and message ids to read, move and delete. */
  folderId: string;
  readId: string;
  moveId: string;
  deleteId: string;
  batchIds: string[];
}

async function collect(client: Client, first: PageCollection): Promise<{ items: Array<Record<string, unknown>>; deltaLink: string | undefined }> {
  const items: Array<Record<string, unknown>> = [];
  const it = new PageIterator(client, first, (item: Record<string, unknown>) => {
    items.push(item);
    return true;
  });
  await it.iterate();
  return { items, deltaLink: it.getDeltaLink() };
}

async function main(): Promise<void> {
  const input = JSON.parse(process.argv[2]!) as SdkCheckInput;
  const host = new URL(input.url).host;
  const out: Record<string, unknown> = {};
  const scopes = ['https://graph.microsoft.com/.default'];
  const bySecret = new ConfidentialClientApplication({ auth: { clientId: input.clientId, clientSecret: input.clientSecret, authority: `${input.url}/${input.tenant}`, knownAuthorities: [host] } });
  const t1 = await bySecret.acquireTokenByClientCredential({ scopes });
  const t1again = await bySecret.acquireTokenByClientCredential({ scopes });
  out.secretToken = { ok: !!t1?.accessToken, cachedSame: t1again?.accessToken === t1?.accessToken, expiresOn: t1?.expiresOn };
  const byCert = new ConfidentialClientApplication({
    auth: { clientId: input.certClientId, authority: `${input.url}/${input.tenant}`, knownAuthorities: [host], clientCertificate: { thumbprintSha256: input.thumbprintSha256, privateKey: input.keyPem, x5c: input.certPem } },
  });
  const t2 = await byCert.acquireTokenByClientCredential({ scopes });
  out.certToken = { ok: !!t2?.accessToken };
  const client = Client.init({
    authProvider: (done) => done(null, t1!.accessToken),
    baseUrl: `${input.url}/`,
    defaultVersion: 'v1.0',
    customHosts: new Set([new URL(input.url).hostname]),
  });
  const user = `/users/${input.mailbox}`;
  // The parent throttles this first Graph request once: the SDK's RetryHandler waits Retry-After and repeats it.
  const folder = await client.api(`${user}/mailFolders/${input.folderId}`).select('displayName,totalItemCount').get() as Record<string, unknown>;
  out.folder = folder;
  const listFirst = await client.api(`${user}/mailFolders/${input.folderId}/messages`).select('id,subject,receivedDateTime').top(2).orderby('receivedDateTime').get() as PageCollection;
  out.list = (await collect(client, listFirst)).items.map((m) => m.id);
  const deltaFirst = await client.api(`${user}/mailFolders/${input.folderId}/messages/delta`).select('subject,internetMessageId').header('Prefer', 'odata.maxpagesize=2').get() as PageCollection;
  const round = await collect(client, deltaFirst);
  out.delta = { ids: round.items.map((m) => m.id), hasDeltaLink: typeof round.deltaLink === 'string' };
  const raw = await client.api(`${user}/messages/${input.readId}/$value`).responseType(ResponseType.ARRAYBUFFER).get() as ArrayBuffer;
  out.value = Buffer.from(raw).toString('base64');
  const moved = await client.api(`${user}/messages/${input.moveId}/move`).post({ destinationId: 'archive' }) as Record<string, unknown>;
  out.moved = { id: moved.id, parentFolderId: moved.parentFolderId };
  await client.api(`${user}/messages/${input.deleteId}`).delete();
  out.deleted = true;
  // The second delta round, through the link the first one ended with.
  const second = await collect(client, await client.api(round.deltaLink!).get() as PageCollection);
  out.delta2 = second.items.map((m) => ({ id: m.id, removed: m['@removed'] ?? null }));
  const batch = new BatchRequestContent(input.batchIds.map((id, i) => ({
    id: String(i + 1),
    request: new Request(`${input.url}${user}/messages/${id}`, { method: 'PATCH', body: JSON.stringify({ isRead: true }), headers: { 'Content-Type': 'application/json' } }),
  })));
  const batchBody = await client.api('/$batch').post(await batch.getContent()) as Record<string, unknown>;
  const responses = new BatchResponseContent(batchBody as never).getResponses();
  out.batch = await Promise.all([...responses].map(async ([id, r]) => ({ id, status: r.status, isRead: ((await r.json()) as { isRead?: boolean }).isRead })));
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e: unknown) => {
  process.stdout.write(JSON.stringify({ error: String((e as Error)?.stack ?? e), body: (e as { body?: unknown }).body }) + '\n');
  process.exitCode = 1;
});
