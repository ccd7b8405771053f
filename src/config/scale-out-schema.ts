/**
 * The deployment mode and the `scaleOut` section (SPEC "Configuration file", a contract kept
 * stable: `mode: scale-out` with `scaleOut: { postgres: { url, schema }, s3: { endpoint, bucket,
 * region, accessKeyId, secretAccessKey }, nats: { servers, stream } }`), and how the loader
 * resolves its secrets.
 */
import { z } from 'zod';
import { secret } from './schema-common.js';

/** A schema name used unquoted in SQL: lower case, letters, digits and `_`, at most 63 (PostgreSQL's identifier limit). */
const PG_SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** A JetStream stream name: no spaces, dots, `*`, `>`, path separators (the server refuses them). */
const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** `mode`: embedded (one process, SQLite + files) or scale-out (workers on PostgreSQL, S3, NATS). */
export const modeSchema = z
  .enum(['embedded', 'scale-out'])
  .default('embedded')
  .meta({ description: 'embedded (default): one process, SQLite and files in dataDir, nothing else to install. scale-out: worker processes sharing PostgreSQL (metadata, search, leases), S3 (raw messages) and NATS JetStream (buses), set in scaleOut.' });

const postgres = z
  .strictObject({
    url: secret.meta({ description: 'postgres://user[:password]@host[:port]/database: a literal, { env }, { file } or { secret } (it usually carries a password).' }),
    schema: z
      .string()
      .regex(PG_SCHEMA_NAME, 'must be a lower-case name of letters, digits and _ (at most 63), e.g. mailsluice')
      .default('mailsluice')
      .meta({ description: "The schema holding this deployment's tables; created, and migrated once under an advisory lock, by the first worker. One database can hold several deployments." }),
  })
  .meta({ description: 'PostgreSQL: the metadata, full-text search, buses, leases, configuration, tokens and audit log of the whole cluster.' });

const s3 = z
  .strictObject({
    endpoint: z.string().url('must be a URL such as http://127.0.0.1:7480').meta({ description: 'The S3 endpoint (path-style addressing): http(s)://host[:port].' }),
    bucket: z.string().min(3).max(63).meta({ description: "The bucket of the raw messages; it must exist and belong to this archive alone." }),
    region: z.string().min(1).default('us-east-1').meta({ description: 'Signing region; us-east-1 suits Ceph RGW, MinIO and most S3-compatible servers.' }),
    accessKeyId: secret.meta({ description: 'Access key id (a literal, { env }, { file } or { secret }).' }),
    secretAccessKey: secret.meta({ description: 'Secret access key (a literal, { env }, { file } or { secret }).' }),
  })
  .meta({ description: 'S3-compatible object storage: the raw messages, content-addressed, small ones packed (ADR 0049).' });

const nats = z
  .strictObject({
    servers: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .meta({ description: 'NATS server(s): host:port or nats://host:port, one or a list.' }),
    stream: z.string().regex(STREAM_NAME, 'must be letters, digits, _ or - (at most 64), e.g. MAILSLUICE').default('MAILSLUICE').meta({ description: "The JetStream stream of the cluster's buses (one subject per bus); created when missing." }),
    user: z.string().min(1).optional().meta({ description: 'User name, with password.' }),
    password: secret.optional().meta({ description: 'Password of user (a literal, { env }, { file } or { secret }).' }),
    token: secret.optional().meta({ description: 'An authentication token instead of user and password.' }),
  })
  .meta({ description: 'NATS with JetStream: the buses of the cluster.' });

/** The `scaleOut` section as written. */
export const scaleOutSchema = z
  .strictObject({ postgres, s3, nats })
  .optional()
  .meta({ description: 'The shared infrastructure of mode: scale-out (required there, ignored in embedded mode). dataDir stays each worker\u2019s local directory (logs, the control socket).' });

/** The `scaleOut` section as written, after defaults, secrets not yet read. */
export type ScaleOutInput = z.infer<typeof scaleOutSchema>;

/** The `scaleOut` section with its secrets read: what the scale-out composition root opens. */
export interface ScaleOutConfig {
  postgres: { url: string; schema: string };
  s3: { endpoint: string; bucket: string; region: string; accessKeyId: string; secretAccessKey: string };
  nats: { servers: string[]; stream: string; user?: string; password?: string; token?: string };
}

/** The mode's checks across fields: scale-out needs its section, and embedded mode says it ignores one. */
export function scaleOutProblems(mode: 'embedded' | 'scale-out' | undefined, section: unknown): { problem?: string; warning?: string } {
  if (mode === 'scale-out' && section === undefined) return { problem: 'is required when mode is scale-out: postgres { url, schema }, s3 { endpoint, bucket, accessKeyId, secretAccessKey }, nats { servers, stream }' };
  if (mode !== 'scale-out' && section !== undefined) return { warning: 'is ignored in embedded mode (set mode: scale-out to use it)' };
  return {};
}

/** Reads the section's secrets with `read(value, path)` (the loader's resolver, which records problems itself). */
export function resolveScaleOut(s: NonNullable<ScaleOutInput>, read: (value: unknown, path: string) => string | undefined): ScaleOutConfig {
  const at = 'scaleOut';
  const opt = <K extends string>(key: K, value: string | undefined): { [P in K]?: string } => (value === undefined ? {} : ({ [key]: value } as { [P in K]?: string }));
  return {
    postgres: { url: read(s.postgres.url, `${at}.postgres.url`) ?? '', schema: s.postgres.schema },
    s3: {
      endpoint: s.s3.endpoint,
      bucket: s.s3.bucket,
      region: s.s3.region,
      accessKeyId: read(s.s3.accessKeyId, `${at}.s3.accessKeyId`) ?? '',
      secretAccessKey: read(s.s3.secretAccessKey, `${at}.s3.secretAccessKey`) ?? '',
    },
    nats: {
      servers: typeof s.nats.servers === 'string' ? [s.nats.servers] : [...s.nats.servers],
      stream: s.nats.stream,
      ...opt('user', s.nats.user),
      ...opt('password', s.nats.password === undefined ? undefined : read(s.nats.password, `${at}.nats.password`)),
      ...opt('token', s.nats.token === undefined ? undefined : read(s.nats.token, `${at}.nats.token`)),
    },
  };
}
