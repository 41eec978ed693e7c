import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';

/** The Fastify instance with TypeBox types, as app.ts builds it and the plugins that hook into it see it. */
export type App = FastifyInstance<any, any, any, any, TypeBoxTypeProvider>;
