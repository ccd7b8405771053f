/**
 * The check of a scale-out deployment's shared infrastructure (SPEC: "`config check` and
 * `test-connection` check the infrastructure too"): PostgreSQL reachable and its schema's level,
 * the S3 bucket writable, NATS reachable with JetStream enabled. Each check is a step, as a
 * connection test's are, run at once; a failure names the service and says why.
 */
import { MailsluiceError } from '../core/errors/index.js';
import type { ScaleOutConfig } from '../config/scale-out-schema.js';
import type { ProbeStep } from './source-registry.js';

/** The service a check reaches. */
export type InfrastructureService = 'postgres' | 's3' | 'nats';

/** A check's outcome, in the shape of a connection test's step. */
export type InfrastructureStep = Omit<ProbeStep, 'step'> & { step: InfrastructureService };

/** One check: its step name and what it does (a sentence, or a thrown error). */
interface InfrastructureProbe {
  step: InfrastructureService;
  run(): Promise<string>;
}

/** The probes of `s`, their adapters imported here only (embedded commands never load them). */
async function probesOf(s: ScaleOutConfig): Promise<InfrastructureProbe[]> {
  const [pg, s3] = await Promise.all([import('../adapters/store-postgres/index.js'), import('../adapters/blob-s3/index.js')]);
  return [
    { step: 'postgres', run: () => pg.probePostgres(s.postgres) },
    { step: 's3', run: () => s3.probeS3Bucket(s.s3) },
  ];
}

/** Runs every check at once; the steps in a fixed order (postgres, s3, nats), each with its time. */
export async function checkInfrastructure(s: ScaleOutConfig): Promise<InfrastructureStep[]> {
  const probes = await probesOf(s);
  return Promise.all(
    probes.map(async (p): Promise<InfrastructureStep> => {
      const started = Date.now();
      try {
        const detail = await p.run();
        return { step: p.step, ok: true, detail, ms: Date.now() - started };
      } catch (err) {
        const e = err instanceof MailsluiceError ? err : new MailsluiceError('INTERNAL', String(err));
        return { step: p.step, ok: false, detail: e.message, code: e.code, ms: Date.now() - started };
      }
    }),
  );
}
