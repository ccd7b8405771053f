/**
 * Validation of the simulator's SOAP traffic with xmllint compiled to WebAssembly, against the
 * project's own EWS schemas in test/fixtures/ews-schema/ (ews-messages.xsd, ews-types.xsd: the
 * subset of EWS the simulator serves, written from Microsoft's protocol documents) under the SOAP
 * 1.1 envelope schema there. What they cover and how they were checked: that directory's README.md.
 *
 * Each xmllint run starts a worker and compiles the schemas, so checks are batched: requests wait
 * for their own verdict (an invalid request must get ErrorSchemaValidation), responses are checked
 * in the background (`idle` waits for them).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateXML, type XMLFileInfo, type XMLValidationResult } from 'xmllint-wasm';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository's test/fixtures/ews-schema (this file is compiled to dist/test/harness/ews/). */
export const EWS_SCHEMA_DIR = join(here, '..', '..', '..', '..', 'test', 'fixtures', 'ews-schema');

/** The entry schema and the ones it imports, all committed in {@link EWS_SCHEMA_DIR}. */
const ENTRY = 'soap-envelope.xsd';
const IMPORTED = ['ews-messages.xsd', 'ews-types.xsd'];

interface Job { xml: string; done: (problems: string[]) => void }

/** Validation stats: documents checked, xmllint runs, and the time the runs took (ms). */
export interface ValidationStats { documents: number; runs: number; ms: number }

/** One queue of envelopes, validated in batches by one xmllint run at a time. */
class Lane {
  private queue: Job[] = [];
  running: Promise<void> | undefined;

  constructor(private readonly run: (files: XMLFileInfo[]) => Promise<XMLValidationResult>, private readonly stats: ValidationStats) {}

  push(job: Job): void {
    this.queue.push(job);
    this.running ??= this.drain();
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, 50);
      const started = Date.now();
      const files = batch.map((j, i) => ({ fileName: `doc${i}.xml`, contents: j.xml }));
      let problems: string[][] = batch.map(() => []);
      try {
        const result = await this.run(files);
        problems = batch.map((_, i) => result.errors.filter((e) => e.loc?.fileName === `doc${i}.xml`).map((e) => e.message.trim()));
        // An error xmllint could not place (schema trouble) is charged to every document rather than lost.
        const unplaced = result.errors.filter((e) => (!e.loc || !files.some((f) => f.fileName === e.loc!.fileName)) &&
          !/^doc\d+\.xml (fails to validate|validates)$/.test(e.rawMessage.trim()));
        if (unplaced.length > 0) problems = problems.map((p) => [...p, ...unplaced.map((e) => e.rawMessage.trim())]);
      } catch (e) {
        problems = batch.map(() => [`xmllint failed: ${(e as Error).message}`]);
      }
      this.stats.documents += batch.length;
      this.stats.runs += 1;
      this.stats.ms += Date.now() - started;
      batch.forEach((j, i) => j.done(problems[i]!));
    }
    this.running = undefined;
  }
}

/**
 * Batched validation against the EWS schemas, in two lanes: a request (which waits for its
 * verdict before it is answered) never queues behind the background checks of responses.
 */
export class EwsSchemaValidator {
  readonly stats: ValidationStats = { documents: 0, runs: 0, ms: 0 };
  private readonly lanes: Record<'request' | 'response', Lane>;

  private constructor(schema: XMLFileInfo, preload: XMLFileInfo[], readonly dir: string) {
    const run = (files: XMLFileInfo[]): Promise<XMLValidationResult> => validateXML({ xml: files, schema, preload, maxMemoryPages: 16384 });
    this.lanes = { request: new Lane(run, this.stats), response: new Lane(run, this.stats) };
  }

  /** Loads the schemas (committed files: a missing one is an error, never a skipped validation). */
  static load(): EwsSchemaValidator {
    const file = (name: string): XMLFileInfo => ({ fileName: name, contents: readFileSync(join(EWS_SCHEMA_DIR, name), 'utf8') });
    return new EwsSchemaValidator(file(ENTRY), IMPORTED.map(file), EWS_SCHEMA_DIR);
  }

  /**
   * Validates one document outside any simulator (the schema tests); resolves with its problems.
   * Uses the request lane, so it waits behind nothing but other requests.
   */
  validate(xml: string): Promise<string[]> {
    return this.check(xml, 'request', 'document', []);
  }

  /**
   * Validates one envelope; problems are also appended to `sink` as sentences naming the
   * operation and direction. Resolves with the problems (empty when valid).
   */
  check(xml: string, direction: 'request' | 'response', operation: string, sink: string[]): Promise<string[]> {
    return new Promise((resolve) => {
      this.lanes[direction].push({
        xml,
        done: (problems) => {
          for (const p of problems) sink.push(`${operation} ${direction}: ${p}`);
          resolve(problems);
        },
      });
    });
  }

  /** Resolves when every queued check is done. */
  async idle(): Promise<void> {
    while (this.lanes.request.running || this.lanes.response.running) await (this.lanes.request.running ?? this.lanes.response.running);
  }
}
