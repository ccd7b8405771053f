/**
 * Where a running service's control socket is and the header the command line names its OS user
 * in (ADR 0025): what both ends need, kept apart from `control-socket.ts` (the server side, which
 * loads the API application and its framework) so that the command line's client
 * (`control-client.ts`), which every reading command loads, does not load the framework too
 * (issue 17: `search` as a whole process in a fraction of a second).
 */
import { join } from 'node:path';

/** The socket's name in the data directory (the API adapter's `CONTROL_SOCKET_FILE`, repeated so the command line need not load the framework). */
export const CONTROL_SOCKET_NAME = 'control.sock';

/** The header the command line names its OS user in. */
export const CONTROL_USER_HEADER = 'x-mailsluice-user';

/** The control socket of `dataDir`. */
export function controlSocketPath(dataDir: string): string {
  return join(dataDir, CONTROL_SOCKET_NAME);
}
