import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import type { UserView } from '../src/directory/user.view.js';
import { hashToken } from '../src/sessions/session.service.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import {
  Agent,
  PASSWORD,
  auditEvents,
  dbState,
  expectError,
  startHarness,
  type Harness,
  type TestFirm,
} from './support/harness.js';
import { SoftAuthenticator, type AssertOverrides, type RegisterOverrides, type SoftCredential } from './support/soft-authenticator.js';
import { LOGIN_POLICY, api, mfaFirm, person, setPasskeys, loginAs } from './support/fixtures.js';
import { registerKey } from './support/factors.js';

/**
 * Passkeys (issue 6.5): a firm setting lets enrolled users sign in with a discoverable
 * credential and user verification, without the password. Off by default; every refusal
 * answers the same 401; throttled per client IP like the password login.
 */

const REFUSED = { error: 'INVALID_CREDENTIALS', message: 'This passkey cannot sign you in. Sign in with your email address and password.' };

let database: TestDatabase;
let h: Harness;
const clock = new ManualClock(Date.UTC(2026, 6, 1, 8, 0, 0));
let ipSeq = 0;
/** A browser on an address of its own, so the per-IP throttle of one test does not reach another. */
const browser = () => new Agent(h.app, { ip: `10.1.0.${++ipSeq}` });

beforeAll(async () => {
  database = await createTestDatabase();
  h = await startHarness({ shared: database, clock });
});
afterAll(async () => {
  await h.close();
  await database.drop();
});

interface PasskeyUser {
  user: UserView;
  key: SoftAuthenticator;
  credential: SoftCredential;
  authenticatorId: string;
}

/** A user who enrolled at first login with a passkey (or, with passkey=false, a plain security key). */
async function enrolled(f: TestFirm, passkey = true, o: RegisterOverrides = {}): Promise<PasskeyUser> {
  const user = await person(h, f);
  const agent = await loginAs(h, f, user, 'enroll', browser());
  const key = new SoftAuthenticator({ origin: h.ctx.config.publicUrl.origin, uv: true, transports: ['usb', 'internal'] });
  const { credential, authenticatorId } = await registerKey(agent, key, passkey ? 'Passkey' : 'Key', o, passkey);
  await agent.post(api('/logout'));
  return { user, key, credential, authenticatorId };
}

async function passkeyOptions(agent: Agent) {
  const res = await agent.post(api('/passkey/options'));
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { challengeId: string; options: { challenge: string; rpId: string; userVerification: string; allowCredentials?: unknown } };
}

/** One passkey sign-in attempt from this browser. */
async function signIn(agent: Agent, p: PasskeyUser, o: AssertOverrides = {}) {
  const { challengeId, options } = await passkeyOptions(agent);
  return agent.post(api('/passkey/verify'), { challengeId, response: p.key.assert(options, p.credential, o) });
}

function expectRefused(res: { statusCode: number; body: string; json(): unknown }) {
  expect(res.statusCode, res.body).toBe(401);
  expect(res.json()).toEqual(REFUSED);
}

describe('the firm setting', () => {
  it('is off by default, shown and changed in the login policy, audited', async () => {
    const f = await mfaFirm(h, { adminEnrolled: true });
    expect((await f.admin.get(api('/admin/mfa/policy'))).json()).toEqual({ ...LOGIN_POLICY, passkeysEnabled: false, pushNumberDigits: 6, pushMaxPerWindow: 5, pushWindowMinutes: 15 });
    const res = await f.admin.raw('PUT', api('/admin/mfa/policy'), { body: { ...LOGIN_POLICY, passkeysEnabled: true } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ ...LOGIN_POLICY, passkeysEnabled: true, pushNumberDigits: 6, pushMaxPerWindow: 5, pushWindowMinutes: 15 });
    // Left out: unchanged.
    expect((await f.admin.raw('PUT', api('/admin/mfa/policy'), { body: { ...LOGIN_POLICY, rememberDays: 2 } })).json()).toEqual({ ...LOGIN_POLICY, rememberDays: 2, passkeysEnabled: true, pushNumberDigits: 6, pushMaxPerWindow: 5, pushWindowMinutes: 15 });
    const changes = await auditEvents(h, { event: 'mfa.policy_changed', firmId: f.firm.id });
    expect(changes[0]?.details).toMatchObject({ changed: { passkeysEnabled: { from: false, to: true } } });
  });

  it('off: a passkey does not sign in (401), audited', async () => {
    // Registered while the firm allowed passkeys, then the firm turned them off.
    const f = await mfaFirm(h, { passkeys: true, adminEnrolled: true });
    const p = await enrolled(f);
    await setPasskeys(f, false);
    const agent = browser();
    const { challengeId, options } = await passkeyOptions(agent);
    const before = await dbState(h);
    expectRefused(await agent.post(api('/passkey/verify'), { challengeId, response: p.key.assert(options, p.credential) }));
    const { audit_events: _a, ...after } = await dbState(h);
    const { audit_events: _b, ...was } = before;
    expect(after).toEqual(was);
    expect((await auditEvents(h, { event: 'login.failed', subjectId: p.user.id })).at(-1)?.details).toMatchObject({ method: 'passkey', reason: 'passkeys_disabled' });
    expectError(await agent.get(api('/me')), 401, 'UNAUTHENTICATED');
  });
});

