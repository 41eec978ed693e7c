import { createECDH, randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import webpush from 'web-push';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { DEVICE_CLOCK_SKEW_MS } from '../../src/factors/push/device-signature.js';
import { pushAgent, sendPushNotifications, vapidKeys } from '../../src/factors/push/web-push.js';
import { runHousekeeping } from '../../src/housekeeping.js';
import { databaseAt } from '../support/database.js';
import { DeviceSimulator } from '../support/device-simulator.js';
import { Agent, PASSWORD, auditEvents, dbState, enrollForTest, enrolledOperator, expectError, startHarness, type Harness, type TestFirm } from '../support/harness.js';
import type { SoftAuthenticator, SoftCredential } from '../support/soft-authenticator.js';
import { api, loginAs, mfaFirm, person } from '../support/fixtures.js';
import { freshCode, pushUser, sendPush, softKey, totpUser, type PushUser, type TotpUser } from '../support/factors.js';

/**
 * Security review, issue 12: item 7 (a security key is not a passkey on the client's word) and
 * item 9 (smaller hardening: a fraud report ends the pending logins, remembered browsers can be
 * forgotten, device requests carry a nonce, Web Push endpoints must be public https hosts).
 * One regression test per attack, named after it, on SQLite and on PostgreSQL
 * (TESSERA_TEST_DATABASE_URL).
 */

let h: Harness;
let ipSeq = 0;
/** A browser on an address of its own, so the per-address throttles of one test do not reach another. */
const browser = () => new Agent(h.app, { ip: `198.51.100.${++ipSeq}` });

beforeAll(async () => {
  h = await startHarness({ clock: new ManualClock(Date.UTC(2026, 8, 1, 9, 0, 15)) });
});
afterAll(() => h?.close());

const POLICY = { lockoutThreshold: 10, lockoutMinutes: 15, rememberDays: 0, passkeysEnabled: false };

async function setPolicy(f: TestFirm, change: Partial<typeof POLICY>): Promise<void> {
  const res = await f.admin.raw('PUT', api('/admin/mfa/policy'), { body: { ...POLICY, ...change } });
  expect(res.statusCode, res.body).toBe(200);
}

const credentialOf = (authenticatorId: string) =>
  h.ctx.db.selectFrom('webauthn_credentials').selectAll().where('authenticator_id', '=', authenticatorId).executeTakeFirstOrThrow();

async function passkeySignIn(agent: Agent, key: SoftAuthenticator, credential: SoftCredential) {
  const started = await agent.post(api('/passkey/options'));
  expect(started.statusCode, started.body).toBe(200);
  const { challengeId, options } = started.json();
  return agent.post(api('/passkey/verify'), { challengeId, response: key.assert(options, credential) });
}

// --- Item 7 --------------------------------------------------------------------------------------

describe('Security review: a security key is not a passkey on the client\'s word', () => {
  let F: TestFirm;
  beforeAll(async () => {
    F = await mfaFirm(h, { licences: 20, enabled: 'staff', adminEnrolled: true });
    await setPolicy(F, { passkeysEnabled: true });
  });

  it('a security key registered as a second factor, whose browser claims credProps.rk=true, does not sign in without the password', async () => {
    const user = await person(h, F);
    const agent = await loginAs(h, F, user, 'enroll');
    const key = softKey(h);
    const started = await agent.post(api('/mfa/enrollment/webauthn/options'), { label: 'Desk key' });
    expect(started.statusCode, started.body).toBe(200);
    const { authenticatorId, options } = started.json();
    // The client says (unsigned) the key stored a discoverable credential; the key even did.
    const { response, credential } = key.register(options, { discoverable: true });
    expect(response.clientExtensionResults).toEqual({ credProps: { rk: true } });
    expect((await agent.post(api(`/mfa/enrollment/webauthn/${authenticatorId}/verify`), { response })).statusCode).toBe(200);
    expect(await credentialOf(authenticatorId)).toMatchObject({ discoverable: 1, purpose: 'second_factor' });

    // The attack: the key alone, no password, at "Sign in with a passkey".
    const thief = browser();
    const res = await passkeySignIn(thief, key, credential);
    expectError(res, 401, 'INVALID_CREDENTIALS');
    expect((await auditEvents(h, { event: 'login.failed', subjectId: user.id })).at(-1)?.details).toMatchObject({ method: 'passkey', reason: 'not_passkey' });
    expectError(await thief.get(api('/me')), 401, 'UNAUTHENTICATED');
    expect((await credentialOf(authenticatorId)).counter).toBe(0);

    // It still is what it was registered as: the second factor after the password.
    const login = await loginAs(h, F, user, 'second_factor', browser());
    const step = (await login.post(api('/mfa/webauthn/options'))).json().options;
    expect((await login.post(api('/mfa/webauthn/verify'), { response: key.assert(step, credential) })).statusCode).toBe(200);
  });

  it('a passkey cannot be registered where the firm does not allow passkey sign-in, nor by an operator, nor after the firm turned it off mid-ceremony', async () => {
    const closed = await mfaFirm(h, { licences: 20, enabled: 'staff', adminEnrolled: true });
    const agent = await loginAs(h, closed, await person(h, closed), 'enroll');
    const before = await dbState(h);
    expectError(await agent.post(api('/mfa/enrollment/webauthn/options'), { label: 'Laptop', passkey: true }), 403, 'PASSKEYS_NOT_ALLOWED');
    expect(await dbState(h)).toEqual(before);

    const operator = await enrolledOperator(h);
    expectError(await operator.agent.post(api('/mfa/enrollment/webauthn/options'), { label: 'Laptop', passkey: true }), 403, 'PASSKEYS_NOT_ALLOWED');

    // Allowed when the ceremony starts, turned off before it ends: nothing is stored.
    const turning = await mfaFirm(h, { licences: 20, enabled: 'staff', adminEnrolled: true });
    await setPolicy(turning, { passkeysEnabled: true });
    const user = await person(h, turning);
    const enrolling = await loginAs(h, turning, user, 'enroll');
    const started = (await enrolling.post(api('/mfa/enrollment/webauthn/options'), { label: 'Laptop', passkey: true })).json();
    await setPolicy(turning, { passkeysEnabled: false });
    const { response } = softKey(h).register(started.options);
    expectError(await enrolling.post(api(`/mfa/enrollment/webauthn/${started.authenticatorId}/verify`), { response }), 403, 'PASSKEYS_NOT_ALLOWED');
    expect(await h.ctx.db.selectFrom('webauthn_credentials').select('authenticator_id').where('authenticator_id', '=', started.authenticatorId).execute()).toEqual([]);
    expect(await h.ctx.db.selectFrom('authenticators').select('status').where('id', '=', started.authenticatorId).executeTakeFirst()).toEqual({ status: 'pending' });
    expect(await h.ctx.db.selectFrom('seats').select('user_id').where('user_id', '=', user.id).execute()).toEqual([]);
  });

  it('(control) a passkey registered explicitly, with user verification, where the firm allows it, signs in without the password', async () => {
    const user = await person(h, F);
    const agent = await loginAs(h, F, user, 'enroll');
    const key = softKey(h);
    const started = (await agent.post(api('/mfa/enrollment/webauthn/options'), { label: 'Laptop', passkey: true })).json();
    const { response, credential } = key.register(started.options);
    expect((await agent.post(api(`/mfa/enrollment/webauthn/${started.authenticatorId}/verify`), { response })).statusCode).toBe(200);
    expect(await credentialOf(started.authenticatorId)).toMatchObject({ discoverable: 1, purpose: 'passkey' });
    const signedIn = browser();
    expect((await passkeySignIn(signedIn, key, credential)).statusCode).toBe(200);
    expect((await signedIn.get(api('/me'))).json().user.email).toBe(user.email);
  });

  it('migration 0012 keeps passkey status only for credentials registered through the passkey path (a key that claimed rk=true becomes a second factor)', async () => {
    const { db, close } = await databaseAt('0009_user_search');
    try {
      await db.insertInto('firms').values({ id: 'f', slug: 'f', name: 'F', created_at: 1 }).execute();
      await db.insertInto('users').values({ id: 'u', firm_id: 'f', email: 'u@f.example', name: 'U', kind: 'case_manager', created_at: 1, updated_at: 1 }).execute();
      await db.insertInto('operators').values({ id: 'o', email: 'o@p.example', name: 'O', status: 'active', created_at: 1 }).execute();
      const keys: { id: string; owner: 'user' | 'operator'; discoverable: number; audited: Record<string, unknown> | null }[] = [
        // Registered through the passkey path (the audit event says so), discoverable: stays a passkey.
        { id: 'passkey', owner: 'user', discoverable: 1, audited: { kind: 'webauthn', passkey: true, discoverable: true } },
        // A security key whose browser said rk=true: discoverable, but registered as a second factor.
        { id: 'claimed', owner: 'user', discoverable: 1, audited: { kind: 'webauthn', passkey: false, discoverable: true } },
        // No audit event at all: the safe side.
        { id: 'unknown', owner: 'user', discoverable: 1, audited: null },
        // "passkey" in an event that is not an enrollment, or not discoverable, or an operator's key.
        { id: 'not-stored', owner: 'user', discoverable: 0, audited: { kind: 'webauthn', passkey: true } },
        { id: 'operator', owner: 'operator', discoverable: 1, audited: { kind: 'webauthn', passkey: true, discoverable: true } },
      ];
      for (const [i, k] of keys.entries()) {
        const owner = k.owner === 'user' ? { user_id: 'u', firm_id: 'f' } : { operator_id: 'o' };
        await db.insertInto('authenticators').values({ id: k.id, ...owner, kind: 'webauthn', label: k.id, status: 'active', created_at: i }).execute();
        await db
          .insertInto('webauthn_credentials')
          .values({ authenticator_id: k.id, credential_id: `cred-${k.id}`, public_key: 'pk', aaguid: 'g', discoverable: k.discoverable, created_at: i })
          .execute();
        if (k.audited) {
          await db
            .insertInto('audit_events')
            .values({ at: i, firm_id: k.owner === 'user' ? 'f' : null, actor_type: k.owner, event: 'mfa.enrolled', details: JSON.stringify({ ...k.audited, authenticatorId: k.id, firstEnrollment: i === 0 }) })
            .execute();
        }
      }
      await db
        .insertInto('audit_events')
        .values({ at: 9, firm_id: 'f', actor_type: 'user', event: 'mfa.enrollment_refused', details: JSON.stringify({ kind: 'webauthn', authenticatorId: 'unknown', passkey: true }) })
        .execute();

      await migrateToLatest(db as never);

      const purposes = await db.selectFrom('webauthn_credentials').select(['authenticator_id', 'purpose']).orderBy('authenticator_id').execute();
      expect(Object.fromEntries(purposes.map((p: { authenticator_id: string; purpose: string }) => [p.authenticator_id, p.purpose]))).toEqual({
        passkey: 'passkey',
        claimed: 'second_factor',
        unknown: 'second_factor',
        'not-stored': 'second_factor',
        operator: 'second_factor',
      });
      await expect(db.updateTable('webauthn_credentials').set({ purpose: 'anything' }).where('authenticator_id', '=', 'claimed').execute()).rejects.toThrow();
    } finally {
      await close();
    }
  });
});

// --- Item 9: fraud reports -----------------------------------------------------------------------

describe('Security review: a fraud report ends the user\'s pending logins', () => {
  let F: TestFirm;
  beforeAll(async () => {
    F = await mfaFirm(h, { licences: 20, enabled: 'staff', adminEnrolled: true });
    await setPolicy(F, { rememberDays: 7 });
  });

  it("a login reported as fraudulent cannot go on with a passcode, nor can the attacker's other pending login; the user's own session stays", async () => {
    const u = await pushUser(h, F);
    // The user's own signed-in session (passcode of the app).
    const mine = await loginAs(h, F, u.user, 'second_factor', browser());
    h.clock.advance(30_000);
    expect((await mine.post(api('/mfa/verify'), { method: 'totp', code: u.device.passcode() })).statusCode).toBe(200);
    // The attacker knows the password: two logins waiting at the second factor.
    const attacker = await loginAs(h, F, u.user, 'second_factor', browser());
    const other = await loginAs(h, F, u.user, 'second_factor', browser());
    const push = await sendPush(attacker);
    expect((await u.device.answer(push.transactionId, 'deny', { reason: 'fraud' })).json()).toEqual({ status: 'fraud' });

    h.clock.advance(30_000);
    const code = u.device.passcode();
    expectError(await attacker.post(api('/mfa/verify'), { method: 'totp', code }), 401, 'UNAUTHENTICATED');
    expectError(await other.post(api('/mfa/verify'), { method: 'totp', code }), 401, 'UNAUTHENTICATED');
    expectError(await attacker.get(api('/mfa/challenge')), 401, 'UNAUTHENTICATED');
    expect((await mine.get(api('/me'))).statusCode).toBe(200);
    const pending = await h.ctx.db.selectFrom('sessions').select('stage').where('user_id', '=', u.user.id).execute();
    expect(pending).toEqual([{ stage: 'full' }]);
    expect((await auditEvents(h, { event: 'mfa.push_fraud', subjectId: u.user.id })).at(-1)?.details).toMatchObject({ transactionId: push.transactionId, loginsEnded: 2 });
    // The code the attacker could not use is still good for the user (it was never consumed).
    expect((await (await loginAs(h, F, u.user, 'second_factor', browser())).post(api('/mfa/verify'), { method: 'totp', code })).statusCode).toBe(200);
  });

  it('a step-up push from a remembered browser reported as fraudulent ends that session too', async () => {
    const u = await pushUser(h, F);
    const thief = await loginAs(h, F, u.user, 'second_factor', browser());
    h.clock.advance(30_000);
    expect((await thief.post(api('/mfa/verify'), { method: 'totp', code: u.device.passcode(), remember: true })).statusCode).toBe(200);
    await thief.post(api('/logout'));
    // Back through the remembered browser: signed in without a second factor, then a step-up push.
    expect((await thief.post(api('/login'), { email: u.user.email, password: PASSWORD, firm: F.firm.slug })).json().next).toBe('home');
    const push = await sendPush(thief);
    expect((await u.device.answer(push.transactionId, 'deny', { reason: 'fraud' })).json()).toEqual({ status: 'fraud' });
    expectError(await thief.get(api('/me')), 401, 'UNAUTHENTICATED');
  });
});

// --- Item 9: remembered browsers -----------------------------------------------------------------

describe('Security review: users forget their remembered browsers', () => {
  let F: TestFirm;
  beforeAll(async () => {
    F = await mfaFirm(h, { licences: 20, enabled: 'staff', adminEnrolled: true });
    await setPolicy(F, { rememberDays: 7 });
  });

  const REMEMBER = 'tessera_remember';

  /** Signs the user in with a passcode and "remember this browser"; returns that browser. */
  async function remembered(u: TotpUser): Promise<Agent> {
    const agent = await loginAs(h, F, u.user, 'second_factor', browser());
    const res = await agent.post(api('/mfa/verify'), { method: 'totp', code: freshCode(h, u.secret), remember: true });
    expect(res.statusCode, res.body).toBe(200);
    expect(agent.cookies.get(REMEMBER)).toMatch(/^[A-Za-z0-9_-]{22}$/);
    return agent;
  }

  /** The user's authenticator besides the one of enrollment (added by enrollForTest). */
  const otherAuthenticator = async (u: TotpUser) =>
    (await h.ctx.db.selectFrom('authenticators').select('id').where('user_id', '=', u.user.id).where('id', '!=', u.authenticatorId).executeTakeFirstOrThrow()).id;

  /** Someone with the password and a copy of the remember cookie: where do they land? */
  async function thiefWith(u: TotpUser, cookie: string): Promise<string> {
    const thief = browser();
    thief.cookies.set(REMEMBER, cookie);
    const res = await thief.post(api('/login'), { email: u.user.email, password: PASSWORD, firm: F.firm.slug });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().next;
  }

  it('a stolen remember cookie stops skipping the second factor once the user forgets remembered browsers in My security', async () => {
    const u = await totpUser(h, F);
    const agent = await remembered(u);
    const stolen = agent.cookies.get(REMEMBER)!;
    expect(await thiefWith(u, stolen)).toBe('home');
    const bystander = await totpUser(h, F);
    await remembered(bystander);

    // The thief's copy is the same remembered browser: one row, listed.
    const view = (await agent.get(api('/me/security'))).json();
    expect(view.rememberedBrowsers).toBe(1);
    expect(view.rememberedBrowserList).toEqual([{ browser: expect.any(String), os: expect.any(String), createdAt: expect.any(Number), expiresAt: expect.any(Number) }]);

    const res = await agent.delete(api('/me/remembered-browsers'));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ forgotten: 1 });
    expect(agent.cookies.has(REMEMBER)).toBe(false);
    expect(await thiefWith(u, stolen)).toBe('second_factor');
    expect((await agent.get(api('/me/security'))).json()).toMatchObject({ rememberedBrowsers: 0, rememberedBrowserList: [] });
    // Another user's remembered browser is not touched.
    expect(await h.ctx.db.selectFrom('remembered_browsers').select('id').where('user_id', '=', bystander.user.id).execute()).toHaveLength(1);
    expect((await auditEvents(h, { event: 'mfa.remembered_browsers_forgotten', subjectId: u.user.id })).map((e) => e.details)).toEqual([{ count: 1 }]);
    const mails = await h.ctx.db.selectFrom('mail_outbox').select('text_body').where('to_address', '=', u.user.email).execute();
    expect(mails.filter((m) => m.text_body.includes('your remembered browsers (1) were forgotten'))).toHaveLength(1);

    // Nothing left: nothing to audit or mail.
    expect((await agent.delete(api('/me/remembered-browsers'))).json()).toEqual({ forgotten: 0 });
    expect(await auditEvents(h, { event: 'mfa.remembered_browsers_forgotten', subjectId: u.user.id })).toHaveLength(1);
  });

  it('a user signed in through a remembered browser (no second factor this session) may still forget them all: it only takes access away', async () => {
    const u = await totpUser(h, F);
    const agent = await remembered(u);
    await agent.post(api('/logout'));
    expect((await agent.post(api('/login'), { email: u.user.email, password: PASSWORD, firm: F.firm.slug })).json().next).toBe('home');
    expect((await agent.get(api('/me/security'))).json()).toMatchObject({ secondFactorThisSession: false, rememberedBrowsers: 1 });
    // Changing a factor needs the second factor; forgetting the browsers does not.
    expectError(await agent.post(api('/me/backup-codes')), 403, 'SECOND_FACTOR_REQUIRED');
    expect((await agent.delete(api('/me/remembered-browsers'))).json()).toEqual({ forgotten: 1 });
  });

  it('removing an authenticator with "also forget remembered browsers" ends a stolen remember cookie; without it the browsers stay', async () => {
    const u = await totpUser(h, F);
    expect(await enrollForTest(h, F.firm.id, u.user.id)).toBe('already_held');
    const spare = await otherAuthenticator(u);
    const agent = await remembered(u);
    const stolen = agent.cookies.get(REMEMBER)!;

    const before = await dbState(h);
    expectError(await agent.delete(api(`/me/authenticators/${spare}?forgetBrowsers=yes`)), 400, 'VALIDATION_FAILED');
    expect(await dbState(h)).toEqual(before);

    const res = await agent.delete(api(`/me/authenticators/${spare}?forgetBrowsers=true`));
    expect(res.statusCode, res.body).toBe(204);
    expect(await thiefWith(u, stolen)).toBe('second_factor');
    expect((await auditEvents(h, { event: 'mfa.authenticator_removed', subjectId: u.user.id })).at(-1)?.details).toMatchObject({
      authenticatorId: spare,
      last: false,
      rememberedBrowsersForgotten: 1,
    });

    // Without the option, removing one keeps the browsers.
    const v = await totpUser(h, F);
    expect(await enrollForTest(h, F.firm.id, v.user.id)).toBe('already_held');
    const spare2 = await otherAuthenticator(v);
    const kept = await remembered(v);
    expect((await kept.delete(api(`/me/authenticators/${spare2}`))).statusCode).toBe(204);
    expect(await thiefWith(v, kept.cookies.get(REMEMBER)!)).toBe('home');
  });
});

