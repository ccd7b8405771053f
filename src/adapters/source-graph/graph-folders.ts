/**
 * The folder a Graph connection drains (`graph.folder`, `moveTo`): a well-known folder name asked
 * for directly (`mailFolders/inbox`: the same in every mailbox language), or a path of display
 * names from the top of the mailbox, each step found among the child folders of the one before
 * (a first step may be a well-known name too: `inbox/Journal`).
 */
import { MailsluiceError } from '../../core/errors/index.js';
import type { GraphClient } from './graph-client.js';
import { graphBadAnswer } from './graph-error-map.js';

/** A folder found: its id, what it is called, how many messages it holds. */
export interface GraphFolder {
  id: string;
  name: string;
  total: number;
}

/** The well-known folder names of Graph's mailFolder resource (v1.0). */
export const WELL_KNOWN_FOLDERS: ReadonlySet<string> = new Set([
  'archive',
  'clutter',
  'conflicts',
  'conversationhistory',
  'deleteditems',
  'drafts',
  'inbox',
  'junkemail',
  'localfailures',
  'msgfolderroot',
  'outbox',
  'recoverableitemsdeletions',
  'scheduled',
  'searchfolders',
  'sentitems',
  'serverfailures',
  'syncissues',
]);

/** Child folders asked per page while a path step is looked for. */
const CHILD_PAGE = 100;

type FolderJson = { id?: unknown; displayName?: unknown; totalItemCount?: unknown };

function folderOf(f: FolderJson | undefined, asked: string): GraphFolder | undefined {
  if (!f || typeof f.id !== 'string') return undefined;
  return { id: f.id, name: typeof f.displayName === 'string' ? f.displayName : asked, total: Number(f.totalItemCount ?? 0) || 0 };
}

const SELECT = '$select=id,displayName,totalItemCount';

/** A well-known folder, or SOURCE_MAILBOX_NOT_FOUND. */
async function wellKnown(client: GraphClient, name: string): Promise<GraphFolder> {
  const what = `the folder ${JSON.stringify(name)}`;
  const f = folderOf((await client.json('GET', client.mailboxPath(`/mailFolders/${name.toLowerCase()}?${SELECT}`), what, 'folder')) as FolderJson, name);
  if (!f) throw graphBadAnswer(client.ctx, what, 'a folder without an id');
  return f;
}

/** The child of `parent` (undefined: the top of the mailbox) whose display name is `step`. */
async function childNamed(client: GraphClient, parent: GraphFolder | undefined, step: string): Promise<GraphFolder | undefined> {
  const under = parent ? `/mailFolders/${encodeURIComponent(parent.id)}/childFolders` : '/mailFolders';
  let link: string | undefined = client.mailboxPath(`${under}?${SELECT}&$top=${CHILD_PAGE}`);
  const what = `the folders under ${parent ? JSON.stringify(parent.name) : 'the top of the mailbox'}`;
  let caseless: GraphFolder | undefined;
  while (link !== undefined) {
    const page = (await client.json('GET', link, what, parent ? 'folder' : 'mailbox')) as { value?: FolderJson[]; '@odata.nextLink'?: unknown } | undefined;
    if (!Array.isArray(page?.value)) throw graphBadAnswer(client.ctx, what, 'no value array');
    for (const f of page.value) {
      const got = folderOf(f, step);
      if (!got || typeof f.displayName !== 'string') continue;
      if (f.displayName === step) return got;
      // Exchange treats folder names case-insensitively; an exact match wins.
      if (!caseless && f.displayName.toLowerCase() === step.toLowerCase()) caseless = got;
    }
    const next = page['@odata.nextLink'];
    link = typeof next === 'string' && page.value.length > 0 ? next : undefined;
  }
  return caseless;
}

/** The folder `setting` names; SOURCE_MAILBOX_NOT_FOUND naming the step that is missing. */
export async function resolveGraphFolder(client: GraphClient, setting: string): Promise<GraphFolder> {
  const steps = setting.split('/').filter((s) => s !== '');
  if (steps.length === 0) throw new MailsluiceError('CONFIG_INVALID', `folder ${JSON.stringify(setting)} names no folder`);
  let at: GraphFolder | undefined;
  let walked = '';
  for (const [k, step] of steps.entries()) {
    if (k === 0 && WELL_KNOWN_FOLDERS.has(step.toLowerCase())) at = await wellKnown(client, step);
    else {
      const found = await childNamed(client, at, step);
      if (!found) {
        throw new MailsluiceError(
          'SOURCE_MAILBOX_NOT_FOUND',
          `mailbox ${JSON.stringify(client.ctx.mailbox)} on Microsoft Graph ${client.ctx.origin} has no folder ${JSON.stringify(step)} under ${walked ? JSON.stringify(walked) : 'the top of the mailbox'} (folder ${JSON.stringify(setting)}: a well-known name such as inbox, or a path of display names separated by /)`,
        );
      }
      at = found;
    }
    walked = walked ? `${walked}/${step}` : step;
  }
  return at!;
}
