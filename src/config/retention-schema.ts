/**
 * The `archive.retention` section (issue 16, item 3; docs/retention.md): how long archived
 * messages are kept and how often `start` purges what expired. Validated here, turned into the
 * core's `RetentionPolicy` by {@link retentionPolicyOf}.
 */
import { z } from 'zod';
import { parsePeriod, type Period, type RetentionPolicy } from '../core/archive/retention.js';

const PERIOD_HELP = 'must be a period: a whole number and d (days), w (weeks), m (calendar months) or y (calendar years), e.g. 90d or 7y';

const period = z
  .string()
  .refine((s) => parsePeriod(s) !== null, { message: PERIOD_HELP })
  .meta({ description: 'A period: a whole number and d (days), w (weeks), m (calendar months) or y (calendar years), e.g. 90d, 7y.' });

const names = (what: string) =>
  z
    .union([z.string().min(1, 'must not be empty'), z.array(z.string().min(1, 'must not be empty')).min(1, 'must list at least one')])
    .optional()
    .meta({ description: `${what}: one or a list (any of them matches).` });

const match = z
  .strictObject({
    connection: names('Connection names (the connection the message was archived from)'),
    route: names('Route names (a route the message was routed to)'),
    address: names('Whole e-mail addresses, without case, matched against the sender and every recipient (To, Cc, Bcc and a journal report\'s envelope Sender, On-Behalf-Of and Recipients)'),
    domain: names('Domains (example.com: exactly that domain, not its subdomains), without case, matched against the same addresses'),
  })
  .refine((m) => m.connection !== undefined || m.route !== undefined || m.address !== undefined || m.domain !== undefined, {
    message: 'must name at least one of connection, route, address, domain (for every message use retention.default)',
  })
  .meta({ description: 'What the rule matches: every field given must match (AND); within a field any value does (OR).' });

const rule = z
  .strictObject({
    name: z.string().min(1, 'must not be empty').max(64, 'must be at most 64 characters').meta({ description: 'The rule\'s name, unique: reports and --dry-run name the rule that decided.' }),
    keep: period.meta({ description: 'How long a message the rule matches is kept, e.g. 90d, 7y.' }),
    match,
    since: z
      .enum(['archived', 'received'])
      .default('archived')
      .meta({ description: 'Where the age counts from: archived (when mailsluice took the message, default) or received (its Date header, which the sender writes as they like: a forged Date purges early or keeps for ever; a message without a readable Date counts from archiving).' }),
  });

/** The `archive.retention` section. */
export const retention = z
  .strictObject({
    everyHours: z.number().min(0.001, 'must be at least 0.001').max(8760).default(24).meta({ description: 'Hours from the end of one purge of start to the next (after a start with none recorded: 10 minutes, or this if shorter). Default 24 (daily).' }),
    default: period.optional().meta({ description: 'How long a message no rule matches is kept, from archiving. Absent: such messages are kept for ever.' }),
    rules: z.array(rule).default([]).meta({ description: 'Retention rules. A message matched by several rules is kept by the one that keeps it the longest (the latest expiry); a message matched by none keeps default.' }),
  })
  .superRefine((r, ctx) => {
    const seen = new Set<string>();
    r.rules.forEach((x, i) => {
      if (seen.has(x.name)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `names rule ${x.name} a second time: rule names must be unique` });
      seen.add(x.name);
    });
  })
  .default({ everyHours: 24, rules: [] })
  .meta({
    description:
      'Retention (docs/retention.md): how long archived messages are kept. start purges what expired every everyHours; mailsluice purge does it now (--dry-run lists what would go). A purge removes a message\'s rows, its full-text entry and, when no other message shares it, its blob\'s catalogue row, in one transaction per batch with an archive.purge audit record naming the purged ids and SHA-256s. Held messages and messages whose server action or deliveries are pending are kept. No rules and no default: nothing is ever purged.',
  });

/** The section after defaults. */
export type RetentionInput = z.infer<typeof retention>;

const list = (v: string | string[] | undefined): string[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);
const periodOf = (s: string): Period => parsePeriod(s)!; // validated by the schema

/** The core's policy of a validated section. */
export function retentionPolicyOf(input: RetentionInput): RetentionPolicy {
  return {
    ...(input.default !== undefined ? { default: periodOf(input.default) } : {}),
    rules: input.rules.map((r) => ({
      name: r.name,
      keep: periodOf(r.keep),
      since: r.since,
      match: {
        ...(r.match.connection !== undefined ? { connections: list(r.match.connection) } : {}),
        ...(r.match.route !== undefined ? { routes: list(r.match.route) } : {}),
        ...(r.match.address !== undefined ? { addresses: list(r.match.address) } : {}),
        ...(r.match.domain !== undefined ? { domains: list(r.match.domain) } : {}),
      },
    })),
  };
}