// --- Item 9: device request nonces ---------------------------------------------------------------

describe('Security review: device requests carry a nonce', () => {
  let F: TestFirm;
  let u: PushUser;
  beforeAll(async () => {
    F = await mfaFirm(h, { licences: 20, enabled: 'staff', adminEnrolled: true });
    u = await pushUser(h, F);
  });

  const lastRefusal = async () => (await auditEvents(h, { event: 'device.auth_failed' })).at(-1)?.details;

  /** One signed request, sent as captured (the same headers, the same body) each time it is called. */
  async function capture(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) {
    const url = api(path);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { ...(await u.device.signatureHeaders(method, url, payload)) };
    if (payload) headers['content-type'] = 'application/json';
    return Object.assign(() => h.app.inject({ method, url, headers, payload }), { nonce: headers['x-tessera-nonce']! });
  }

  it('a signed device request captured and sent again within the ±120 s window is refused (every signed route), audited as a replay', async () => {
    const list = await capture('GET', '/device/transactions');
    expect((await list()).statusCode).toBe(200);
    h.clock.advance(60_000); // well inside the timestamp's window
    expectError(await list(), 401, 'DEVICE_UNAUTHENTICATED');
    expect(await lastRefusal()).toMatchObject({ reason: 'nonce_replayed', path: '/api/v1/device/transactions' });

    const subscribe = await capture('PUT', '/device/web-push', { subscription: null });
    expect((await subscribe()).statusCode).toBe(204);
    expectError(await subscribe(), 401, 'DEVICE_UNAUTHENTICATED');

    const agent = await loginAs(h, F, u.user, 'second_factor', browser());
    const push = await sendPush(agent);
    const timestamp = h.clock.now();
    const signature = await u.device.sign(DeviceSimulator.answerString(push.transactionId, 'deny', 'mistake', undefined, timestamp));
    const deny = await capture('POST', `/device/transactions/${push.transactionId}/answer`, { answer: 'deny', reason: 'mistake', timestamp, signature });
    expect((await deny()).json()).toEqual({ status: 'denied' });
    expectError(await deny(), 401, 'DEVICE_UNAUTHENTICATED');
    expect(await lastRefusal()).toMatchObject({ reason: 'nonce_replayed' });
    const audited = await F.admin.get(api('/admin/audit-events?event=device.auth_failed'));
    expect(audited.statusCode, audited.body).toBe(200);
    expect(audited.json().items[0]).toMatchObject({ event: 'device.auth_failed', flag: 'Replay' });

    // The event stream signs in its URL: the same URL opens one stream, never a second.
    // (Over a real socket: the stream never ends on its own. The harness closes the server.)
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const origin = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
    const url = origin + (await u.device.streamUrl());
    const first = new AbortController();
    const opened = await fetch(url, { signal: first.signal });
    expect(opened.status).toBe(200);
    first.abort();
    const again = await fetch(url);
    expect(again.status).toBe(401);
    expect((await again.json()).error).toBe('DEVICE_UNAUTHENTICATED');
  });

  it('the same signed request sent 8 times at once is accepted exactly once (the nonce is taken by one insert)', async () => {
    const list = await capture('GET', '/device/transactions');
    const results = await Promise.all(Array.from({ length: 8 }, () => list()));
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 401, 401, 401, 401, 401, 401, 401]);
    expect(await h.ctx.db.selectFrom('device_nonces').select('nonce').where('device_id', '=', u.device.deviceId!).where('nonce', '=', list.nonce).execute()).toHaveLength(1);
  });

  it('a request without a nonce, or signed over another nonce than it carries, is refused', async () => {
    expectError(await u.device.transactions({ nonce: '' }), 401, 'DEVICE_UNAUTHENTICATED');
    expect(await lastRefusal()).toMatchObject({ reason: 'no_nonce' });
    expectError(await u.device.transactions({ nonce: 'short' }), 401, 'DEVICE_UNAUTHENTICATED');
    expect(await lastRefusal()).toMatchObject({ reason: 'no_nonce' });
    const url = api('/device/transactions');
    const headers = await u.device.signatureHeaders('GET', url, undefined);
    const swapped = await h.app.inject({ method: 'GET', url, headers: { ...headers, 'x-tessera-nonce': randomBytes(16).toString('base64url') } });
    expectError(swapped, 401, 'DEVICE_UNAUTHENTICATED');
    expect(await lastRefusal()).toMatchObject({ reason: 'bad_signature' });
  });

  it('a used nonce is kept while its request could be replayed, refused as stale after, and pruned by housekeeping a window later', async () => {
    const list = await capture('GET', '/device/transactions');
    expect((await list()).statusCode).toBe(200);
    const row = () => h.ctx.db.selectFrom('device_nonces').select('expires_at').where('device_id', '=', u.device.deviceId!).where('nonce', '=', list.nonce).executeTakeFirst();
    expect(await row()).toEqual({ expires_at: h.clock.now() + DEVICE_CLOCK_SKEW_MS });
    h.clock.advance(DEVICE_CLOCK_SKEW_MS + 1);
    expectError(await list(), 401, 'DEVICE_UNAUTHENTICATED');
    expect(await lastRefusal()).toMatchObject({ reason: 'stale_timestamp' });
    await runHousekeeping(h.ctx);
    expect(await row()).toBeDefined();
    h.clock.advance(DEVICE_CLOCK_SKEW_MS);
    await runHousekeeping(h.ctx);
    expect(await row()).toBeUndefined();
  });
});

