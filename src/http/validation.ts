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

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? bodyAjv : textAjv).compile(schema as object);
