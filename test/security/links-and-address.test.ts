import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY, ManualClock } from '../../src/clock.js';
import { FIRST_OPERATOR_EMAIL, ensureOperatorSetup, issueOperatorSetupLink } from '../../src/operators/bootstrap.js';
import { hashToken, newToken } from '../../src/sessions/session.service.js';
import { DeviceSimulator } from '../support/device-simulator.js';
import {
  Agent,
  PASSWORD,
  addCorporation,
  dbState,
  enrolledOperator,
  expectRefused,
  lastLinkTo,
  sessionAgent,
  startHarness,
  tokenOf,
  type Harness,
  type TestFirm,
  totpCode,
} from '../support/harness.js';
import { api, loginAs, mfaFirm, person, mailsTo, userRow } from '../support/fixtures.js';
import { registerKey, softKey, totpUser } from '../support/factors.js';

/**
 * Security review, issue 12, items 2 and 3.
 *
 * Item 2: a set-password link is bound to the address it was mailed to. Changing a user's
 * address, disabling or deleting them voids their unused links (one statement, in the
 * transaction of the change), and a link whose account no longer has that address is refused
 * wherever it is read or used. Otherwise a link mailed to a mistyped address still sets the
 * password after the address is corrected: a takeover by whoever holds the mistyped domain.
 *
 * Item 3: address changes are announced. Every change is mailed to the old address, and for 7
 * days security notices (password set, MFA reset, a new authenticator, My security changes) go
 * there too; otherwise a superuser can point an account at their own address, set its password,
 * reset its MFA and enrol their own phone without its owner ever hearing of it. The old address
 * never learns the new one, nor the details (IP, authenticator names, links).
 */

let h: Harness;
let F: TestFirm;

beforeAll(async () => {
  h = await startHarness({ clock: new ManualClock(Date.UTC(2026, 8, 1, 9, 0, 5)) });
  F = await mfaFirm(h, { licences: 20, enabled: 'staff', adminEnrolled: true });
});
afterAll(() => h?.close());

