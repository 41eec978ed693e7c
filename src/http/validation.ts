import { Ajv, type Options } from 'ajv';
import * as formats from 'ajv-formats';
import type { FormatsPlugin } from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

// ajv-formats is CommonJS; under ESM its function arrives as the default export.
const addFormats = (formats as unknown as { default: FormatsPlugin }).default;

const base: Options = { allErrors: false, removeAdditional: false, useDefaults: true, strict: false };

/** Bodies are JSON: no type coercion ("12" is not 12) and unknown properties are refused. */
const bodyAjv = addFormats(new Ajv({ ...base, coerceTypes: false }));
/** Query strings and path params are text by nature: coerce "2" to 2 for page numbers. */
const textAjv = addFormats(new Ajv({ ...base, coerceTypes: 'array' }));

/**
 * Where the first U+0000 in a request value is, as a JSON pointer, or null when there is none.
 * A loop, not recursion: open schemas (WebAuthn extension outputs) admit JSON nested thousands
 * deep, which would overflow the stack (a 500) if walked recursively.
 */
function nulAt(value: unknown): string | null {
  const todo: [unknown, string][] = [[value, '']];
  for (let item = todo.pop(); item; item = todo.pop()) {
    const [v, at] = item;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return at;
    } else if (v !== null && typeof v === 'object') {
      for (const [key, child] of Object.entries(v).reverse()) todo.push([child, `${at}/${key}`]);
    }
  }
  return null;
}

/**
 * The schema, and then no NUL character anywhere: PostgreSQL refuses U+0000 in text
 * (SQLite stores it), so without this one such character in a name, an id or a search
 * would be a 500 on one database and accepted on the other. It is never legitimate input.
 */
export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const validate = (httpPart === 'body' ? bodyAjv : textAjv).compile(schema as object);
  const check = (data: unknown, dataCtx?: unknown) => {
    const ok = (validate as (d: unknown, c?: unknown) => boolean)(data, dataCtx);
    check.errors = validate.errors;
    if (!ok) return false;
    const at = nulAt(data);
    if (at === null) return true;
    check.errors = [{ instancePath: at, schemaPath: '', keyword: 'nul', params: {}, message: 'must not contain the NUL character' }];
    return false;
  };
  check.errors = validate.errors;
  // Fastify hands Ajv's own functions the parent object (so Ajv may replace a root value); keep that.
  return Object.assign(check, { schemaEnv: (validate as unknown as { schemaEnv: unknown }).schemaEnv });
};
