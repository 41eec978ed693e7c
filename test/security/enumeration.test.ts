import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { ACCOUNT_POLICY } from '../../src/core/throttle.js';
import { hashPassword } from '../../src/core/passwords.js';
import { Agent, PASSWORD, addCorporation, addUser, firmWithAdmin, startHarness, type Harness, type TestFirm } from '../support/harness.js';
import { median } from '../support/security.js';
import { api, person } from '../support/fixtures.js';

/**
 * No account enumeration at the password step. By answer: every kind of "no" (unknown
 * address, wrong password, disabled user, a user without a password yet, a corp user without
 * portal access, another firm's user) is the same status, the same body and no cookie, and
 * throttling treats typed addresses alike. By timing: an unknown address costs a full argon2
 * verification (against a dummy hash) like a known one, so the median times of the two, over
 * interleaved attempts, stay within a tolerance a noisy shared machine keeps.
 *
 * There is no self-service "forgot password" request in Tessera (a superuser sends set-password
 * links from the user's page), so there is no reset request to compare.
 */

let h: Harness;
let A: TestFirm;
let B: TestFirm;

beforeAll(async () => {
  h = await startHarness({ clock: new ManualClock(Date.UTC(2026, 7, 6, 9, 0, 0)) });
  A = await firmWithAdmin(h);
  B = await firmWithAdmin(h);
});
afterAll(() => h?.close());

let ip = 0;
/** A login from its own client address (the per-address limit is not what these tests are about). */
const attempt = (body: Record<string, unknown>, path = '/login') => new Agent(h.app, { ip: `10.9.${(++ip >> 8) & 255}.${ip & 255}` }).post(api(path), body);

/** The whole answer a client sees, minus what differs on every response. */
const visible = (res: LightMyRequestResponse) => {
  const { date: _d, 'content-length': _l, ...headers } = res.headers;
  return { status: res.statusCode, body: res.json(), headers };
};