// --- Item 9: Web Push endpoints ------------------------------------------------------------------

describe('Security review: a Web Push endpoint must be a public https host', () => {
  let u: PushUser;
  /** A TCP listener on loopback that counts who connects: the target an attacker would name. */
  let target: net.Server;
  let connections = 0;
  let port = 0;
  beforeAll(async () => {
    u = await pushUser(h, await mfaFirm(h, { licences: 20, enabled: 'staff', adminEnrolled: true }));
    target = net.createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    port = (target.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => target.close(() => resolve())));

  const keys = () => ({ p256dh: createECDH('prime256v1').generateKeys().toString('base64url'), auth: randomBytes(16).toString('base64url') });
  const storedSubscription = async () =>
    (await h.ctx.db.selectFrom('push_devices').select('web_push').where('authenticator_id', '=', u.authenticatorId).executeTakeFirstOrThrow()).web_push;

  it('a device subscribing with an endpoint on a private, loopback, link-local or local-name host is refused (400), nothing stored', async () => {
    const refused = [
      `https://127.0.0.1:${port}/push`,
      'https://127.0.0.1/push',
      'https://0x7f.1/push',
      'https://2130706433/push',
      'https://10.1.2.3/push',
      'https://192.168.1.10/push',
      'https://100.64.0.1/push',
      'https://169.254.169.254/latest/meta-data',
      'https://[::1]/push',
      'https://[fd12:3456::1]/push',
      'https://[fe80::1]/push',
      'https://[::ffff:10.0.0.1]/push',
      'https://localhost/push',
      'https://LOCALHOST./push',
      'https://push.localhost/push',
      'https://printer.local/push',
      'https://db.internal/push',
      'https://router.home.arpa/push',
      'https://intranet/push',
      'https://user:secret@fcm.googleapis.com/fcm/send/x',
      'https://fcm.googleapis.com:8443/fcm/send/x',
    ];
    for (const endpoint of refused) {
      const res = await u.device.request('PUT', '/device/web-push', { subscription: { endpoint, keys: keys() } });
      expect({ endpoint, status: res.statusCode, error: res.json().error }).toEqual({ endpoint, status: 400, error: 'INVALID_PUSH_ENDPOINT' });
    }
    expect(await storedSubscription()).toBeNull();
    for (const endpoint of ['https://fcm.googleapis.com/fcm/send/abc', 'https://updates.push.services.mozilla.com/wpush/v2/abc', 'https://web.push.apple.com/abc', 'https://[2606:4700::1111]/push']) {
      expect((await u.device.request('PUT', '/device/web-push', { subscription: { endpoint, keys: keys() } })).statusCode).toBe(204);
      expect(JSON.parse((await storedSubscription())!).endpoint).toBe(endpoint);
    }
  });

  it('a private endpoint stored before the check is never contacted, and a name that resolves to loopback is refused at connection time', async () => {
    // A row from before the check: the real sender would POST to the loopback listener.
    await h.ctx.db
      .updateTable('push_devices')
      .set({ web_push: JSON.stringify({ endpoint: `https://127.0.0.1:${port}/push`, keys: keys() }) })
      .where('authenticator_id', '=', u.authenticatorId)
      .execute();
    const row = { id: u.authenticatorId, web_push: await storedSubscription() };
    expect(await sendPushNotifications(h.ctx, [row], randomUUID(), () => undefined)).toBe(0);

    // Names are checked where the connection is made: web-push through Tessera's agent, to a
    // name that resolves to 127.0.0.1 (the name rules would refuse "localhost" earlier; the
    // agent is the line that also holds for a public-looking name resolving privately).
    const vapid = await vapidKeys(h.ctx);
    const sending = webpush.sendNotification({ endpoint: `https://localhost:${port}/push`, keys: keys() }, 'x', {
      agent: pushAgent,
      TTL: 60,
      timeout: 5_000,
      vapidDetails: { subject: 'mailto:tessera@localhost', publicKey: vapid.publicKey, privateKey: vapid.privateKey },
    });
    await expect(sending).rejects.toThrow(/non-public address/);
    expect(connections).toBe(0);
  });
});