describe('a passkey sign-in where the firm allows it', () => {
  let f: TestFirm;
  beforeAll(async () => {
    f = await mfaFirm(h, { passkeys: true, adminEnrolled: true });
  });

  it('enrols a passkey (resident key and user verification required) and signs in without a password', async () => {
    const user = await person(h, f);
    const agent = browser();
    await agent.post(api('/login'), { email: user.email, password: PASSWORD, firm: f.firm.slug });
    const start = (await agent.post(api('/mfa/enrollment/webauthn/options'), { label: 'Laptop', passkey: true })).json();
    expect(start.options.authenticatorSelection).toEqual({ residentKey: 'required', requireResidentKey: true, userVerification: 'required' });
    expect(start.options.extensions).toEqual({ credProps: true });
    const key = new SoftAuthenticator({ origin: h.ctx.config.publicUrl.origin, uv: true });
    const { response, credential } = key.register(start.options, { noCredProps: true });
    expect((await agent.post(api(`/mfa/enrollment/webauthn/${start.authenticatorId}/verify`), { response })).statusCode).toBe(200);
    expect(await h.ctx.db.selectFrom('webauthn_credentials').select('discoverable').where('authenticator_id', '=', start.authenticatorId).executeTakeFirst()).toEqual({
      discoverable: 1,
    });
    await agent.post(api('/logout'));

    const other = browser();
    const { challengeId, options } = await passkeyOptions(other);
    expect(options).toMatchObject({ rpId: 'localhost', userVerification: 'required' });
    expect(options.allowCredentials).toBeUndefined();
    expect(await h.ctx.db.selectFrom('webauthn_challenges').select(['purpose', 'session_id', 'user_id']).where('id', '=', challengeId).executeTakeFirst()).toEqual({
      purpose: 'passkey',
      session_id: null,
      user_id: null,
    });
    const res = await other.post(api('/passkey/verify'), { challengeId, response: key.assert(options, credential) });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ principal: 'user', next: 'home' });
    expect((await other.get(api('/me'))).json().user.email).toBe(user.email);
    const session = await h.ctx.db.selectFrom('sessions').selectAll().where('id', '=', hashToken(other.cookies.get('tessera_session')!)).executeTakeFirstOrThrow();
    expect(session).toMatchObject({ stage: 'full', second_factor_at: clock.now(), user_id: user.id });
    expect((await auditEvents(h, { event: 'login.succeeded', subjectId: user.id })).at(-1)?.details).toMatchObject({ realm: 'firm', factors: ['passkey'] });
    // The decision's reason is audited, as at the password step (src/core/decision.ts PASSKEY_CHECKS).
    expect((await auditEvents(h, { event: 'login.succeeded', subjectId: user.id })).at(-1)?.details).toMatchObject({ reason: 'enrolled' });
    expect(await h.ctx.db.selectFrom('webauthn_credentials').select('counter').where('authenticator_id', '=', start.authenticatorId).executeTakeFirst()).toEqual({ counter: 1 });
    // The challenge is used up: the same answer again is refused.
    expectRefused(await other.post(api('/passkey/verify'), { challengeId, response: key.assert(options, credential) }));
  });

  it('refuses a passkey registration without user verification, or that the key did not store', async () => {
    const user = await person(h, f);
    const agent = browser();
    await agent.post(api('/login'), { email: user.email, password: PASSWORD, firm: f.firm.slug });
    const key = new SoftAuthenticator({ origin: h.ctx.config.publicUrl.origin });
    for (const [o, reason] of [
      [{ uv: false }, 'verification'],
      [{ discoverable: false }, 'not_discoverable'],
    ] as const) {
      const start = (await agent.post(api('/mfa/enrollment/webauthn/options'), { label: 'Laptop', passkey: true })).json();
      const before = await dbState(h);
      const res = await agent.post(api(`/mfa/enrollment/webauthn/${start.authenticatorId}/verify`), { response: key.register(start.options, o).response });
      expectError(res, 400, 'WEBAUTHN_INVALID');
      const { audit_events: _a, ...after } = await dbState(h);
      const { audit_events: _b, ...was } = before;
      expect(after).toEqual(was);
      expect((await auditEvents(h, { event: 'mfa.enrollment_refused', subjectId: user.id })).at(-1)?.details).toMatchObject({ reason });
    }
  });

  it('refuses, all with the same answer: no user verification, a non-discoverable key, another firm without passkeys, a disabled user, a key that is not registered, a wrong origin, a forged signature, an unknown challenge', async () => {
    const p = await enrolled(f);
    const plainKey = await enrolled(f, false);
    const other = await mfaFirm(h, { passkeys: true, adminEnrolled: true });
    const elsewhere = await enrolled(other);
    await setPasskeys(other, false);
    const disabled = await enrolled(f);
    await h.ctx.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', disabled.user.id).execute();
    const stranger = new SoftAuthenticator({ origin: h.ctx.config.publicUrl.origin });
    const unknown = stranger.register({ challenge: 'x', rp: {}, user: { id: Buffer.from(p.user.id).toString('base64url') }, authenticatorSelection: { residentKey: 'required' } }).credential;
    const agent = browser();

    const attempts: [string, () => Promise<{ statusCode: number; body: string; json(): unknown }>][] = [
      ['verification', () => signIn(agent, p, { uv: false })],
      // A plain security key, even if it hands out a user handle, is not a passkey.
      ['not_passkey', () => signIn(agent, plainKey, { userHandle: Buffer.from(plainKey.user.id).toString('base64url') })],
      ['passkeys_disabled', () => signIn(agent, elsewhere)],
      ['user_inactive', () => signIn(agent, disabled)],
      ['unknown_credential', () => signIn(agent, { ...p, key: stranger, credential: unknown })],
      ['verification', () => signIn(agent, p, { origin: 'https://evil.example' })],
      ['verification', () => signIn(agent, p, { signWith: unknown })],
      ['user_handle', () => signIn(agent, p, { userHandle: null })],
      [
        'challenge_unknown',
        async () => {
          const { options } = await passkeyOptions(agent);
          return agent.post(api('/passkey/verify'), { challengeId: 'no-such-challenge', response: p.key.assert(options, p.credential) });
        },
      ],
    ];
    const bodies = [];
    for (const [reason, attempt] of attempts) {
      const before = Date.now();
      const res = await attempt();
      expect(res.statusCode, `${reason}: ${res.body}`).toBe(401);
      bodies.push(res.json());
      const last = await h.ctx.db.selectFrom('audit_events').selectAll().where('event', '=', 'login.failed').orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow();
      expect(JSON.parse(last.details), reason).toMatchObject({ realm: 'firm', method: 'passkey', reason });
      expect(before).toBeGreaterThan(0);
    }
    for (const b of bodies) expect(b).toEqual(REFUSED);
    expectError(await agent.get(api('/me')), 401, 'UNAUTHENTICATED');
    // Nobody's counter moved.
    for (const who of [p, plainKey, elsewhere, disabled]) {
      expect((await h.ctx.db.selectFrom('webauthn_credentials').select('counter').where('authenticator_id', '=', who.authenticatorId).executeTakeFirstOrThrow()).counter).toBe(0);
    }
  });

  it('refuses a challenge of a second-factor step (bound to a session) and one that expired', async () => {
    const p = await enrolled(f);
    const agent = browser();
    const res = await agent.post(api('/login'), { email: p.user.email, password: PASSWORD, firm: f.firm.slug });
    expect(res.json().next).toBe('second_factor');
    const stepOptions = (await agent.post(api('/mfa/webauthn/options'))).json().options;
    const step = await h.ctx.db.selectFrom('webauthn_challenges').select('id').where('challenge', '=', stepOptions.challenge).executeTakeFirstOrThrow();
    expectRefused(await agent.post(api('/passkey/verify'), { challengeId: step.id, response: p.key.assert(stepOptions, p.credential) }));

    const late = browser();
    const { challengeId, options } = await passkeyOptions(late);
    clock.advance(5 * 60_000);
    expectRefused(await late.post(api('/passkey/verify'), { challengeId, response: p.key.assert(options, p.credential) }));
    // Refused before the key is looked up: no subject, just the reason.
    const reasons = (await auditEvents(h, { event: 'login.failed' })).slice(-2).map((e) => [e.subject_id, e.details.reason]);
    expect(reasons).toEqual([
      [null, 'challenge_unknown'],
      [null, 'challenge_expired'],
    ]);
  });

  it('refuses a counter that goes backwards, audited and mailed to the superusers', async () => {
    const p = await enrolled(f);
    const agent = browser();
    expect((await signIn(agent, p, { counter: 10 })).statusCode).toBe(200);
    expectRefused(await signIn(browser(), p, { counter: 3 }));
    expect(await auditEvents(h, { event: 'mfa.webauthn_counter_regression', subjectId: p.user.id })).toHaveLength(1);
    const mails = await h.ctx.db.selectFrom('mail_outbox').select('subject').where('to_address', '=', f.superuser.email).where('subject', 'like', 'Possibly cloned%').execute();
    expect(mails.length).toBeGreaterThanOrEqual(1);
  });

  it('is throttled per client IP after too many failures (429), like the password login; another address is not', async () => {
    const p = await enrolled(f);
    const agent = browser();
    for (let i = 0; i < 20; i++) expectRefused(await signIn(agent, p, { origin: 'https://evil.example' }));
    const throttled = await signIn(agent, p);
    expectError(throttled, 429, 'TOO_MANY_ATTEMPTS');
    expect(throttled.headers['retry-after']).toBeDefined();
    expect(await auditEvents(h, { event: 'login.throttled' })).not.toHaveLength(0);
    // The right passkey from another address goes through.
    expect((await signIn(browser(), p)).statusCode).toBe(200);
    // And after the delay, from the first one too.
    clock.advance(2_000);
    expect((await signIn(agent, p)).statusCode).toBe(200);
  });

  it('options are throttled per client IP (200 in a run free, then 429 with Retry-After and no new challenge); another address is not; a sign-in ends the run', async () => {
    const challenges = async () => (await h.ctx.db.selectFrom('webauthn_challenges').select('id').execute()).length;
    const agent = browser();
    for (let i = 0; i < 200; i++) await passkeyOptions(agent);
    const before = await challenges();
    const throttled = await agent.post(api('/passkey/options'));
    expectError(throttled, 429, 'TOO_MANY_ATTEMPTS');
    const retryAfter = Number(throttled.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(await challenges()).toBe(before);
    expect((await auditEvents(h, { event: 'login.throttled' })).some((e) => e.details.step === 'options')).toBe(true);
    expect((await browser().post(api('/passkey/options'))).statusCode).toBe(200);
    // The wait said is the wait served: then one more, at a doubled delay.
    clock.advance(retryAfter * 1000);
    await passkeyOptions(agent);
    expectError(await agent.post(api('/passkey/options')), 429, 'TOO_MANY_ATTEMPTS');

    // An office whose staff sign in with passkeys: each sign-in settles its options as a success.
    const p = await enrolled(f);
    const office = browser();
    for (let i = 0; i < 199; i++) await passkeyOptions(office);
    clock.advance(1);
    expect((await signIn(office, p)).statusCode).toBe(200);
    clock.advance(1);
    for (let i = 0; i < 200; i++) await passkeyOptions(office);
    expectError(await office.post(api('/passkey/options')), 429, 'TOO_MANY_ATTEMPTS');
  });

  it('refuses malformed bodies with 400 and no new session', async () => {
    const agent = browser();
    const { challengeId } = await passkeyOptions(agent);
    expectError(await agent.post(api('/passkey/verify'), { challengeId }), 400, 'VALIDATION_FAILED');
    expectError(await agent.post(api('/passkey/verify'), { challengeId, response: { id: 'x' } }), 400, 'VALIDATION_FAILED');
    const junk = { id: 'AA', rawId: 'AA', type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON: '%%%', authenticatorData: '@@', signature: randomBytes(4).toString('hex') } };
    expectRefused(await agent.post(api('/passkey/verify'), { challengeId, response: junk }));
  });
});
