/**
 * Validation of the simulator's SOAP traffic against Microsoft's EWS schemas (messages.xsd,
 * types.xsd) with xmllint compiled to WebAssembly, under the SOAP 1.1 envelope schema in
 * test/fixtures/ews-schema/. Where Microsoft's files come from and why they are not in this
 * repository: test/fixtures/ews-schema/README.md.
 *
 * Each xmllint run starts a worker and compiles the 700 KB of schemas (about 0.5 s), so checks are
 * batched: requests wait for their own verdict (an invalid request must get
 * ErrorSchemaValidation), responses are checked in the background (`idle` waits for them).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateXML, type XMLFileInfo, type XMLValidationResult } from 'xmllint-wasm';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository's test/fixtures/ews-schema (this file is compiled to dist/test/harness/ews/). */
const FIXTURES = join(here, '..', '..', '..', '..', 'test', 'fixtures', 'ews-schema');

/**
 * Where Microsoft's types.xsd and messages.xsd are looked for: $EWS_SCHEMA_DIR, then the
 * repository's fixture directory, then the workplace's shared data directory.
 */
export function schemaDirs(): string[] {
  return [process.env['EWS_SCHEMA_DIR'], FIXTURES, '/work/shared/ews-schema'].filter((d): d is string => d !== undefined && d !== '');
}

/** The directory holding both Microsoft schema files, or undefined. */
export function findSchemaDir(): string | undefined {
  return schemaDirs().find((d) => existsSync(join(d, 'types.xsd')) && existsSync(join(d, 'messages.xsd')));
}

/**
 * Microsoft's types.xsd breaks the Unique Particle Attribution rule (XML Schema 1.0, 3.8.6) in
 * ArrayOfTransitionsType: four optional repeated element refs whose substitution groups overlap
 * (the three others are in Transition's substitution group; .NET's validator tolerates it,
 * libxml2 refuses to compile the schema). A repeated `t:Transition` accepts the same elements (in
 * any order, which is looser), and is what is substituted in memory; the files stay verbatim.
 */
const UPA_PATCHES: Array<[RegExp, string]> = [
  [
    /(<xs:complexType name="ArrayOfTransitionsType">\s*)<xs:sequence>([\s\S]*?)<\/xs:sequence>/,
    '$1<xs:sequence><xs:element ref="t:Transition" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>',
  ],
];

function patchTypes(xsd: string): string {
  let out = xsd;
  for (const [re, by] of UPA_PATCHES) {
    if (!re.test(out)) throw new Error(`types.xsd no longer has the construct patched by ${String(re)}; review UPA_PATCHES`);
    out = out.replace(re, by);
  }
  return out;
}

/** The digests of the Microsoft files the simulator was checked against (README.md in the fixture directory). */
const EXPECTED_SHA256: Record<string, string> = {
  'types.xsd': 'a062af91308d8158c2497433dd4ec524b8c4c9e545f471bf13eaf19a270eb950',
  'messages.xsd': 'e8f2bbef54150e173336e2af377d680e3096843b5e3de9bbce000c0fcceda23f',
};

function readChecked(dir: string, name: string): string {
  const bytes = readFileSync(join(dir, name));
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== EXPECTED_SHA256[name]) {
    throw new Error(`${join(dir, name)} is not the ${name} the EWS simulator was checked against (SHA-256 ${digest}); see test/fixtures/ews-schema/README.md`);
  }
  return bytes.toString('utf8');
}

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

  /** Loads the schemas; undefined when Microsoft's files are not to be found (see {@link schemaDirs}). */
  static load(): EwsSchemaValidator | undefined {
    const dir = findSchemaDir();
    if (!dir) return undefined;
    const file = (d: string, name: string): XMLFileInfo => ({ fileName: name, contents: readFileSync(join(d, name), 'utf8') });
    const types = { fileName: 'types.xsd', contents: patchTypes(readChecked(dir, 'types.xsd')) };
    const messages = { fileName: 'messages.xsd', contents: readChecked(dir, 'messages.xsd') };
    return new EwsSchemaValidator(file(FIXTURES, 'soap-envelope.xsd'), [file(FIXTURES, 'xml.xsd'), types, messages], dir);
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
