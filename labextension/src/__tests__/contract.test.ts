/**
 * One contract: the fixtures pytest validates (tests/fixtures/reports/*.json)
 * must pass nbgrad/report/schema.json under ajv AND type-check as the
 * extension's `Report`.  A fixture that breaks the contract fails both; a
 * schema change the TypeScript types did not follow fails the type-check.
 */

import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

import { CAUSES, DIAGNOSES, KINDS, STATUSES } from '../schema';

const REPO = path.resolve(__dirname, '../../..');
const SCHEMA_TS = path.resolve(__dirname, '../schema.ts');
const FIXTURES = path.join(REPO, 'tests/fixtures/reports');

type Json = { [key: string]: any };

const schema: Json = JSON.parse(fs.readFileSync(path.join(REPO, 'nbgrad/report/schema.json'), 'utf8'));
const fixtures: [string, Json][] = fs
  .readdirSync(FIXTURES)
  .filter(name => name.endsWith('.json'))
  .sort()
  .map(name => [name, JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8'))]);

// strictRequired off: `common` requires `kind`, which the root schema defines.
const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
addFormats(ajv);
const validate = ajv.compile(schema);

function schemaErrors(report: unknown): string[] {
  return validate(report) ? [] : (validate.errors ?? []).map(e => `${e.instancePath} ${e.message}`);
}

/**
 * Type-check each document as `const report: Report = <document>` in one
 * program; returns the diagnostics per document name.
 */
function typeErrors(documents: [string, unknown][]): Map<string, string[]> {
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2020,
    module: ts.ModuleKind.CommonJS,
    types: []
  };
  const files = new Map<string, string>();
  for (const [name, document] of documents) {
    const file = path.join(path.dirname(SCHEMA_TS), `__fixture_${name.replace(/\W/g, '_')}.ts`);
    const source =
      `import type { Report } from ${JSON.stringify(SCHEMA_TS.replace(/\.ts$/, ''))};\n` +
      `export const report: Report = ${JSON.stringify(document, null, 1)};\n`;
    files.set(file, source);
  }
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, ...rest) => {
    const text = files.get(path.resolve(fileName));
    return text === undefined
      ? getSourceFile(fileName, languageVersion, ...rest)
      : ts.createSourceFile(fileName, text, languageVersion);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = fileName => files.has(path.resolve(fileName)) || fileExists(fileName);
  const program = ts.createProgram([...files.keys()], options, host);
  const errors = new Map<string, string[]>();
  [...files.keys()].forEach((file, i) => {
    const diagnostics = ts.getPreEmitDiagnostics(program, program.getSourceFile(file));
    errors.set(
      documents[i][0],
      diagnostics.map(d => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
    );
  });
  return errors;
}

describe('the report contract', () => {
  it('has fixtures of both kinds to check', () => {
    const kinds = new Set(fixtures.map(([, report]) => report.kind));
    expect(kinds).toEqual(new Set(['gradcheck', 'determinism']));
  });

  it.each(fixtures)('%s passes the JSON schema (ajv)', (_name, report) => {
    expect(schemaErrors(report)).toEqual([]);
  });

  it('types every fixture as a Report (TypeScript compiler)', () => {
    const failing = [...typeErrors(fixtures)].filter(([, errors]) => errors.length > 0);
    // Every fixture's errors at once (distinct messages), so one run shows the whole drift.
    expect(Object.fromEntries(failing.map(([name, errors]) => [name, [...new Set(errors)]]))).toEqual({});
  }, 60_000);

  it('keeps the enums of the types equal to the schema', () => {
    const defs = schema.$defs;
    expect([...KINDS]).toEqual(schema.properties.kind.enum);
    expect([...STATUSES]).toEqual(defs.common.properties.status.enum);
    expect([...DIAGNOSES]).toEqual(defs.diagnosis.enum);
    expect([...CAUSES]).toEqual(defs.divergence.properties.cause.enum);
  });

  it('rejects a broken fixture in both checks', () => {
    const [, grad] = fixtures.find(([, r]) => r.kind === 'gradcheck')!;
    const [, det] = fixtures.find(([, r]) => r.first_divergence)!;
    const broken: [string, Json][] = [
      ['unknown status', { ...grad, status: 'passed' }],
      ['missing headline', (({ headline: _, ...rest }) => rest)(grad)],
      ['block without name', { ...grad, blocks: [{ ...grad.blocks[0], name: undefined }] }],
      ['shape as a string', { ...grad, blocks: [{ ...grad.blocks[0], shape: '(2, 3)' }] }],
      ['unknown cause', { ...det, first_divergence: { ...det.first_divergence, cause: 'cosmic_ray' } }],
      ['step as text', { ...det, first_divergence: { ...det.first_divergence, step: '3' } }]
    ];
    const documents = broken.map(([name, report]): [string, unknown] => [
      name,
      JSON.parse(JSON.stringify(report))
    ]);
    const errors = typeErrors(documents);
    for (const [name, report] of documents) {
      expect({ name, schema: schemaErrors(report).length > 0 }).toEqual({ name, schema: true });
      expect({ name, types: errors.get(name)!.length > 0 }).toEqual({ name, types: true });
    }
  }, 60_000);
});
