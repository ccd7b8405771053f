/**
 * The command line's help texts: `mailsluice --help` (pinned by test/golden/help.txt) and one
 * per command (`mailsluice drain --help`), and the version `--version` prints.
 */
import { readFileSync } from 'node:fs';

/** The `--help` text; pinned by a golden test. */
export const HELP = `mailsluice: drains journal mailboxes into a durable, searchable archive

Usage: mailsluice <command> [options]

Commands:
  start                     run the service: every enabled connection
  drain [--connection NAME] drain until nothing is left to take, index, run the
                            routes, then exit
  import PATH --label NAME  archive an mbox file, a Maildir or a folder of .eml
                            files as the connection import:NAME (--route NAME)
  test-connection NAME      step-by-step connection test
  connections list          the configured connections (never a secret)
  connections status [NAME] messages and bytes each has in the archive
  connection reset-tls NAME forget that the server offered STARTTLS (after it
                            really stopped; see SOURCE_TLS_DOWNGRADE)
  inspect FILE...           parse messages and print their attributes
  stats                     archive counts
  verify                    read every blob back and check it against the index;
                            exit 1 naming the messages of each problem (--repair)
  purge                     remove the messages past archive.retention now
                            (--dry-run lists what would go, --as-of DATE with it)
  reindex                   rebuild the search index from the raw messages now
                            (start and drain do it in the background when needed)
  search QUERY              search the archive (words, from:, after:, OR, -; docs/search.md)
                            (--from, --to, --since, --before, --connection, --has-attachment, --limit)
  export --out DIR|FILE     write archived messages, or those --query Q selects
                            (--format eml|mbox|zip, --connection NAME,
                            --mode OCTAL: file mode, default 600)
  export verify FILE.zip    check a zip export against its manifest
  logs NAME                 print a connection's own log
  backup --out DIR          copy the archive, running or not, into DIR;
                            incremental into the DIR of an earlier backup
  restore --from DIR        bring a backup back into an empty dataDir
  keys generate --out FILE  write a new master key for archive.encryption (0600)
  keys rotate --new-key FILE
                            re-wrap the archive's data keys under a new master key
  keys export --out FILE    write the master key for escrow (0600); split into parts
                            with --parts N --threshold K (any K of N rebuild it)
  keys combine PART... --out FILE
                            rebuild the master key file from K of its parts
  keys encrypt-existing     encrypt the blobs written before encryption was turned on
  deliveries list           deliveries of messages to routes
                            (--state pending|done|dead, --route NAME, --connection, --limit)
  deliveries retry ID...    queue dead deliveries again (or --all-dead [--route NAME])
  config check              validate the configuration and print every problem
  token create --name NAME --role admin|auditor|viewer
                            make an API token; printed once, stored as a hash
  token list                API tokens: name, role, created, last used
  token revoke NAME         the token stops working at once
  audit list                who searched, exported or changed settings
                            (--since, --until, --who, --action, --limit)
  audit prune               move audit records older than audit.keepDays to
                            dataDir/audit-archive/ (ADR 0029)
  audit verify              check the audit log's hash chain; exit 1 naming
                            the first removed or altered record
  hold place NAME --reason TEXT [--query Q] [--id N]...
                            place a legal hold: held messages are never purged
  hold release NAME --reason TEXT
                            end a legal hold (it stays on the record)
  hold list [--all]         the active legal holds (--all: released ones too)
  hold show NAME            one hold and how many messages it keeps now

Options for every command:
  --config FILE             configuration file (default ./mailsluice.yaml)
  --json                    machine-readable output
  --help                    this text, or a command's own (mailsluice drain --help)
  --version                 the version of mailsluice
`;

const COMMON = `
Options for every command:
  --config FILE             configuration file (default ./mailsluice.yaml)
  --json                    machine-readable output
  --help                    this text
  --version                 the version of mailsluice
`;

