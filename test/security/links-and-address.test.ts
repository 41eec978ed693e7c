import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY, ManualClock } from '../../src/clock.js';
import { FIRST_OPERATOR_EMAIL, ensureOperatorSetup } from '../../src/operators/bootstrap.js';
import { hashToken, newToken } from '../../src/sessions/session.service.js';
import {
  Agent,
  PASSWORD,
  addCorporation,
  dbState,
  expectRefused,
  lastLinkTo,
  startHarness,
  tokenOf,
  type Harness,
  type TestFirm,
} from '../support/harness.js';
import { api, mfaFirm, person } from '../support/security.js';

/**
 * Security review, issue 12, item 2.
 *
 * Item 2: a set-password link is bound to the address it was mailed to. Changing a user's
 * address, disabling or deleting them voids their unused links (one statement, in the
 * transaction of the change), and a link whose account no longer has that address is refused
 * wherever it is read or used. Otherwise a link mailed to a mistyped address still sets the
 * password after the address is corrected: a takeover by whoever holds the mistyped domain.
 */

let h: Harness;
let F: TestFirm;

beforeAll(async () => {
  h = await startHarness({ clock: new ManualClock(Date.UTC(2026, 8, 1, 9, 0, 5)) });
  F = await mfaFirm(h);
});
afterAll(() => h?.close());

const USERS = api('/admin/users');
const inspect = (token: string) => new Agent(h.app).post(api('/password/inspect'), { token });
const setPassword = (token: string, password = 'a long and private phrase') => new Agent(h.app).post(api('/password/set'), { token, password });
const userRow = (id: string) => h.ctx.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const tokenRow = (token: string) => h.ctx.db.selectFrom('one_time_tokens').selectAll().where('id', '=', hashToken(token)).executeTakeFirstOrThrow();

function expectLinkInvalid(res: { statusCode: number; json(): unknown; body: string }) {
  expect(res.statusCode, res.body).toBe(410);
  expect(res.json()).toEqual({ error: 'LINK_INVALID', message: expect.stringMatching(/\S/) });
}

let seq = 0;
const address = (name: string, domain = `${F.firm.slug}.example`) => `${name}-${++seq}@${domain}`;

/** A user created by the superuser through the API, without a password: their set-password link is in the outbox. */
async function invited(email: string, body: Record<string, unknown> = { kind: 'case_manager' }) {
  const res = await F.admin.post(USERS, { name: 'Nina Newcomer', email, ...body });
  expect(res.statusCode, res.body).toBe(201);
  return { id: res.json().id as string, token: tokenOf(await lastLinkTo(h, email)) };
}

