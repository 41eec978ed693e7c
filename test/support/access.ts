import type { LightMyRequestResponse } from 'fastify';
import { it } from 'vitest';
import { Agent, dbState, expectRefused, type Harness } from './harness.js';

/**
 * "Who may use this API": the refusals every API of a firm or of the operator must give, as
 * one table of tests. Each test sends one request that the refusal alone must stop, and
 * asserts the status, the error code and that nothing changed.
 */

type SendOptions = NonNullable<Parameters<Agent['raw']>[2]>;

/** A route of the API. `:id` in the path stands for `AccessRules.id`; a body is one that would succeed. */
export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  body?: () => SendOptions['body'];
  /** The route in test titles; by default `METHOD path` without /api/v1. */
  title?: string;
}

/** Sends `r` as `agent`, with `id` in place of `:id`. */
export const sendTo = (agent: Agent, r: Route, id = '', opts: Omit<SendOptions, 'body'> = {}) =>
  agent.raw(r.method, r.path.replace(':id', id), { body: r.body?.(), ...opts });

export type CsrfCheck = 'token' | 'origin' | 'cross-site';

const CSRF: Record<CsrfCheck, { title: string; opts: Omit<SendOptions, 'body'> }> = {
  token: { title: 'without the CSRF token', opts: { csrf: false } },
  origin: { title: 'from a foreign Origin', opts: { headers: { origin: 'https://evil.example' } } },
  'cross-site': { title: 'marked Sec-Fetch-Site: cross-site', opts: { headers: { 'sec-fetch-site': 'cross-site' } } },
};

export interface AccessRules<S> {
  h: () => Harness;
  routes: Route[];
  /** What `:id` stands for: something the allowed caller may reach. */
  id?: () => string;
  /** Logged-in callers refused with 403 FORBIDDEN on every route (anonymous is always refused with 401). */
  forbidden: { who: string; agent: () => Agent }[];
  /** An allowed caller whose unsafe requests are refused with 403 CSRF_INVALID without CSRF protection. */
  csrfAgent: () => Agent;
  /** Which CSRF refusals to test; all by default. */
  csrf?: CsrfCheck[];
  /** A superuser of another firm, refused with 404 NOT_FOUND on every route with `:id`, for each of `ids`. */
  otherFirm?: { agent: () => Agent; ids: () => string[] };
  /** An allowed caller gets 404 NOT_FOUND for an unknown id and 400 VALIDATION_FAILED for each malformed one (an oversized id, one with a NUL). */
  badIds?: { agent: () => Agent; unknown: string; malformed: string[] };
  /** "Nothing changed": a snapshot and the check of a refusal against it; by default dbState and expectRefused of the harness. */
  state?: () => Promise<S>;
  expectRefused?: (res: LightMyRequestResponse, status: number, code: string, before: S) => Promise<void>;
}

/** Who an API for firm superusers refuses with 403: a firm user who is not a superuser, and a platform operator. */
export const notSuperusers = (member: () => Agent, operator: () => Agent): AccessRules<unknown>['forbidden'] => [
  { who: 'a firm user who is not a superuser', agent: member },
  { who: 'a platform operator', agent: operator },
];

/** Declares the tests of `rules` in the current describe block. */
export function itRefusesOutsiders<S = Awaited<ReturnType<typeof dbState>>>(rules: AccessRules<S>): void {
  const state = rules.state ?? (() => dbState(rules.h()) as Promise<S>);
  const check =
    rules.expectRefused ??
    ((res: LightMyRequestResponse, status: number, code: string, before: S) =>
      expectRefused(rules.h(), res, status, code, before as Awaited<ReturnType<typeof dbState>>));
  const rows = (routes: Route[]) => routes.map((r) => [r.title ?? `${r.method} ${r.path.replace('/api/v1', '')}`, r] as const);
  const refused = async (agent: Agent, r: Route, id: string, status: number, code: string, opts: Omit<SendOptions, 'body'> = {}) => {
    const before = await state();
    await check(await sendTo(agent, r, id, opts), status, code, before);
  };
  const id = () => rules.id?.() ?? '';
  const unsafe = rules.routes.filter((r) => r.method !== 'GET');
  const withId = rules.routes.filter((r) => r.path.includes(':id'));

  it.each(rows(rules.routes))('anonymous %s -> 401 UNAUTHENTICATED', (_route, r) => refused(new Agent(rules.h().app), r, id(), 401, 'UNAUTHENTICATED'));
  for (const { who, agent } of rules.forbidden) {
    it.each(rows(rules.routes))(`${who}: %s -> 403 FORBIDDEN`, (_route, r) => refused(agent(), r, id(), 403, 'FORBIDDEN'));
  }
  for (const c of rules.csrf ?? (Object.keys(CSRF) as CsrfCheck[])) {
    it.each(rows(unsafe))(`%s ${CSRF[c].title} -> 403 CSRF_INVALID`, (_route, r) => refused(rules.csrfAgent(), r, id(), 403, 'CSRF_INVALID', CSRF[c].opts));
  }
  const { otherFirm, badIds } = rules;
  if (otherFirm && withId.length) {
    it.each(rows(withId))('a superuser of another firm: %s with an id of firm A -> 404 NOT_FOUND', async (_route, r) => {
      for (const other of otherFirm.ids()) await refused(otherFirm.agent(), r, other, 404, 'NOT_FOUND');
    });
  }
  if (badIds && withId.length) {
    it.each(rows(withId))('%s with an unknown id -> 404, with an oversized id or a NUL in it -> 400', async (_route, r) => {
      await refused(badIds.agent(), r, badIds.unknown, 404, 'NOT_FOUND');
      for (const bad of badIds.malformed) await refused(badIds.agent(), r, bad, 400, 'VALIDATION_FAILED');
    });
  }
}
