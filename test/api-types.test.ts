import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API_TYPES_FILE, generateApiTypes, openApiDocument } from '../scripts/api-types.js';

// The web apps take every request and answer type from web/src/api.generated.ts, generated
// from the OpenAPI document the routes' schemas make. A route changed without regenerating
// would leave the browser code checked against the old shapes; these tests fail first.

type Schema = Record<string, unknown>;
interface Operation {
  responses?: Record<string, { content?: Record<string, { schema?: Schema }> }>;
}

/** A schema that says nothing (`{}`, or only a description) generates `unknown`. */
function saysNothing(schema: Schema | undefined): boolean {
  if (!schema) return true;
  return !['type', '$ref', 'anyOf', 'oneOf', 'allOf', 'enum', 'const', 'properties'].some((key) => key in schema);
}

describe('the web API types', () => {
  it('web/src/api.generated.ts is what `npm run api:types` generates from the routes as they are', { timeout: 120_000 }, async () => {
    const committed = fs.readFileSync(API_TYPES_FILE, 'utf8');
    const fresh = await generateApiTypes();
    expect(fresh).toContain('export interface paths');
    expect(committed, 'web/src/api.generated.ts is out of date: run `npm run api:types` and commit the file').toBe(fresh);
  });

  it('every JSON answer of the API has a schema, so no answer type is unknown on the web side', { timeout: 120_000 }, async () => {
    // Read as the JSON it is served as (GET /api/docs/json).
    const document: { paths: Record<string, Record<string, Operation>> } = JSON.parse(JSON.stringify(await openApiDocument()));
    const answers: string[] = [];
    const shapeless: string[] = [];
    for (const [path, operations] of Object.entries(document.paths)) {
      if (!path.startsWith('/api/v1/')) continue;
      for (const [method, operation] of Object.entries(operations)) {
        for (const [status, response] of Object.entries(operation.responses ?? {})) {
          const json = response.content?.['application/json'];
          if (!status.startsWith('2') || !json) continue;
          answers.push(`${method.toUpperCase()} ${path} ${status}`);
          if (saysNothing(json.schema)) shapeless.push(`${method.toUpperCase()} ${path} ${status}`);
        }
      }
    }
    expect(answers.length).toBeGreaterThan(50);
    expect(shapeless).toEqual([]);
  });
});
