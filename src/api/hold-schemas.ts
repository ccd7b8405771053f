/** The legal holds' request and answer schemas (`routes/holds.ts`; docs/legal-hold.md). */
import { z } from '@hono/zod-openapi';

/** A legal hold as the API (and `mailsluice hold show --json`) shows it. */
export const HoldSchema = z
  .object({
    name: z.string(),
    reason: z.string(),
    query: z.string().nullable().openapi({ description: 'The search query (words, "phrases", `word*`) of a custodian hold: mail archived later that matches is held too; null when none.' }),
    ids: z.array(z.number().int()).openapi({ description: 'The message ids it names (the `id` of a search hit), ascending.' }),
    placedBy: z.string().openapi({ description: 'A token\'s name, `local:<user>` through the control socket, or the OS user at the command line.' }),
    placedAt: z.string().openapi({ format: 'date-time' }),
    active: z.boolean().openapi({ description: 'False once released; released holds are kept for the record.' }),
    releasedBy: z.string().nullable(),
    releasedAt: z.string().nullable().openapi({ format: 'date-time' }),
    releaseReason: z.string().nullable(),
    heldNow: z.number().int().openapi({ description: 'How many archived messages it keeps now (its ids still archived and what its query matches; 0 once released).' }),
  })
  .openapi('Hold');

/** What placing a hold asks for. */
export const HoldRequestSchema = z
  .object({
    name: z.string().max(64).openapi({ description: 'Unique among every hold ever placed; 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit.' }),
    reason: z.string().max(2000).openapi({ description: 'Why it is placed (the matter, a ticket); required.' }),
    query: z.string().max(1000).nullable().optional().openapi({ description: 'A search query in the language of `GET /api/v1/messages`\' `text`; checked now (a query that cannot be read is refused with HOLD_INVALID naming `query`).' }),
    ids: z.array(z.number().int()).max(10_000).optional().openapi({ description: 'Message ids to hold (the `id` of a search hit); each must be archived. A query, ids, or both.' }),
  })
  .openapi('HoldRequest');

/** What releasing a hold asks for. */
export const HoldReleaseSchema = z.object({ reason: z.string().max(2000).openapi({ description: 'Why it is released; required.' }) }).openapi('HoldRelease');

/** A hold as shown. */
export type HoldView = z.infer<typeof HoldSchema>;