describe('item 2: a set-password link is bound to the address it was mailed to', () => {
  it('a link mailed to a mistyped address no longer sets the password once a superuser corrects the address', async () => {
    const mistyped = address('nina', 'links-firm.exmaple');
    const { id, token } = await invited(mistyped);
    expect((await inspect(token)).statusCode).toBe(200);

    h.clock.advance(1000);
    const corrected = address('nina');
    const patch = await F.admin.patch(`${USERS}/${id}`, { email: corrected });
    expect(patch.statusCode, patch.body).toBe(200);
    // Voided by the change itself, in its transaction.
    expect((await tokenRow(token)).used_at).toBe(h.clock.now());

    // Whoever holds the mistyped domain can neither see whose link it is nor use it.
    expectLinkInvalid(await inspect(token));
    expectLinkInvalid(await setPassword(token));
    expect((await userRow(id)).password_hash).toBeNull();

    // Changing the address back does not revive it either.
    expect((await F.admin.patch(`${USERS}/${id}`, { email: mistyped })).statusCode).toBe(200);
    expectLinkInvalid(await setPassword(token));
    expect((await userRow(id)).password_hash).toBeNull();

    // A new link to the right address works.
    expect((await F.admin.patch(`${USERS}/${id}`, { email: corrected })).statusCode).toBe(200);
    expect((await F.admin.post(`${USERS}/${id}/password-link`)).statusCode).toBe(204);
    expect((await setPassword(tokenOf(await lastLinkTo(h, corrected)))).statusCode).toBe(204);
  });

  it("a link is refused when its account's address is not the one it was mailed to, even where no change voided it", async () => {
    const mailedTo = address('ulla');
    const { id, token } = await invited(mailedTo);
    // An address changed behind the service's back (a manual fix in the database): no voiding ran.
    await h.ctx.db.updateTable('users').set({ email: address('ulla-elsewhere') }).where('id', '=', id).execute();
    expect((await tokenRow(token)).used_at).toBeNull();
    expectLinkInvalid(await inspect(token));
    expectLinkInvalid(await setPassword(token));
    expect((await userRow(id)).password_hash).toBeNull();
    // It is the binding that refused it: back at the address it was mailed to, the link works.
    await h.ctx.db.updateTable('users').set({ email: mailedTo }).where('id', '=', id).execute();
    expect((await inspect(token)).json()).toMatchObject({ purpose: 'set_password', email: mailedTo });
    expect((await setPassword(token)).statusCode).toBe(204);
  });

  it.each([
    ['a disabled staff user', { kind: 'vendor_case_manager' }, { status: 'disabled' }, { status: 'active' }],
    ['a corporation user whose portal access is turned off', { kind: 'corp_user' }, { portalAccess: 'disabled' }, { portalAccess: 'enabled' }],
    ['a corporation user whose record is made inactive', { kind: 'foreign_national' }, { recordState: 'inactive' }, { recordState: 'active' }],
  ])('the unused link of %s is void, and stays void after re-activation', async (_who, kind, off, on) => {
    const corp = await addCorporation(h, F.firm.id, `Corp ${randomUUID().slice(0, 8)}`);
    const body = kind.kind === 'vendor_case_manager' ? kind : { ...kind, corporationId: corp.id };
    const { id, token } = await invited(address('dana'), body);
    expect((await F.admin.patch(`${USERS}/${id}`, off)).statusCode).toBe(200);
    expect((await tokenRow(token)).used_at).toBe(h.clock.now());
    expect((await F.admin.patch(`${USERS}/${id}`, on)).statusCode).toBe(200);
    expectLinkInvalid(await inspect(token));
    expectLinkInvalid(await setPassword(token));
    expect((await userRow(id)).password_hash).toBeNull();
  });

  it.each([
    ['its address is corrected', (id: string) => F.admin.patch(`${USERS}/${id}`, { email: address('race') }), 200],
    ['its user is disabled', (id: string) => F.admin.patch(`${USERS}/${id}`, { status: 'disabled' }), 200],
    ['its user is deleted', (id: string) => F.admin.delete(`${USERS}/${id}`), 204],
  ] as const)('a link used at the very moment %s sets the password before that or not at all (no deadlock, no 500)', async (_what, change, status) => {
    for (let round = 0; round < 8; round++) {
      const { id, token } = await invited(address('race', 'links-firm.exmaple'));
      const holder = new Agent(h.app);
      expect((await holder.post(api('/password/inspect'), { token })).statusCode).toBe(200);
      // The password's hash takes ~50 ms before its transaction: the change comes before, during or after it.
      const [set, changed] = await Promise.all([
        holder.post(api('/password/set'), { token, password: 'a long and private phrase' }),
        new Promise((r) => setTimeout(r, round * 12)).then(() => change(id)),
      ]);
      expect(changed.statusCode, changed.body).toBe(status);
      expect([204, 410], set.body).toContain(set.statusCode);
      const row = await h.ctx.db.selectFrom('users').select('password_hash').where('id', '=', id).executeTakeFirst();
      if (row) {
        // Either the password was set (with the link, before the change) or the link died with the change.
        expect(row.password_hash !== null).toBe(set.statusCode === 204);
        expect((await tokenRow(token)).used_at).not.toBeNull();
      }
    }
  });

  it('the unused link of a deleted user is dead', async () => {
    const { id, token } = await invited(address('dora'));
    expect((await F.admin.delete(`${USERS}/${id}`)).statusCode).toBe(204);
    expectLinkInvalid(await inspect(token));
    expectLinkInvalid(await setPassword(token));
  });

  it('a refused address change (the address is taken) voids no link and mails no one', async () => {
    const taken = (await person(h, F)).email;
    const { id, token } = await invited(address('tess'));
    const before = await dbState(h);
    await expectRefused(h, await F.admin.patch(`${USERS}/${id}`, { email: taken, name: 'Tess Taken' }), 409, 'EMAIL_TAKEN', before);
    expect((await setPassword(token)).statusCode).toBe(204);
  });

  it('a link issued before the upgrade (no address on record) is refused', async () => {
    const { id } = await invited(address('olla'));
    const token = newToken();
    const now = h.clock.now();
    await h.ctx.db
      .insertInto('one_time_tokens')
      .values({ id: hashToken(token), purpose: 'set_password', user_id: id, firm_id: F.firm.id, operator_id: null, email: null, created_at: now, expires_at: now + DAY, used_at: null })
      .execute();
    expectLinkInvalid(await inspect(token));
    expectLinkInvalid(await setPassword(token));
    expect((await userRow(id)).password_hash).toBeNull();
  });
});

describe("operators: setup links are bound to the operator's address", () => {
  let o: Harness;
  beforeAll(async () => {
    o = await startHarness({ clock: new ManualClock(Date.UTC(2026, 8, 1, 9, 0, 5)) });
  });
  afterAll(() => o?.close());

  const opSet = (token: string, body: Record<string, unknown> = {}) => new Agent(o.app).post(api('/password/set'), { token, password: PASSWORD, ...body });

  it("a setup link dies when the operator's address changes before it is used", async () => {
    const link = (await ensureOperatorSetup(o.ctx))!;
    await o.ctx.db.updateTable('operators').set({ email: 'olga.elsewhere@platform.example' }).where('email', '=', FIRST_OPERATOR_EMAIL).execute();
    expectLinkInvalid(await new Agent(o.app).post(api('/password/inspect'), { token: tokenOf(link) }));
    expectLinkInvalid(await opSet(tokenOf(link), { email: 'mallory@evil.example' }));
  });
});