/** Each command's own `--help`: what it does, its arguments and options, what it exits with. */
const COMMAND_HELP: Record<string, string> = {
  start: `Usage: mailsluice start [options]

Runs the service: every enabled connection, the routes' buses and the HTTP API, until SIGINT or
SIGTERM. It also listens on DATADIR/control.sock (mode 600, with api.enabled false too): while
it runs, token, audit, hold, search, export, logs, connections list and deliveries retry are sent
to it there, and it does and audits them (as local:<OS user>, from "control socket"); with no
service running they work on the archive directly.

SIGHUP, or the configuration file changing, applies the file again without a restart: only the
changed connections' runners restart, the routes apply to what is taken next; dataDir, buses,
api and logging wait for a restart (the log says which). A file that does not validate changes
nothing (the log names its problems).
`,
  drain: `Usage: mailsluice drain [--connection NAME] [options]

Drains every enabled connection (or the one named) until nothing is left to take, parses and
indexes what it took, runs the routes, then exits with a summary.

Options:
  --connection NAME         drain this connection only (also a disabled one)

Exits 1 when a message could not be archived, when a delivery was dead-lettered, or when no
connection is enabled.
`,
  import: `Usage: mailsluice import PATH --label NAME [options]

Archives the mail in PATH as a drain archives a mailbox's: raw bytes fsynced before each commit,
a message already archived (the same source item, or the same bytes) not archived twice, parsed
and indexed (journal reports unwrapped), under the connection import:NAME, so it is found by
where it came from (search --connection import:NAME). PATH is an mbox file, a Maildir (cur/ and
new/), a folder of .eml files (searched recursively; piler's pilerexport writes one) or an .eml
file; nothing in it is changed. Killed, the same command again goes on where it stopped. Holds
the data directory like a drain: refused beside a running start (DATA_DIR_LOCKED).

Options:
  --label NAME              where the mail came from: Latin letters, digits, _ (required)
  --format mbox|maildir|eml what PATH is (default: guessed; a file beginning with "From " is mbox)
  --mbox mboxrd|mboxo       how the mbox quoted From lines (default mboxrd)
  --route NAME              run this configured route on the imported messages (default: none,
                            archived and indexed only)
  --json                    progress as JSON lines on stderr, the summary as JSON on stdout

Progress goes to stderr (a line kept up to date on a terminal). Each item that is not a message
(text before an mbox's first From line, an empty file, a first line that is not a header) is a
line naming its file and byte offset; it is skipped, the rest imported, and the exit status is 1
(IMPORT_MESSAGES_SKIPPED). See docs/import.md.
`,
  'test-connection': `Usage: mailsluice test-connection NAME [options]

Tests a connection step by step: resolve, connect, TLS, greeting, capabilities, login, mailbox,
count. Exits 1 at the first step that fails. With mode: scale-out the checks of the shared
infrastructure (as config check runs them) come first.

--probe also sends a probe message (a unique Message-ID, a signed X-Mailsluice-Probe header)
through the connection's testRelay to its testRecipients and follows it: send (the relay
accepted it), arrive (in the mailbox, or already archived), archive (found in the archive by its
Message-ID, marked as a probe; routes skip it), each within testRelay.waitMs. The archive step
Beside a running start the service runs the probe test (through its control socket): it
archives the probe, follows it there and records the test on the audit log. Beside a drain the
command runs it and the archive step waits for the drain to take the probe; with no service the
test ends after arrive and says that the next start or drain archives the probe. Each step is
printed as it completes. The plain test (without --probe) talks only to the mail server and runs
in this command, with or without a service.
`,
  inspect: `Usage: mailsluice inspect FILE... [options]

Parses message files and prints their attributes (--json: one object per file, one per line,
in the order given). Nothing is archived.
`,
  stats: `Usage: mailsluice stats [options]

Prints the archive's counts: messages, bytes, per connection and per route.
`,
  search: `Usage: mailsluice search [QUERY] [options]

Searches the archive, newest first. QUERY is the search language (docs/search.md): words and
"quoted phrases" (subject, addresses, body, attachment names; a bare word also finds its forms,
quotes keep the exact words), word* for every word it begins, from: to: cc: bcc: subject:
attachment: has:attachment connection: before: after:, AND, OR, - (not) and parentheses; terms
side by side must all match. Dates: 2024-03-05, 2024-03, 2024, 05.03.2024, today, yesterday,
сегодня, вчера, 7d, 2w, 3m, 1y (UTC). Quote QUERY for the shell:
  mailsluice search 'from:alice subject:"q1 report" after:2024-03 -draft'

Options (each adds a term):
  --from TEXT               from:TEXT
  --to TEXT                 any recipient: (to:TEXT OR cc:TEXT OR bcc:TEXT)
  --since DATE              after:DATE, dated on or after it
  --before DATE             before:DATE
  --connection NAME         connection:NAME
  --has-attachment          has:attachment
  --limit N                 at most N results, newest first (default 100)

With --json, one hit per line; a list cut at --limit ends with {"more":true,"limit":N}.
A query that cannot be read is one line on stderr naming the character (exit code 1).
`,
  export: `Usage: mailsluice export --out DIR [--format eml|mbox] [--query Q] [--connection NAME] [--mode OCTAL] [options]
       mailsluice export --format zip --out FILE.zip [--query Q] [--connection NAME] [--mode OCTAL] [options]
       mailsluice export verify FILE.zip [--json]

Writes archived messages: every one, or those the search query Q selects (as mailsluice
search Q finds them, newest first, page after page: no limit); --connection NAME narrows it.
  eml (default)  DIR/<sha256>.eml, the raw bytes as received; one already there is kept
  mbox           DIR/archive.mbox (mboxrd: From lines, >From quoting, line ends as taken)
  zip            FILE.zip, a new file: <sha256>.eml files and manifest.jsonl (per message its
                 sha256/archiveId, size, connection, mailbox, receivedAt, Date, Message-ID;
                 last, the counts and manifestSha256, the hash of the lines before it)
A zip export prints its manifest hash: give it to the recipient apart from the zip. export
verify checks a zip without an archive: every file hashes to its name, the files are those
the manifest lists, the manifest hashes to manifestSha256 (EXPORT_INVALID, exit 1, otherwise).
Files are written mode 600 (a directory export makes, 700): readable by their owner only;
--mode 640 asks for another (the owner keeps read and write). Each is written under a temporary
name and renamed when whole. A query the search cannot read writes nothing (SEARCH_QUERY_INVALID).
Recorded on the audit log before (archive.export, with the query) and after (archive.export.done,
with the count and the manifest hash). Beside a running service the service selects and reads
the messages (through its control socket) and the files are written here. See docs/export.md.
`,
  logs: `Usage: mailsluice logs NAME [options]

Prints a connection's own log, the whole kept log: its rotated files
(dataDir/logs/NAME.log.N … .1, logging.keepFiles) oldest first, then the current
one (--json: the JSON lines as written).
`,
  backup: `Usage: mailsluice backup --out DIR [options]

Copies the archive into DIR (made 700; files 600), beside a running service too: archive.db and
search.db through SQLite's online backup API (each as of one commit; encrypted ones, ADR 0035,
through VACUUM INTO, so their copies stay encrypted), the blob packs up to what
that copy references, the secret store (secrets.enc; never its key, secrets.key, which you keep
apart), the audit archive, the alert state and the archive's keyring (archive-keys.json, the
data keys wrapped by the master key; never the master key itself, ADR 0033). DIR/manifest.json, written last, lists every
file with its SHA-256. Run again into the same DIR, it is incremental: the databases are copied
again, packs it holds already are not, and a pack that grew only by its new bytes. Recorded in
the audit log (archive.backup). Not copied: logs, key files (probe.key, api-url.key: a restored
service makes new ones), the lock and the control socket. One backup at a time per DIR
(BACKUP_IN_PROGRESS).
`,
  restore: `Usage: mailsluice restore --from DIR [options]

Brings the backup in DIR back into the configured dataDir, which must be empty or missing
(else RESTORE_TARGET_NOT_EMPTY naming it). Every file is checked against the manifest's SHA-256
(a mismatch is BACKUP_INVALID naming the file, and nothing is restored); the data directory
appears whole, by one rename, at the end. Put the secret store's key back (secrets.key, or the
configured secretsKey) before start when the configuration uses stored secrets.
`,
  'keys generate': `Usage: mailsluice keys generate --out FILE [options]

Writes a new master key (32 random bytes) to FILE, mode 600; an existing FILE is never
overwritten. Point archive.encryption.key at it ({ file: FILE }) to encrypt the raw store
(ADR 0033). Keep a copy apart from the backups: a lost key is a lost archive.
`,
  'keys rotate': `Usage: mailsluice keys rotate --new-key FILE [options]

Re-wraps every data key of the archive under the master key in FILE (made by keys generate) and
replaces dataDir/archive-keys.json atomically; no pack is rewritten. Needs the current key in
archive.encryption.key and holds the data directory (stop start or drain first). Afterwards only
the new key opens the archive: set archive.encryption.key to FILE before the next start.
`,
  'keys export': `Usage: mailsluice keys export --out FILE [--parts N --threshold K] [options]

Writes the archive's master key (archive.encryption.key, checked against the archive's keyring
first) for escrow: a backup never holds it, and a lost key is a lost archive. Without --parts,
FILE is a key file as keys generate writes it (32 bytes; start reads it as it is). With --parts N
--threshold K (2 <= K <= N <= 255), the key is split by Shamir's secret sharing into N files
FILE.part-1-of-N … FILE.part-N-of-N, any K of which rebuild it (keys combine) and fewer of which
tell nothing of it; each part names its number, the threshold and the key id, with a checksum.
Every file is made 600 and none overwrites a file. Recorded in the audit log (archive.keys.export,
never the key). Runs beside a running service, and before the first drain (no archive yet: the
configured key is written unchecked), the best time to escrow it. See docs/encryption.md.
`,
  'keys combine': `Usage: mailsluice keys combine PART... --out FILE [options]

Rebuilds the master key from K of the part files keys export --parts wrote and writes it to FILE
(key file format, 600, never over a file). Fewer parts than the threshold, parts of different
keys or splits, the same part twice or a damaged part are KEY_PARTS_INVALID, and nothing is
written. With a configuration (--config, or ./mailsluice.yaml when there) the key is also
checked against that archive's keyring (ARCHIVE_KEY_INVALID when it is another key).
`,
  'keys encrypt-existing': `Usage: mailsluice keys encrypt-existing [options]

With archive.encryption on, encrypts every archived blob still stored in clear (written before
encryption was turned on): staged large bodies are compressed and encrypted, then every pack
holding a blob in clear is copied to a new pack with those records encrypted, synced, read back
verified, switched in one transaction, and the old pack deleted (ADR 0034). Holds the data
directory (stop start or drain first). Prints a line per pack; killed at any point, running it
again finishes the job; with nothing left in clear it changes nothing.
`,
  'deliveries list': `Usage: mailsluice deliveries list [options]

Lists the deliveries of archived messages to routes, with their state, attempts and last error,
and where each server response stands. Beside a running service, its list (GET
/api/v1/deliveries through its control socket), printed the same.

Options:
  --state pending|done|dead only deliveries in this state
  --route NAME              only this route's
  --connection NAME         only messages of this connection
  --limit N                 at most N (default 1000)
`,
  'deliveries retry': `Usage: mailsluice deliveries retry ID... | --all-dead [--route NAME] [options]

Queues dead deliveries again, under the same idempotency keys; the service (or the next drain)
delivers them.
`,
  'connection reset-tls': `Usage: mailsluice connection reset-tls NAME [options]

Forgets that connection NAME's server once offered STARTTLS (security: starttls-if-available).
After that, a session without STARTTLS is refused with SOURCE_TLS_DOWNGRADE before any
credentials cross, because someone may be stripping it on the way. Run this only when the server
really stopped offering TLS: the next session logs in without it, and says so in the log.
`,
  'token create': `Usage: mailsluice token create --name NAME --role admin|auditor|viewer [options]

Makes an API token for the HTTP API (Authorization: Bearer msl_...) and prints it once: only its
SHA-256 is stored, so it cannot be shown again. viewer sees status and stats; auditor also
searches, views and exports the archive and reads the audit log; admin also changes the
configuration. With --json: {"token","name","role","created"}. Recorded in the audit log.
`,
  'hold place': `Usage: mailsluice hold place NAME --reason TEXT [--query Q] [--id N]... [options]

Places legal hold NAME: the messages it keeps are never purged, whatever the retention says,
until it is released. --query Q (search's language: words, "phrases", word*) makes a custodian
hold: mail archived later that matches is held too. --id N (repeat it, or N,M,...) holds those
messages (the id of a search hit). A query, ids, or both; a query that cannot be read is refused
now (HOLD_INVALID). Recorded in the audit log (hold.place) with who, the reason, query and ids.
`,
  'hold release': `Usage: mailsluice hold release NAME --reason TEXT [options]

Releases legal hold NAME: from now on it keeps nothing. It stays on the record with who released
it, when and why (hold list --all). Recorded in the audit log (hold.release).
`,
  'hold list': `Usage: mailsluice hold list [--all] [options]

Lists the active legal holds (--all: then the released ones): name, how many messages each keeps
now, its query and ids, who placed it, when and why. With --json: one hold per line.
`,
  'hold show': `Usage: mailsluice hold show NAME [options]

Shows legal hold NAME: reason, query, ids, who placed (and released) it, and how many archived
messages it keeps now.
`,
  'token list': `Usage: mailsluice token list [options]

Lists the API tokens: name, role, when made, when last used (to the minute). Never a token.
`,
  'token revoke': `Usage: mailsluice token revoke NAME [options]

Removes token NAME: a request that carries it is refused from then on. Recorded in the audit log.
`,
  'audit list': `Usage: mailsluice audit list [--since DATE] [--until DATE] [--who NAME] [--action ACTION] [--limit N] [options]

Lists the audit log, oldest first: who (a token's name, or the OS user at the command line),
when, from where (cli, control socket or a remote address), what (the query, the message, the
fields changed). A command sent to a running service is recorded by it as local:<OS user>.

Options:
  --since DATE              at or after DATE (2026-01-31 or 2026-01-31T08:00:00Z)
  --until DATE              before DATE
  --who NAME                only this token's or user's records
  --action ACTION           only this action's records (archive.search, token.create…)
  --limit N                 at most N records
`,
  'audit verify': `Usage: mailsluice audit verify [--with-archive] [options]

Walks the audit log's hash chain (each record carries the SHA-256 of the one before). Exits 0
when every record holds; otherwise exits 1 with AUDIT_CHAIN_BROKEN naming the first removed or
altered record by its sequence number. After a retention move (audit prune, audit.keepDays) the
walk starts at the checkpoint and says so; the checkpoint is checked against the audit.retention
record that put it on the chain.

Options:
  --with-archive            walk the files in dataDir/audit-archive/ first (each trailer, SHA-256
                            and link), which must end where the checkpoint begins; a problem
                            there names the file
`,
  purge: `Usage: mailsluice purge [--dry-run] [--as-of DATE] [options]

Removes the archived messages past their retention (archive.retention; docs/retention.md): their
rows, their full-text entries and, when no other message shares it, their blob's catalogue row,
in one transaction per batch of 500 with an archive.purge audit record naming the purged ids and
SHA-256s; then the blob store reclaims the space. Kept, and counted: messages a legal hold keeps
(per hold), and messages not done being processed (not parsed yet, server action or a delivery
still pending). Prints what it did: purged, kept by holds, kept as pending, bytes, duration.
Beside a running start the service does it, through its control socket; otherwise it holds the
data directory like a drain.

Options:
  --dry-run                 list what would go (id, connection, taken at, Date header, size, rule;
                            never a subject or address) and change nothing
  --as-of DATE              with --dry-run only: judge retention at DATE (2030-01-31, UTC, or
                            2030-01-31T08:00:00Z) instead of now
`,
  reindex: `Usage: mailsluice reindex [options]

Rebuilds the full-text search index from the archived raw messages when it was written by an
older build (its stored version below this build's: before word forms, for one), reading each
message back and parsing it as the drain's index stage does, a batch of 200 per transaction with
its progress, so a killed run resumes where it stopped and no message is indexed twice. start and
drain do the same in the background (waiting while a connection drains); this command holds the
data directory like a drain and shows its progress on stderr. An index already current: nothing
to do. Search answers from what is indexed meanwhile.
`,
  verify: `Usage: mailsluice verify [--repair] [options]

Reads every blob of the archive back, pack by pack in disk order: each record's checksums, that
it decompresses, and the SHA-256 of its bytes against its address. Then holds the blobs against
the index: every archived message must have its blob, every blob a message. Each problem is
printed with the archive id (SHA-256) and the messages it touches (id, connection, Message-ID);
at the end what was read and how fast (MB/s). Changes nothing. Exits 0 when the archive is
intact, 1 (ARCHIVE_DAMAGED) when a problem was found. Beside a running start the service does
it, through its control socket. See ADR 0031.

Problems: blob-corrupt (a message's blob fails a check), blob-missing (a message's blob is gone),
orphan-blob (an intact blob no message refers to), damaged-record (damage no message names).

Options:
  --repair                  the raw store is the truth: index every orphan blob again from its
                            bytes (a message under the connection "(repaired)", parsed and
                            searchable); damaged or missing blobs cannot be repaired and are
                            left as reported. Exits 0 when nothing is left. Holds the data
                            directory like a drain (or is done by the running service); audited
`,
  'audit prune': `Usage: mailsluice audit prune [--keep-days N] [options]

Moves audit records older than N days (default: audit.keepDays) from archive.db, oldest first,
to sealed files in dataDir/audit-archive/ (0600; one per move, named by the sequence range, with
a trailer holding the count, the hashes and the SHA-256 of its lines), written and synced before
the rows are removed in the transaction that records the checkpoint and an audit.retention
record. start does this at its start and daily when audit.keepDays is set. Beside a running
service, the service does it; beside a drain, it is refused (DATA_DIR_LOCKED).

Options:
  --keep-days N             move records older than N days (1 to 36500)
`,
  'connections list': `Usage: mailsluice connections list [options]

Lists the configured connections as the API shows them: name, enabled, protocol, host, port,
security, folders, auth type and user; never a password, token or key. With --json: one JSON
object per line. Beside a running service, its own view (through its control socket).
`,
  'connections status': `Usage: mailsluice connections status [NAME] [options]

Per connection (or NAME): messages and bytes taken since the archive began, server actions
pending. Beside a running service, its live status (through its control socket): then a line
per folder with its runner's state, last poll, last successful cycle, backlog, rate, next
attempt and last error; --json prints GET /api/v1/connections/{name}/status as it answers. With
no service, from the configuration and the archive: --json shaped as that answer with no
runner (state null, no folders).
`,
  'config check': `Usage: mailsluice config check [options]

Validates the configuration file and prints every problem at once, each with its key path.
With mode: scale-out it also reaches the shared infrastructure, a line each: PostgreSQL (the
server and the schema's migration level) and the S3 bucket (a probe object put and deleted).
Exits 1 when there is a problem or a check fails.
`,
};
COMMAND_HELP.run = COMMAND_HELP.start!;

/** The `--help` of `command` (`deliveries list`, `config check`: both words), or the general one. */
export function helpFor(command: string | undefined): string {
  const own = command ? COMMAND_HELP[command] : undefined;
  return own ? own + COMMON : HELP;
}

/** The version of this build, from its package.json. */
export function version(): string {
  // dist/src/cli/help.js → the package root; package.json ships with the package.
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