const USERS = api('/admin/users');
const subjectsTo = async (to: string) => (await mailsTo(h, to)).map((m) => m.subject);
/** A time as the mails write it. */
const utc = (at: number) => `${new Date(at).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
const inspect = (token: string) => new Agent(h.app).post(api('/password/inspect'), { token });
const setPassword = (token: string, password = 'a long and private phrase') => new Agent(h.app).post(api('/password/set'), { token, password });
const tokenRow = (token: string) => h.ctx.db.selectFrom('one_time_tokens').selectAll().where('id', '=', hashToken(token)).executeTakeFirstOrThrow();

function expectLinkInvalid(res: { statusCode: number; json(): unknown; body: string }) {
  expect(res.statusCode, res.body).toBe(410);
  expect(res.json()).toEqual({ error: 'LINK_INVALID', message: expect.stringMatching(/\S/) });
}

/** The superuser's session ends after 30 idle minutes: a new one (second factor passed) after the clock jumps days. */
async function adminAgain(): Promise<void> {
  F.admin = await sessionAgent(h, { id: F.superuser.id, firmId: F.firm.id }, { secondFactorAt: h.clock.now() });
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
    expect((await userRow(h, id))!.password_hash).toBeNull();

    // Changing the address back does not revive it either.
    expect((await F.admin.patch(`${USERS}/${id}`, { email: mistyped })).statusCode).toBe(200);
    expectLinkInvalid(await setPassword(token));
    expect((await userRow(h, id))!.password_hash).toBeNull();

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
    expect((await userRow(h, id))!.password_hash).toBeNull();
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
    expect((await userRow(h, id))!.password_hash).toBeNull();
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
    expect((await userRow(h, id))!.password_hash).toBeNull();
  });
});

describe('item 3: address changes are announced', () => {
  const ADDRESS_CHANGED = () => `The email address of your ${F.firm.name} account was changed`;
  const PREVIOUS_NOTICE = () => `Security change on the ${F.firm.name} account that used this address`;
  const PASSWORD_SET = 'Your Tessera password was set';
  const AUTHENTICATOR_ADDED = 'A new authenticator was added to your Tessera account';
  const MFA_RESET = () => `Your MFA enrollment at ${F.firm.name} was reset`;

  /** Nothing in a mail to the old address gives the new one away, not even its parts. */
  function expectNoTraceOf(mails: { text_body: string; html_body: string; subject: string }[], newAddress: string) {
    const [local, domain] = newAddress.split('@') as [string, string];
    for (const m of mails) {
      for (const part of [m.subject, m.text_body, m.html_body]) {
        expect(part).not.toContain(local);
        expect(part).not.toContain(domain);
      }
    }
  }

  it("a superuser who points a user's account at their own address, sets the password, resets MFA and enrols cannot do it unseen", async () => {
    const victim = await totpUser(h, F);
    const old = victim.user.email;
    const before = (await mailsTo(h, old)).length;
    const insider = address('sam.private', 'insider.example');

    const at: number[] = [];
    const step = () => {
      h.clock.advance(60_000);
      at.push(h.clock.now());
    };
    step();
    expect((await F.admin.patch(`${USERS}/${victim.user.id}`, { email: insider })).statusCode).toBe(200);
    expect(await userRow(h, victim.user.id)).toMatchObject({ email: insider, previous_email: old, email_changed_at: at[0] });

    // The insider mails themself a link and sets the password...
    h.clock.advance(1000);
    expect((await F.admin.post(`${USERS}/${victim.user.id}/password-link`)).statusCode).toBe(204);
    step();
    expect((await setPassword(tokenOf(await lastLinkTo(h, insider)), PASSWORD)).statusCode).toBe(204);
    // ...resets the victim's MFA...
    step();
    expect((await F.admin.post(api(`/admin/mfa/enrolled/${victim.user.id}/reset`))).statusCode).toBe(204);
    // ...and enrols their own authenticator app at the next login.
    step();
    const agent = await loginAs(h, F, { email: insider }, 'enroll');
    const begun = (await agent.post(api('/mfa/enrollment/totp'), {})).json() as { authenticatorId: string; secret: string };
    const enrolled = await agent.post(api(`/mfa/enrollment/totp/${begun.authenticatorId}/confirm`), { code: totpCode(h, begun.secret), label: "Sam's phone" });
    expect(enrolled.statusCode, enrolled.body).toBe(200);

    // The owner heard of every step at their old address, in order...
    const told = (await mailsTo(h, old)).slice(before);
    expect(told.map((m) => m.subject)).toEqual([ADDRESS_CHANGED(), PREVIOUS_NOTICE(), PREVIOUS_NOTICE(), PREVIOUS_NOTICE()]);
    expect(told.every((m) => m.firm_id === F.firm.id && m.link === null)).toBe(true);
    expect(told[0]!.text_body).toContain(`was changed on ${utc(at[0]!)}`);
    expect(told[0]!.text_body).toContain(`contact the administrators of ${F.firm.name} at once`);
    expect(told.slice(1).map((m) => m.text_body.match(/had a security change on ([^:]+:\d\d UTC): (.+)\./)?.slice(1))).toEqual([
      [utc(at[1]!), 'Password set'],
      [utc(at[2]!), 'MFA enrollment reset'],
      [utc(at[3]!), 'Authenticator enrolled'],
    ]);
    // ...and never of the new address, the insider's IP or the authenticator's name.
    expectNoTraceOf(told, insider);
    for (const m of told) expect(m.text_body).not.toMatch(/127\.0\.0\.1|Sam's phone/);
    // The account's own (new) address got the full notices.
    expect(await subjectsTo(insider)).toEqual([`Set your password for ${F.firm.name}`, PASSWORD_SET, MFA_RESET(), AUTHENTICATOR_ADDED]);
    expect((await mailsTo(h, insider)).at(-1)!.text_body).toContain(`an authenticator app named "Sam's phone"`);
  });

  it('the notices to the old address stop 7 days after the change', async () => {
    const u = await person(h, F);
    const old = u.email;
    const base = (await mailsTo(h, old)).length;
    h.clock.advance(1000);
    expect((await F.admin.patch(`${USERS}/${u.id}`, { email: address('moved') })).statusCode).toBe(200);
    const linkAndSet = async () => {
      expect((await F.admin.post(`${USERS}/${u.id}/password-link`)).statusCode).toBe(204);
      expect((await setPassword(tokenOf(await lastLinkTo(h, (await userRow(h, u.id))!.email)))).statusCode).toBe(204);
    };
    h.clock.advance(7 * DAY - 1);
    await adminAgain();
    await linkAndSet();
    expect((await subjectsTo(old)).slice(base)).toEqual([ADDRESS_CHANGED(), PREVIOUS_NOTICE()]);
    h.clock.advance(1);
    await linkAndSet();
    expect((await subjectsTo(old)).slice(base)).toEqual([ADDRESS_CHANGED(), PREVIOUS_NOTICE()]);
  });

  it('changing the address twice within 7 days does not shake off the first address', async () => {
    const u = await person(h, F);
    const first = u.email;
    const base = (await mailsTo(h, first)).length;
    const second = address('second', 'insider.example');
    const third = address('third', 'insider.example');
    h.clock.advance(1000);
    expect((await F.admin.patch(`${USERS}/${u.id}`, { email: second })).statusCode).toBe(200);
    h.clock.advance(6 * DAY);
    await adminAgain();
    expect((await F.admin.patch(`${USERS}/${u.id}`, { email: third })).statusCode).toBe(200);
    // Both earlier addresses hear of the second change; the first is still the one kept...
    expect((await subjectsTo(first)).slice(base)).toEqual([ADDRESS_CHANGED(), ADDRESS_CHANGED()]);
    expect(await subjectsTo(second)).toEqual([ADDRESS_CHANGED()]);
    expect(await userRow(h, u.id)).toMatchObject({ email: third, previous_email: first, email_changed_at: h.clock.now() });
    // ...and the 7 days started again at the second change.
    h.clock.advance(7 * DAY - 1);
    await adminAgain();
    expect((await F.admin.post(`${USERS}/${u.id}/password-link`)).statusCode).toBe(204);
    expect((await setPassword(tokenOf(await lastLinkTo(h, third)))).statusCode).toBe(204);
    expect((await subjectsTo(first)).slice(base)).toEqual([ADDRESS_CHANGED(), ADDRESS_CHANGED(), PREVIOUS_NOTICE()]);
    expect(await subjectsTo(second)).toEqual([ADDRESS_CHANGED()]);
    expectNoTraceOf(await mailsTo(h, first), third);
    expectNoTraceOf(await mailsTo(h, first), second);
  });

  it('a phone or a security key enrolled after an address change is announced at the old address', async () => {
    const u = await person(h, F);
    const old = u.email;
    const base = (await mailsTo(h, old)).length;
    const moved = address('moved');
    h.clock.advance(1000);
    expect((await F.admin.patch(`${USERS}/${u.id}`, { email: moved })).statusCode).toBe(200);
    h.clock.advance(1000);
    const agent = await loginAs(h, F, { email: moved }, 'enroll');
    // The Tessera Authenticator: activated by the phone, through the device API.
    const begun = await agent.post(api('/mfa/enrollment/push'), { phone: { number: '07911 123456', country: 'GB' } });
    expect(begun.statusCode, begun.body).toBe(201);
    const device = await DeviceSimulator.create(h.app, h.clock);
    expect((await device.activate(begun.json().activationUrl)).statusCode).toBe(200);
    expect((await agent.post(api(`/mfa/enrollment/push/${begun.json().authenticatorId}/complete`))).statusCode).toBe(200);
    // A security key added from My security (this session passed a second factor: the enrollment).
    h.clock.advance(1000);
    await registerKey(agent, softKey(h));

    expect((await subjectsTo(old)).slice(base)).toEqual([ADDRESS_CHANGED(), PREVIOUS_NOTICE(), PREVIOUS_NOTICE()]);
    expect((await mailsTo(h, old)).slice(base + 1).every((m) => m.text_body.includes(': Authenticator enrolled.'))).toBe(true);
    expect(await subjectsTo(moved)).toEqual([AUTHENTICATOR_ADDED, AUTHENTICATOR_ADDED]);
    const added = (await mailsTo(h, moved)).map((m) => m.text_body);
    expect(added[0]).toContain('the Tessera Authenticator on a phone');
    expect(added[1]).toContain('a security key named "Security key"');
  });

  it('My security changes after an address change reach the old address, without names or IP', async () => {
    const u = await totpUser(h, F);
    const old = u.user.email;
    const moved = address('moved');
    h.clock.advance(1000);
    expect((await F.admin.patch(`${USERS}/${u.user.id}`, { email: moved })).statusCode).toBe(200);
    const before = (await mailsTo(h, old)).length;
    h.clock.advance(1000);
    const me = await sessionAgent(h, { id: u.user.id, firmId: F.firm.id }, { secondFactorAt: h.clock.now(), ip: '203.0.113.77' });
    expect((await me.patch(api(`/me/authenticators/${u.authenticatorId}`), { label: 'Secret label' })).statusCode).toBe(200);
    h.clock.advance(1000);
    expect((await me.post(api('/me/backup-codes'))).statusCode).toBe(200);
    const told = (await mailsTo(h, old)).slice(before);
    expect(told.map((m) => m.text_body.match(/: (Authenticator renamed|New backup codes made)\./)?.[1])).toEqual(['Authenticator renamed', 'New backup codes made']);
    for (const m of told) expect(`${m.text_body}${m.html_body}`).not.toMatch(/Secret label|203\.0\.113\.77/);
    expect((await mailsTo(h, moved)).map((m) => m.text_body).join('\n')).toContain('203.0.113.77');
  });
});

describe("operators: setup links are bound to the operator's address, and a changed address is told", () => {
  let o: Harness;
  beforeAll(async () => {
    o = await startHarness({ clock: new ManualClock(Date.UTC(2026, 8, 1, 9, 0, 5)) });
  });
  afterAll(() => o?.close());

  const opMails = (to: string) => o.ctx.db.selectFrom('mail_outbox').selectAll().where('to_address', '=', to).orderBy('created_at').orderBy('id').execute();
  const opSet = (token: string, body: Record<string, unknown> = {}) => new Agent(o.app).post(api('/password/set'), { token, password: PASSWORD, ...body });

  it("the first operator's setup replaces the placeholder address: nothing mailed to it, no previous address kept", async () => {
    const link = (await ensureOperatorSetup(o.ctx))!;
    expect((await opSet(tokenOf(link), { email: 'olga@platform.example', name: 'Olga' })).statusCode).toBe(204);
    expect(await opMails(FIRST_OPERATOR_EMAIL)).toEqual([]);
    const row = await o.ctx.db.selectFrom('operators').selectAll().where('email', '=', 'olga@platform.example').executeTakeFirstOrThrow();
    expect(row).toMatchObject({ previous_email: null, email_changed_at: null });
    expect((await opMails('olga@platform.example')).map((m) => m.subject)).toEqual(['Your Tessera password was set']);
  });

  it("a setup link dies when the operator's address changes before it is used", async () => {
    const link = await issueOperatorSetupLink(o.ctx);
    await o.ctx.db.updateTable('operators').set({ email: 'olga.elsewhere@platform.example' }).where('email', '=', 'olga@platform.example').execute();
    expectLinkInvalid(await new Agent(o.app).post(api('/password/inspect'), { token: tokenOf(link) }));
    expectLinkInvalid(await opSet(tokenOf(link), { email: 'mallory@evil.example' }));
    await o.ctx.db.updateTable('operators').set({ email: 'olga@platform.example' }).where('email', '=', 'olga.elsewhere@platform.example').execute();
  });

  it("an operator's address changed with a recovery setup link is told at the old address, and so is a later MFA reset", async () => {
    const olga = await o.ctx.db.selectFrom('operators').select(['id', 'email']).executeTakeFirstOrThrow();
    o.clock.advance(1000);
    const other = await enrolledOperator(o);
    o.clock.advance(60_000);
    const link = await issueOperatorSetupLink(o.ctx);
    expect((await opSet(tokenOf(link), { email: 'olga.new@platform.example' })).statusCode).toBe(204);
    expect(await o.ctx.db.selectFrom('operators').selectAll().where('id', '=', olga.id).executeTakeFirstOrThrow()).toMatchObject({
      email: 'olga.new@platform.example',
      previous_email: olga.email,
      email_changed_at: o.clock.now(),
    });
    o.clock.advance(60_000);
    expect((await other.agent.post(api(`/operator/operators/${olga.id}/mfa-reset`))).statusCode).toBe(204);

    // The address change and the password set with it are one moment: compared as a set.
    const told = (await opMails(olga.email)).slice(1);
    expect(told.map((m) => m.subject).sort()).toEqual([
      'Security change on the Tessera operators account that used this address',
      'Security change on the Tessera operators account that used this address',
      'The email address of your Tessera operators account was changed',
    ]);
    expect(told.find((m) => m.subject.startsWith('The email address'))!.text_body).toContain('contact another Tessera operator at once');
    const notices = told.filter((m) => m.subject.startsWith('Security change'));
    expect(notices.map((m) => m.text_body.match(/UTC: (.+)\.\n/)?.[1])).toEqual(['Password set', 'MFA enrollment reset']);
    for (const m of told) expect(`${m.subject}${m.text_body}${m.html_body}`).not.toContain('olga.new');
    expect((await opMails('olga.new@platform.example')).map((m) => m.subject)).toEqual(['Your Tessera password was set', 'Your MFA enrollment at Tessera operators was reset']);
  });
});
