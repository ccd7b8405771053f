/**
 * `mailsluice token create|list|revoke` (issue 14, items 3 and 9; ADR 0022). Creating and
 * revoking change who may use the API, so each is recorded in the audit log (name and role;
 * never the token).
 */
import { MailsluiceError } from '../core/errors/index.js';
import { assertTokenRequest, createToken } from '../app/tokens.js';
import { recordCliAction } from '../app/audit.js';
import { runningService, withApp } from './commands.js';
import { tokenCreateThroughService, tokenListThroughService, tokenRevokeThroughService } from '../app/service-commands.js';
import type { CreatedToken } from '../app/tokens.js';
import type { TokenInfo } from '../core/ports/token-store.js';
import type { ParsedArgs } from './args.js';
import type { Io } from './output.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** `mailsluice token create --name NAME --role admin|auditor|viewer [--json]`: prints the new token, once. */
export async function cmdTokenCreate(args: ParsedArgs, io: Io): Promise<number> {
  const { name, role } = args.options;
  if (typeof name !== 'string' || typeof role !== 'string') {
    throw new MailsluiceError('CLI_USAGE', 'token create needs --name NAME and --role admin|auditor|viewer');
  }
  // A malformed request is refused before anything is opened or recorded; a refused one (the
  // name is taken) is recorded as the attempt it was.
  assertTokenRequest(name, role);
  const service = await runningService(args);
  // Through a running service, which records it (ADR 0025); else recorded here first.
  const created: CreatedToken = service
    ? await tokenCreateThroughService(service, name, role)
    : await withApp(args, async (app) => {
        await recordCliAction(app, 'token.create', { name, role });
        return createToken(app.tokens, app.clock, name, role);
      }, 'write');
  if (args.options.json) io.out(JSON.stringify(created) + '\n');
  else {
    io.out(`${created.token}\n`);
    io.err(`token "${name}" (${role}) created; it is shown this once and stored only as a hash: keep it now\n`);
  }
  return 0;
}

/** `mailsluice token list [--json]`: name, role, created, last used; never a token. */
export async function cmdTokenList(args: ParsedArgs, io: Io): Promise<number> {
  const service = await runningService(args);
  const tokens: TokenInfo[] = service ? await tokenListThroughService(service) : await withApp(args, (app) => app.tokens.listTokens());
  if (args.options.json) {
    for (const t of tokens) io.out(JSON.stringify({ name: t.name, role: t.role, created: iso(t.createdAt), lastUsed: iso(t.lastUsedAt) }) + '\n');
  } else {
    for (const t of tokens) io.out(`${t.name.padEnd(24)}  ${t.role.padEnd(7)}  created ${iso(t.createdAt)}  last used ${iso(t.lastUsedAt) ?? 'never'}\n`);
    io.out(`${tokens.length} token${tokens.length === 1 ? '' : 's'}\n`);
  }
  return 0;
}

/** `mailsluice token revoke NAME`: the token stops working at once. */
export async function cmdTokenRevoke(args: ParsedArgs, io: Io): Promise<number> {
  const name = args.positionals[0];
  if (!name || args.positionals.length > 1) throw new MailsluiceError('CLI_USAGE', 'token revoke needs one token name: mailsluice token revoke NAME');
  const service = await runningService(args);
  if (service) await tokenRevokeThroughService(service, name);
  else {
    await withApp(args, async (app) => {
      await recordCliAction(app, 'token.revoke', { name });
      if (!(await app.tokens.revokeToken(name))) throw new MailsluiceError('TOKEN_NOT_FOUND', `no token named "${name}" (mailsluice token list shows them)`);
    }, 'write');
  }
  io.out(args.options.json ? JSON.stringify({ revoked: name }) + '\n' : `token "${name}" revoked\n`);
  return 0;
}
