import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { ManualClock } from '../src/clock.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { Agent, PASSWORD, activateSubscription, addUser, expectError, firmWithAdmin, startHarness, type Harness, type TestFirm } from './support/harness.js';
import { api, setPasskeys } from './support/fixtures.js';

/**
 * GET /login/options?firm=slug (issue 16.9): whether the login page offers "Sign in with a
 * passkey" for a firm. The answer must not tell an unknown firm from one that does not allow
 * passkeys; the look-ups are throttled per client IP; bad input is a 400 that writes nothing.
 */

let database: TestDatabase;
let h: Harness;
const clock = new ManualClock(Date.UTC(2026, 6, 1, 8, 0, 0));
let ipSeq = 0;
/** A browser on an address of its own, so the throttle of one test does not reach another. */
const browser = () => new Agent(h.app, { ip: `10.2.0.${++ipSeq}` });
const options = (agent: Agent, firm: string) => agent.get(api(`/login/options?firm=${encodeURIComponent(firm)}`));
const hintRows = async () =>
  Number((await h.ctx.db.selectFrom('auth_attempts').select((eb) => eb.fn.countAll<number>().as('n')).where('scope', '=', 'firm_hint').executeTakeFirstOrThrow()).n);

let allowing: TestFirm;
let defaults: TestFirm;
let turnedOff: TestFirm;

beforeAll(async () => {
  database = await createTestDatabase();
  h = await startHarness({ shared: database, clock });
  allowing = await firmWithAdmin(h);
  await activateSubscription(h, allowing.firm.id, 10);
  await setPasskeys(allowing, true);
  // Never saved a login policy: no mfa_settings row at all.
  defaults = await firmWithAdmin(h);
  // Allowed passkeys once, then turned them off again.
  turnedOff = await firmWithAdmin(h);
  await activateSubscription(h, turnedOff.firm.id, 10);
  await setPasskeys(turnedOff, true);
  await setPasskeys(turnedOff, false);
});
afterAll(async () => {
  await h.close();
  await database.drop();
});

/** Everything a client can see of an answer but the date. */
const visible = (res: LightMyRequestResponse) => {
  const { date: _date, ...headers } = res.headers;
  return { status: res.statusCode, headers, body: res.body };
};

describe('GET /login/options', () => {
  it('says passkeys: true for a firm that allows them, whatever the case of its short name', async () => {
    const agent = browser();
    const res = await options(agent, allowing.firm.slug);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ passkeys: true });
    expect(res.headers['cache-control']).toBe('no-store');
    expect((await options(agent, allowing.firm.slug.toUpperCase())).json()).toEqual({ passkeys: true });
  });

  it('answers an unknown firm exactly as a firm that does not allow passkeys (no firm enumeration)', async () => {
    const agent = browser();
    const unknown = visible(await options(agent, 'no-such-firm'));
    expect(unknown.status).toBe(200);
    expect(JSON.parse(unknown.body)).toEqual({ passkeys: false });
    // The firm that never chose, and the one that turned passkeys off: byte for byte the same answer.
    expect(visible(await options(agent, defaults.firm.slug))).toEqual(unknown);
    expect(visible(await options(agent, turnedOff.firm.slug))).toEqual(unknown);
    // And again once the firm turns them on and off: the answer follows the setting at once.
    await setPasskeys(turnedOff, true);
    expect((await options(agent, turnedOff.firm.slug)).json()).toEqual({ passkeys: true });
    await setPasskeys(turnedOff, false);
    expect(visible(await options(agent, turnedOff.firm.slug))).toEqual(unknown);
  });

  it('refuses bad input with 400 VALIDATION_FAILED and records nothing', async () => {
    const agent = browser();
    const before = await hintRows();
    for (const url of [
      '/login/options',
      '/login/options?firm=',
      '/login/options?firm=acme%20law',
      '/login/options?firm=acme.law',
      `/login/options?firm=${'a'.repeat(64)}`,
      '/login/options?firm=acme%00',
      '/login/options?firm=acme&email=sam@acme.example',
    ]) {
      const res = await agent.get(api(url));
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(res.json().message, url).toMatch(/^Invalid querystring/);
    }
    expect(await hintRows()).toBe(before);
  });

  it('is throttled per client IP after 20 misses (429 with Retry-After); another address, and the password login, are not', async () => {
    const agent = browser();
    for (let i = 0; i < 20; i++) expect((await options(agent, `guess-${i}`)).json()).toEqual({ passkeys: false });
    const throttled = await options(agent, 'guess-20');
    expectError(throttled, 429, 'TOO_MANY_ATTEMPTS');
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // While refused, a firm that allows passkeys is refused alike: the 429 tells nothing either.
    expectError(await options(agent, allowing.firm.slug), 429, 'TOO_MANY_ATTEMPTS');
    // Another address is not slowed down.
    expect((await options(browser(), allowing.firm.slug)).json()).toEqual({ passkeys: true });
    // The same address can still sign in with its password: the login's own throttle is apart.
    const user = await addUser(h, defaults.firm.id, { name: 'Lou Lookup', email: `lou-${ipSeq}@example.com`, kind: 'case_manager' });
    expect((await agent.post(api('/login'), { email: user.email, password: PASSWORD, firm: defaults.firm.slug })).statusCode).toBe(200);

    // The delay doubles with each further miss, then a "true" ends the run of misses.
    clock.advance(1_000);
    expect((await options(agent, allowing.firm.slug)).json()).toEqual({ passkeys: true });
    expect((await options(agent, 'guess-21')).json()).toEqual({ passkeys: false });
  });

  it('stops at 200 misses an hour even when a known firm is slipped in between guesses, until the oldest leave the hour', async () => {
    const agent = browser();
    // A "true" ends a run of misses (no doubling delay), so someone who knows one such firm
    // can guess quickly, but no more than 200 times in any hour.
    for (let i = 0; i < 200; i++) {
      if (i % 10 === 0) expect((await options(agent, allowing.firm.slug)).json()).toEqual({ passkeys: true });
      expect((await options(agent, `spray-${i}`)).statusCode, `guess ${i}`).toBe(200);
      clock.advance(1_000);
    }
    expectError(await options(agent, allowing.firm.slug), 429, 'TOO_MANY_ATTEMPTS');
    const capped = await options(agent, 'spray-200');
    expectError(capped, 429, 'TOO_MANY_ATTEMPTS');
    // The first guess leaves the hour about 3400 s from now (200 s have passed since).
    expect(Number(capped.headers['retry-after'])).toBeGreaterThan(3000);
    clock.advance(Number(capped.headers['retry-after']) * 1000);
    expect((await options(agent, allowing.firm.slug)).json()).toEqual({ passkeys: true });
  });
});