describe('by answer', () => {
  it('firm users: every kind of "no" is the same answer, without a cookie', async () => {
    const known = await person(h, A);
    const disabled = await person(h, A);
    await h.ctx.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', disabled.id).execute();
    const noPassword = await person(h, A, { password: null });
    const corp = await addCorporation(h, A.firm.id, 'Enum Corp');
    const noPortal = await addUser(h, A.firm.id, { name: 'Nora Portal', email: 'nora@enum.example', kind: 'corp_user', corporationId: corp.id });
    await h.ctx.db.updateTable('users').set({ portal_access: 'disabled' }).where('id', '=', noPortal.id).execute();
    const otherFirm = await person(h, B);

    const slug = A.firm.slug;
    const answers = {
      unknown: await attempt({ email: 'nobody-here@example.com', password: PASSWORD, firm: slug }),
      'wrong password': await attempt({ email: known.email, password: 'not the password', firm: slug }),
      disabled: await attempt({ email: disabled.email, password: PASSWORD, firm: slug }),
      'no password yet': await attempt({ email: noPassword.email, password: PASSWORD, firm: slug }),
      'no portal access': await attempt({ email: noPortal.email, password: PASSWORD, firm: slug }),
      "another firm's user, with the right password": await attempt({ email: otherFirm.email, password: PASSWORD, firm: slug }),
      'unknown firm': await attempt({ email: known.email, password: PASSWORD, firm: 'no-such-firm' }),
      'unknown, no firm given': await attempt({ email: 'nobody-here@example.com', password: PASSWORD }),
      'wrong password, no firm given': await attempt({ email: known.email, password: 'not the password' }),
    };
    const reference = visible(answers.unknown);
    expect(reference.status).toBe(401);
    expect(reference.body).toEqual({ error: 'INVALID_CREDENTIALS', message: 'The email address or password is not right.' });
    expect(reference.headers['set-cookie']).toBeUndefined();
    for (const [name, res] of Object.entries(answers)) expect({ name, ...visible(res) }).toEqual({ name, ...reference });
    // The control: the right password of the known account gets in.
    expect((await attempt({ email: known.email, password: PASSWORD, firm: slug })).statusCode).toBe(200);
  });

  it('operators: unknown address, wrong password and a disabled operator are the same answer', async () => {
    const now = h.clock.now();
    const hash = await hashPassword(PASSWORD);
    await h.ctx.db
      .insertInto('operators')
      .values([
        { id: crypto.randomUUID(), email: 'op-known@platform.example', name: 'Known', password_hash: hash, status: 'active', created_at: now },
        { id: crypto.randomUUID(), email: 'op-off@platform.example', name: 'Off', password_hash: hash, status: 'disabled', created_at: now },
      ])
      .execute();
    const answers = [
      await attempt({ email: 'op-nobody@platform.example', password: PASSWORD }, '/operator/login'),
      await attempt({ email: 'op-known@platform.example', password: 'not the password' }, '/operator/login'),
      await attempt({ email: 'op-off@platform.example', password: PASSWORD }, '/operator/login'),
      // A firm user's address and password are nobody at the operator login.
      await attempt({ email: A.superuser.email, password: PASSWORD }, '/operator/login'),
    ];
    for (const res of answers) expect(visible(res)).toEqual(visible(answers[0]!));
    expect(answers[0]!.statusCode).toBe(401);
  });

  it('throttling: an unknown address is held exactly like a known one', async () => {
    const known = await person(h, A);
    const unknown = 'never-registered@example.com';
    const one = (email: string) => attempt({ email, password: 'not the password', firm: A.firm.slug });
    for (let i = 0; i < ACCOUNT_POLICY.freeFailures; i++) {
      expect(visible(await one(known.email))).toEqual(visible(await one(unknown)));
    }
    const heldKnown = await one(known.email);
    const heldUnknown = await one(unknown);
    expect(heldKnown.statusCode).toBe(429);
    expect(visible(heldKnown)).toEqual(visible(heldUnknown));
  });
});

describe('by timing', () => {
  /** Times one request (ms). */
  async function timed(body: Record<string, unknown>): Promise<number> {
    const start = process.hrtime.bigint();
    const res = await attempt(body);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    expect(res.statusCode).toBe(401);
    return ms;
  }

  it('a known address with a wrong password and an unknown address take the same median time (30 interleaved attempts each)', async () => {
    const known = await person(h, A);
    const known2 = await person(h, A);
    const ROUNDS = 30;
    const times = { known: [] as number[], unknown: [] as number[] };
    // Warm-up: the dummy hash is made on first use, and the JIT settles.
    for (let i = 0; i < 3; i++) {
      await timed({ email: `warm-${i}@example.com`, password: 'x', firm: A.firm.slug });
      await timed({ email: known2.email, password: 'x', firm: A.firm.slug });
    }
    for (let i = 0; i < ROUNDS; i++) {
      // Past any delay the failures earned (at most a minute): the limits are not what is timed.
      h.clock.advance(61_000);
      // Alternate which goes first, so that a burst of load on the machine hits both alike.
      const pair = [
        async () => times.known.push(await timed({ email: known.email, password: `wrong-${i}`, firm: A.firm.slug })),
        async () => times.unknown.push(await timed({ email: `unknown-${i}@example.com`, password: `wrong-${i}`, firm: A.firm.slug })),
      ];
      if (i % 2) pair.reverse();
      for (const run of pair) await run();
    }
    const ratio = median(times.known) / median(times.unknown);
    expect(ratio, `median known ${median(times.known).toFixed(1)} ms, unknown ${median(times.unknown).toFixed(1)} ms`).toBeGreaterThan(0.67);
    expect(ratio).toBeLessThan(1.5);
    // And both are real argon2 verifications, not a fast "no".
    expect(median(times.unknown)).toBeGreaterThan(5);
  });
});
