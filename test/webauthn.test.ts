import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINUTE, ManualClock } from '../src/clock.js';
import { hashToken } from '../src/sessions/session.service.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import {
  Agent,
  auditEvents,
  dbState,
  expectError,
  startHarness,
  type Harness,
  type TestFirm,
} from './support/harness.js';
import { SoftAuthenticator, mangle, type RegisterOverrides, type AssertOverrides } from './support/soft-authenticator.js';
import { api, loginAs, mfaFirm, person, sessionCookie, sessionRow, stateBesidesAudit, stateBesidesAttempts } from './support/fixtures.js';
import { assertionOptions, keyOptions, keyUser, registerKey, softKey, type KeyUser } from './support/factors.js';

/**
 * Security keys (issue 6, reference section 2) through HTTP, with ceremonies made by a
 * software authenticator (real keys, real CBOR, real signatures): enrollment at first login
 * and from a full session, the second factor with a key, removal in My security, and every
 * refusal the issue lists, each with its code, nothing else changed, and an audit entry.
 */

let database: TestDatabase;
let h: Harness;
const clock = new ManualClock(Date.UTC(2026, 5, 1, 8, 0, 0));

beforeAll(async () => {
  database = await createTestDatabase();
  h = await startHarness({ shared: database, clock });
});
afterAll(async () => {
  await h.close();
  await database.drop();
});

// --- helpers ---

const verifyRegistration = (agent: Agent, authenticatorId: string, response: unknown) =>
  agent.post(api(`/mfa/enrollment/webauthn/${authenticatorId}/verify`), { response });

const verifyAssertion = (agent: Agent, response: unknown, remember?: boolean) =>
  agent.post(api('/mfa/webauthn/verify'), { response, ...(remember === undefined ? {} : { remember }) });

const credentialRow = (authenticatorId: string) =>
  h.ctx.db.selectFrom('webauthn_credentials').selectAll().where('authenticator_id', '=', authenticatorId).executeTakeFirst();

const resetAttempts = (userId: string) => h.ctx.db.updateTable('users').set({ mfa_failed_count: 0 }).where('id', '=', userId).execute();

function expectKeyRefused(res: { statusCode: number; body: string; json(): unknown }, attemptsLeft: number) {
  expect(res.statusCode, res.body).toBe(401);
  expect(res.json()).toEqual({ error: 'WEBAUTHN_FAILED', message: 'The security key was not accepted.', attemptsLeft });
}

// --- enrollment and login ---

describe('a security key enrolled at first login', () => {
  it('registers (ES256, attestation none, our RP ID), takes the seat, and then logs in with one tap to the homepage', async () => {
    const f = await mfaFirm(h, { licences: 2 });
    const user = await person(h, f);
    const agent = await loginAs(h, f, user, 'enroll');
    const info = (await agent.get(api('/mfa/enrollment'))).json();
    expect(info.methods).toContainEqual({ kind: 'webauthn', label: 'Security key' });

    const pendingToken = sessionCookie(agent);
    const { authenticatorId, options } = await keyOptions(agent, ' Blue key ');
    expect(options).toMatchObject({
      rp: { id: 'localhost', name: f.firm.name },
      user: { name: user.email, displayName: user.name },
      attestation: 'none',
      pubKeyCredParams: [-7, -8, -257].map((alg) => ({ alg, type: 'public-key' })),
      authenticatorSelection: { residentKey: 'discouraged', userVerification: 'preferred' },
      excludeCredentials: [],
    });
    expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 bytes
    const challengeRow = await h.ctx.db.selectFrom('webauthn_challenges').selectAll().where('challenge', '=', options.challenge).executeTakeFirstOrThrow();
    expect(challengeRow).toMatchObject({ purpose: 'register', session_id: hashToken(pendingToken), user_id: user.id, used_at: null, expires_at: clock.now() + 5 * MINUTE });
    expect(await h.ctx.db.selectFrom('authenticators').select(['status', 'label', 'kind']).where('id', '=', authenticatorId).executeTakeFirst()).toEqual({
      status: 'pending',
      label: 'Blue key',
      kind: 'webauthn',
    });

    const key = softKey(h, { uv: true });
    const { response, credential } = key.register(options);
    const res = await verifyRegistration(agent, authenticatorId, response);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().next).toBe('home');
    expect(res.json().backupCodes).toHaveLength(10);
    expect(sessionCookie(agent)).not.toBe(pendingToken);
    expect((await agent.get(api('/me'))).statusCode).toBe(200);
    expect(await credentialRow(authenticatorId)).toMatchObject({
      credential_id: credential.id.toString('base64url'),
      counter: 0,
      transports: '["usb"]',
      aaguid: expect.stringMatching(/^[0-9a-f-]{36}$/),
      discoverable: 0,
    });
    expect((await h.ctx.db.selectFrom('webauthn_challenges').select('used_at').where('id', '=', challengeRow.id).executeTakeFirstOrThrow()).used_at).toBe(clock.now());
    expect(await h.ctx.db.selectFrom('seats').select('user_id').where('user_id', '=', user.id).executeTakeFirst()).toBeDefined();
    expect((await auditEvents(h, { event: 'mfa.enrolled', subjectId: user.id }))[0]?.details).toMatchObject({ kind: 'webauthn', authenticatorId, firstEnrollment: true });
    expect((await auditEvents(h, { event: 'login.succeeded', subjectId: user.id }))[0]?.details).toMatchObject({ factors: ['password', 'webauthn'] });
    await agent.post(api('/logout'));

    // The next login: the key is offered, and the default (no phone).
    const next = await loginAs(h, f, user, 'second_factor');
    const challenge = (await next.get(api('/mfa/challenge'))).json();
    expect(challenge.methods).toEqual(['webauthn', 'backup_code']);
    expect(challenge.defaultMethod).toBe('webauthn');
    const opts = await assertionOptions(next);
    expect(opts).toMatchObject({ rpId: 'localhost', userVerification: 'preferred', allowCredentials: [{ id: credential.id.toString('base64url'), transports: ['usb'], type: 'public-key' }] });
    clock.advance(MINUTE);
    const ok = await verifyAssertion(next, key.assert(opts, credential));
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toEqual({ next: 'home' });
    expect((await next.get(api('/me'))).statusCode).toBe(200);
    expect(await sessionRow(h, sessionCookie(next))).toMatchObject({ stage: 'full', second_factor_at: clock.now() });
    expect(await credentialRow(authenticatorId)).toMatchObject({ counter: 1 });
    expect((await h.ctx.db.selectFrom('authenticators').select('last_used_at').where('id', '=', authenticatorId).executeTakeFirstOrThrow()).last_used_at).toBe(clock.now());
    expect((await auditEvents(h, { event: 'login.succeeded', subjectId: user.id })).at(-1)?.details).toMatchObject({ factors: ['password', 'webauthn'] });
  });

  it('a second key from a full session (no new backup codes, same seat), listed in My security; both log in; the phone stays the default next to a key', async () => {
    const u = await keyUser(h, await mfaFirm(h));
    const agent = await loginAs(h, u.f, u.user, 'second_factor');
    expect((await verifyAssertion(agent, u.key.assert(await assertionOptions(agent), u.credential))).statusCode).toBe(200);

    // The options exclude the key already registered.
    clock.advance(MINUTE);
    const { authenticatorId, options } = await keyOptions(agent, 'Backup key');
    expect(options.excludeCredentials).toEqual([{ id: u.credential.id.toString('base64url'), transports: ['usb'], type: 'public-key' }]);
    const second = softKey(h);
    const { response, credential } = second.register(options, { alg: 'EdDSA' });
    const res = await verifyRegistration(agent, authenticatorId, response);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ next: 'home', backupCodes: null });
    expect((await h.ctx.db.selectFrom('subscriptions').select('seats_used').where('firm_id', '=', u.f.firm.id).executeTakeFirstOrThrow()).seats_used).toBe(1);
    const mine = (await agent.get(api('/me/security'))).json().authenticators;
    expect(mine.map((a: { kind: string; label: string }) => [a.kind, a.label])).toEqual([
      ['webauthn', 'Blue key'],
      ['webauthn', 'Backup key'],
    ]);
    await agent.post(api('/logout'));

    const again = await loginAs(h, u.f, u.user, 'second_factor');
    const opts = await assertionOptions(again);
    expect(opts.allowCredentials.map((c) => c.id)).toEqual([u.credential.id, credential.id].map((b) => b.toString('base64url')));
    expect((await verifyAssertion(again, second.assert(opts, credential))).statusCode).toBe(200);

    // With an authenticator app beside the keys, the passcode is the default again.
    const totp = (await again.post(api('/mfa/enrollment/totp'), {})).json();
    const { TOTP, Secret } = await import('otpauth');
    const code = TOTP.generate({ secret: Secret.fromBase32(totp.secret), timestamp: clock.now() });
    expect((await again.post(api(`/mfa/enrollment/totp/${totp.authenticatorId}/confirm`), { code })).statusCode).toBe(200);
    await again.post(api('/logout'));
    const third = await loginAs(h, u.f, u.user, 'second_factor');
    expect((await third.get(api('/mfa/challenge'))).json()).toMatchObject({ methods: ['totp', 'webauthn', 'backup_code'], defaultMethod: 'totp' });
  });

  it('a key without user verification (no PIN) is allowed for a security key, at registration and at login; RS256 too', async () => {
    const f = await mfaFirm(h);
    const u = await keyUser(h, f, { overrides: { uv: false } });
    const agent = await loginAs(h, f, u.user, 'second_factor');
    const res = await verifyAssertion(agent, u.key.assert(await assertionOptions(agent), u.credential, { uv: false }));
    expect(res.statusCode, res.body).toBe(200);

    const rsa = await keyUser(h, f, { overrides: { alg: 'RS256' } });
    const b = await loginAs(h, f, rsa.user, 'second_factor');
    expect((await verifyAssertion(b, rsa.key.assert(await assertionOptions(b), rsa.credential))).statusCode).toBe(200);
  });

  it('remembers the browser when asked and the firm allows it', async () => {
    const u = await keyUser(h, await mfaFirm(h, { adminEnrolled: true }));
    await u.f.admin.raw('PUT', api('/admin/mfa/policy'), { body: { lockoutThreshold: 10, lockoutMinutes: 15, rememberDays: 7 } });
    const agent = await loginAs(h, u.f, u.user, 'second_factor');
    expect((await verifyAssertion(agent, u.key.assert(await assertionOptions(agent), u.credential), true)).statusCode).toBe(200);
    await agent.post(api('/logout'));
    await loginAs(h, u.f, u.user, 'home', agent);
  });

  it('is removed in My security: the key no longer logs in', async () => {
    const u = await keyUser(h, await mfaFirm(h));
    const agent = await loginAs(h, u.f, u.user, 'second_factor');
    expect((await verifyAssertion(agent, u.key.assert(await assertionOptions(agent), u.credential))).statusCode).toBe(200);
    const other = await registerKey(agent, softKey(h), 'Spare');
    const res = await agent.delete(api(`/me/authenticators/${u.authenticatorId}`));
    expect(res.statusCode, res.body).toBe(204);
    expect(await credentialRow(u.authenticatorId)).toBeUndefined();
    expect((await auditEvents(h, { event: 'mfa.authenticator_removed', subjectId: u.user.id }))[0]?.details).toMatchObject({ kind: 'webauthn', label: 'Blue key' });
    await agent.post(api('/logout'));

    const next = await loginAs(h, u.f, u.user, 'second_factor');
    const opts = await assertionOptions(next);
    expect(opts.allowCredentials.map((c) => c.id)).toEqual([other.credential.id.toString('base64url')]);
    expectKeyRefused(await verifyAssertion(next, u.key.assert(opts, u.credential)), 9);
    expect((await auditEvents(h, { event: 'mfa.failed', subjectId: u.user.id })).at(-1)?.details).toMatchObject({ method: 'webauthn', reason: 'unknown_credential' });
  });
});

// --- refused registrations ---

describe('a refused registration: the right code, nothing changed, audited', () => {
  let f: TestFirm;
  beforeAll(async () => {
    f = await mfaFirm(h);
  });

  type Case = { name: string; code: [number, string]; reason: string; make: (o: { challenge: string; rp: { id: string }; user: { id: string } }, key: SoftAuthenticator) => unknown };
  const register = (o: Parameters<Case['make']>[0], key: SoftAuthenticator, over: RegisterOverrides = {}) => key.register(o, over).response;
  const invalid: [number, string] = [400, 'WEBAUTHN_INVALID'];
  const withAuthData = (o: Parameters<Case['make']>[0], key: SoftAuthenticator, change: (authData: Buffer) => Buffer) => {
    const r = register(o, key);
    const authData = Buffer.from(r.response.authenticatorData!, 'base64url');
    return { ...r, response: { ...r.response, attestationObject: attestation(change(authData)) } };
  };
  const cases: Case[] = [
    { name: 'clientDataJSON that is not JSON', code: invalid, reason: 'malformed', make: (o, k) => patch(register(o, k), { clientDataJSON: mangle.json('{"type": "webauthn.create", ') }) },
    { name: 'clientDataJSON that is not base64url', code: invalid, reason: 'malformed', make: (o, k) => patch(register(o, k), { clientDataJSON: '{"type":"webauthn.create"}' }) },
    { name: 'truncated clientDataJSON', code: invalid, reason: 'malformed', make: (o, k) => { const r = register(o, k); return patch(r, { clientDataJSON: mangle.truncate(r.response.clientDataJSON, 40) }); } },
    {
      name: 'oversized clientDataJSON',
      code: invalid,
      reason: 'oversized',
      make: (o, k) => patch(register(o, k), { clientDataJSON: mangle.json({ type: 'webauthn.create', challenge: o.challenge, origin: h.ctx.config.publicUrl.origin, pad: 'x'.repeat(5000) }) }),
    },
    { name: 'an attestationObject that is not CBOR', code: invalid, reason: 'verification', make: (o, k) => patch(register(o, k), { attestationObject: randomBytes(64).toString('base64url') }) },
    { name: 'a truncated attestationObject', code: invalid, reason: 'verification', make: (o, k) => { const r = register(o, k); return patch(r, { attestationObject: mangle.truncate(r.response.attestationObject, 100) }); } },
    { name: 'an oversized attestationObject', code: invalid, reason: 'oversized', make: (o, k) => { const r = register(o, k); return patch(r, { attestationObject: mangle.grow(r.response.attestationObject, 10_000) }); } },
    { name: 'a truncated authenticatorData', code: invalid, reason: 'verification', make: (o, k) => withAuthData(o, k, (a) => a.subarray(0, 36)) },
    { name: 'authenticatorData cut inside the public key', code: invalid, reason: 'verification', make: (o, k) => withAuthData(o, k, (a) => a.subarray(0, a.length - 10)) },
    { name: 'authenticatorData with trailing bytes', code: invalid, reason: 'verification', make: (o, k) => withAuthData(o, k, (a) => Buffer.concat([a, Buffer.alloc(2000, 1)])) },
    { name: 'a wrong origin', code: invalid, reason: 'verification', make: (o, k) => register(o, k, { origin: 'https://evil.example' }) },
    { name: 'a wrong RP ID hash', code: invalid, reason: 'verification', make: (o, k) => register(o, k, { rpId: 'evil.example' }) },
    { name: 'a webauthn.get clientDataJSON', code: invalid, reason: 'verification', make: (o, k) => register(o, k, { type: 'webauthn.get' }) },
    { name: 'no user presence', code: invalid, reason: 'verification', make: (o, k) => register(o, k, { up: false }) },
    { name: 'a disallowed algorithm (ES384, P-384)', code: invalid, reason: 'verification', make: (o, k) => register(o, k, { alg: 'ES384' }) },
    { name: 'a credential id over 1023 bytes', code: invalid, reason: 'credential_id_too_long', make: (o, k) => register(o, k, { credentialId: randomBytes(1024) }) },
    { name: 'an id that is not the one in authData', code: invalid, reason: 'credential_id_mismatch', make: (o, k) => ({ ...register(o, k), id: randomBytes(32).toString('base64url'), rawId: undefined }) },
    { name: 'a challenge never issued', code: [400, 'CHALLENGE_INVALID'], reason: 'challenge_unknown', make: (o, k) => register(o, k, { challenge: randomBytes(32).toString('base64url') }) },
  ];

  for (const c of cases) {
    it(`refuses ${c.name}`, async () => {
      const user = await person(h, f);
      const agent = await loginAs(h, f, user, 'enroll');
      const { authenticatorId, options } = await keyOptions(agent);
      let response = c.make(options, softKey(h)) as Record<string, unknown>;
      if (response.rawId === undefined) response = { ...response, rawId: response.id };
      const before = await stateBesidesAudit(h);
      const res = await verifyRegistration(agent, authenticatorId, response);
      expectError(res, c.code[0], c.code[1]);
      expect(await stateBesidesAudit(h)).toEqual(before);
      const events = await auditEvents(h, { event: 'mfa.enrollment_refused', subjectId: user.id });
      expect(events).toHaveLength(1);
      expect(events[0]!.details).toMatchObject({ kind: 'webauthn', authenticatorId, reason: c.reason });
    });
  }

  it('refuses a response over 16 KiB, and a body that is not a registration response, with 400', async () => {
    const user = await person(h, f);
    const agent = await loginAs(h, f, user, 'enroll');
    const { authenticatorId, options } = await keyOptions(agent);
    const r = softKey(h).register(options).response;
    const before = await dbState(h);
    expectError(await verifyRegistration(agent, authenticatorId, patch(r, { attestationObject: mangle.grow(r.response.attestationObject, 13_000) })), 400, 'VALIDATION_FAILED');
    expectError(await verifyRegistration(agent, authenticatorId, { ...r, response: { ...r.response, attestationObject: 42 } }), 400, 'VALIDATION_FAILED');
    expectError(await verifyRegistration(agent, authenticatorId, { ...r, extra: true }), 400, 'VALIDATION_FAILED');
    expectError(await agent.post(api(`/mfa/enrollment/webauthn/${authenticatorId}/verify`), '{"response": '), 400, 'MALFORMED_JSON');
    expect(await dbState(h)).toEqual(before);
    // Refusals leave the challenge unused: the right response still goes through.
    expect((await verifyRegistration(agent, authenticatorId, r)).statusCode).toBe(200);
  });

  it('refuses a reused challenge, another session\'s challenge and an expired one (CHALLENGE_INVALID)', async () => {
    const user = await person(h, f);
    const agent = await loginAs(h, f, user, 'enroll');
    const key = softKey(h);
    const first = await keyOptions(agent);
    const used = key.register(first.options);
    expect((await verifyRegistration(agent, first.authenticatorId, used.response)).statusCode).toBe(200);

    // Reused: a new pending key answered with the used challenge.
    const second = await keyOptions(agent, 'Second');
    let before = await stateBesidesAudit(h);
    expectError(await verifyRegistration(agent, second.authenticatorId, key.register(second.options, { challenge: first.options.challenge }).response), 400, 'CHALLENGE_INVALID');
    expect(await stateBesidesAudit(h)).toEqual(before);

    // Another session's (another user's) challenge, live and unused.
    const other = await loginAs(h, f, await person(h, f), 'enroll');
    const theirs = await keyOptions(other);
    before = await stateBesidesAudit(h);
    expectError(await verifyRegistration(agent, second.authenticatorId, key.register(second.options, { challenge: theirs.options.challenge }).response), 400, 'CHALLENGE_INVALID');
    expect(await stateBesidesAudit(h)).toEqual(before);

    // Expired: five minutes after the options.
    clock.advance(5 * MINUTE);
    await agent.get(api('/mfa/enrollment')); // the session notes it was seen (not part of the refusal)
    before = await stateBesidesAudit(h);
    expectError(await verifyRegistration(agent, second.authenticatorId, key.register(second.options).response), 400, 'CHALLENGE_INVALID');
    expect(await stateBesidesAudit(h)).toEqual(before);
    const reasons = (await auditEvents(h, { event: 'mfa.enrollment_refused', subjectId: user.id })).map((e) => e.details.reason);
    expect(reasons).toEqual(['challenge_used', 'challenge_other_session', 'challenge_expired']);
    // A fresh challenge works.
    expect((await registerKey(agent, key, 'Second')).body.backupCodes).toBeNull();
  });

  it('refuses a credential id registered already, by this user or anyone (409 CREDENTIAL_EXISTS)', async () => {
    const u = await keyUser(h, f);
    const user = await person(h, f);
    const agent = await loginAs(h, f, user, 'enroll');
    const { authenticatorId, options } = await keyOptions(agent);
    const before = await stateBesidesAudit(h);
    expectError(await verifyRegistration(agent, authenticatorId, softKey(h).register(options, { credentialId: u.credential.id }).response), 409, 'CREDENTIAL_EXISTS');
    expect(await stateBesidesAudit(h)).toEqual(before);
    expect((await auditEvents(h, { event: 'mfa.enrollment_refused', subjectId: user.id }))[0]?.details).toMatchObject({ reason: 'credential_exists' });
  });

  it('refuses another user\'s pending key (404) and a confirmed one (409)', async () => {
    const u = await keyUser(h, f);
    const agent = await loginAs(h, f, await person(h, f), 'enroll');
    const { options } = await keyOptions(agent);
    expectError(await verifyRegistration(agent, u.authenticatorId, softKey(h).register(options).response), 404, 'NOT_FOUND');
    const mine = await registerKey(agent, softKey(h));
    expectError(await verifyRegistration(agent, mine.authenticatorId, softKey(h).register(options).response), 409, 'ALREADY_CONFIRMED');
  });

  it('needs a second factor in this session to add a key to an enrolled user, and a free seat for the first one (409 NO_SEAT)', async () => {
    const u = await keyUser(h, f);
    const { sessionAgent } = await import('./support/harness.js');
    const remembered = await sessionAgent(h, { id: u.user.id, firmId: f.firm.id });
    expectError(await remembered.post(api('/mfa/enrollment/webauthn/options'), { label: 'Mine' }), 403, 'SECOND_FACTOR_REQUIRED');

    const one = await mfaFirm(h, { licences: 1 });
    const user = await person(h, one);
    const agent = await loginAs(h, one, user, 'enroll');
    const { authenticatorId, options } = await keyOptions(agent);
    await keyUser(h, one); // takes the last seat meanwhile
    const before = await stateBesidesAudit(h);
    expectError(await verifyRegistration(agent, authenticatorId, softKey(h).register(options).response), 409, 'NO_SEAT');
    expect(await stateBesidesAudit(h)).toEqual(before);
  });
});

// --- refused second factors ---

describe('a refused security key at the second factor: 401 WEBAUTHN_FAILED, counted, nothing else changed, audited', () => {
  let u: KeyUser;
  let agent: Agent;
  let opts: Awaited<ReturnType<typeof assertionOptions>>;
  beforeAll(async () => {
    u = await keyUser(h, await mfaFirm(h));
    agent = await loginAs(h, u.f, u.user, 'second_factor');
    opts = await assertionOptions(agent);
  });

  type Case = { name: string; reason: string; make: () => Promise<unknown> | unknown };
  const assert = (o: AssertOverrides = {}) => u.key.assert(opts, u.credential, { counter: u.credential.counter + 1, ...o });
  const patchA = (r: ReturnType<typeof assert>, response: Partial<ReturnType<typeof assert>['response']>) => ({ ...r, response: { ...r.response, ...response } });
  const cases: Case[] = [
    { name: 'a wrong origin', reason: 'verification', make: () => assert({ origin: 'https://evil.example' }) },
    { name: 'a wrong RP ID hash', reason: 'verification', make: () => assert({ rpId: 'evil.example' }) },
    { name: 'a webauthn.create clientDataJSON', reason: 'verification', make: () => assert({ type: 'webauthn.create' }) },
    { name: 'no user presence', reason: 'verification', make: () => assert({ up: false }) },
    { name: 'a signature by another key', reason: 'verification', make: () => assert({ signWith: softKey(h).register({ challenge: 'x', rp: {}, user: { id: 'AA' } }).credential }) },
    { name: 'malformed clientDataJSON', reason: 'malformed', make: () => patchA(assert(), { clientDataJSON: mangle.json('not json') }) },
    { name: 'truncated clientDataJSON', reason: 'malformed', make: () => { const r = assert(); return patchA(r, { clientDataJSON: mangle.truncate(r.response.clientDataJSON, 30) }); } },
    { name: 'oversized clientDataJSON', reason: 'oversized', make: () => patchA(assert(), { clientDataJSON: mangle.json({ type: 'webauthn.get', challenge: opts.challenge, pad: 'y'.repeat(6000) }) }) },
    { name: 'malformed authenticatorData', reason: 'malformed', make: () => patchA(assert(), { authenticatorData: 'not*base64url' }) },
    { name: 'truncated authenticatorData', reason: 'verification', make: () => { const r = assert(); return patchA(r, { authenticatorData: mangle.truncate(r.response.authenticatorData, 20) }); } },
    { name: 'oversized authenticatorData', reason: 'oversized', make: () => { const r = assert(); return patchA(r, { authenticatorData: mangle.grow(r.response.authenticatorData, 4000) }); } },
    { name: 'a malformed signature', reason: 'verification', make: () => patchA(assert(), { signature: randomBytes(8).toString('base64url') }) },
    { name: 'a challenge never issued', reason: 'challenge_unknown', make: () => assert({ challenge: randomBytes(32).toString('base64url') }) },
    { name: 'a user handle of someone else', reason: 'user_handle', make: () => assert({ userHandle: Buffer.from('someone-else').toString('base64url') }) },
  ];

  for (const c of cases) {
    it(`refuses ${c.name}`, async () => {
      await resetAttempts(u.user.id);
      const response = await c.make();
      const before = await stateBesidesAttempts(h);
      expectKeyRefused(await verifyAssertion(agent, response), 9);
      expect(await stateBesidesAttempts(h)).toEqual(before);
      expect((await auditEvents(h, { event: 'mfa.failed', subjectId: u.user.id })).at(-1)?.details).toMatchObject({ method: 'webauthn', reason: c.reason, attemptsLeft: 9 });
    });
  }

  it('refuses a credential of another user of the firm and of a user of another firm', async () => {
    await resetAttempts(u.user.id);
    const colleague = await keyUser(h, u.f);
    const foreign = await keyUser(h, await mfaFirm(h));
    let before = await stateBesidesAttempts(h);
    expectKeyRefused(await verifyAssertion(agent, colleague.key.assert(opts, colleague.credential)), 9);
    expectKeyRefused(await verifyAssertion(agent, foreign.key.assert(opts, foreign.credential)), 8);
    expect(await stateBesidesAttempts(h)).toEqual(before);
    expect((await auditEvents(h, { event: 'mfa.failed', subjectId: u.user.id })).slice(-2).map((e) => e.details.reason)).toEqual(['unknown_credential', 'unknown_credential']);
    // Their keys are untouched: counters did not move.
    expect((await credentialRow(colleague.authenticatorId))?.counter).toBe(0);
    before = await stateBesidesAttempts(h);
    expect(before).toBeDefined();
  });

  it("refuses another session's challenge, an expired one, and a reused one", async () => {
    await resetAttempts(u.user.id);
    const otherSession = await loginAs(h, u.f, u.user, 'second_factor');
    const theirs = await assertionOptions(otherSession);
    const before = await stateBesidesAttempts(h);
    expectKeyRefused(await verifyAssertion(agent, u.key.assert(theirs, u.credential, { counter: u.credential.counter + 1 })), 9);
    expect(await stateBesidesAttempts(h)).toEqual(before);

    // Expired.
    const fresh = await loginAs(h, u.f, u.user, 'second_factor');
    const freshOpts = await assertionOptions(fresh);
    clock.advance(5 * MINUTE);
    await fresh.get(api('/mfa/challenge')); // the session notes it was seen (not part of the refusal)
    await resetAttempts(u.user.id);
    const beforeExpired = await stateBesidesAttempts(h);
    expectKeyRefused(await verifyAssertion(fresh, u.key.assert(freshOpts, u.credential, { counter: u.credential.counter + 1 })), 9);
    expect(await stateBesidesAttempts(h)).toEqual(beforeExpired);

    // Reused: a successful login, then the same challenge in the full session's step... in a new login.
    const third = await loginAs(h, u.f, u.user, 'second_factor');
    const thirdOpts = await assertionOptions(third);
    expect((await verifyAssertion(third, u.key.assert(thirdOpts, u.credential))).statusCode).toBe(200);
    await resetAttempts(u.user.id);
    const fourth = await loginAs(h, u.f, u.user, 'second_factor');
    await assertionOptions(fourth);
    const beforeReuse = await stateBesidesAttempts(h);
    expectKeyRefused(await verifyAssertion(fourth, u.key.assert(thirdOpts, u.credential)), 9);
    expect(await stateBesidesAttempts(h)).toEqual(beforeReuse);
    const reasons = (await auditEvents(h, { event: 'mfa.failed', subjectId: u.user.id })).slice(-3).map((e) => e.details.reason);
    expect(reasons).toEqual(['challenge_other_session', 'challenge_expired', 'challenge_used']);
  });

  it('locks after the firm\'s threshold like any factor (423), and a locked user gets no options', async () => {
    const v = await keyUser(h, await mfaFirm(h));
    const a = await loginAs(h, v.f, v.user, 'second_factor');
    const o = await assertionOptions(a);
    for (let left = 9; left >= 1; left--) expectKeyRefused(await verifyAssertion(a, v.key.assert(o, v.credential, { origin: 'https://evil.example' })), left);
    expectError(await verifyAssertion(a, v.key.assert(o, v.credential, { origin: 'https://evil.example' })), 423, 'MFA_LOCKED');
    expectError(await verifyAssertion(a, v.key.assert(o, v.credential)), 423, 'MFA_LOCKED');
    expectError(await a.post(api('/mfa/webauthn/options')), 423, 'MFA_LOCKED');
  });

  it('refuses a counter that goes backwards: audited, the superusers mailed, counted', async () => {
    const v = await keyUser(h, await mfaFirm(h));
    let a = await loginAs(h, v.f, v.user, 'second_factor');
    expect((await verifyAssertion(a, v.key.assert(await assertionOptions(a), v.credential, { counter: 41 }))).statusCode).toBe(200);
    expect((await credentialRow(v.authenticatorId))?.counter).toBe(41);
    await a.post(api('/logout'));

    a = await loginAs(h, v.f, v.user, 'second_factor');
    const o = await assertionOptions(a);
    const before = await dbState(h);
    for (const counter of [41, 7]) {
      expectKeyRefused(await verifyAssertion(a, v.key.assert(o, v.credential, { counter })), counter === 41 ? 9 : 8);
    }
    const after = await dbState(h);
    expect({ ...after, users: null, audit_events: null, mail_outbox: null }).toEqual({ ...before, users: null, audit_events: null, mail_outbox: null });
    const flagged = await auditEvents(h, { event: 'mfa.webauthn_counter_regression', subjectId: v.user.id });
    expect(flagged.map((e) => e.details)).toEqual([
      { authenticatorId: v.authenticatorId, label: 'Blue key', storedCounter: 41, receivedCounter: 41 },
      { authenticatorId: v.authenticatorId, label: 'Blue key', storedCounter: 41, receivedCounter: 7 },
    ]);
    const mails = await h.ctx.db.selectFrom('mail_outbox').selectAll().where('to_address', '=', v.f.superuser.email).where('subject', 'like', 'Possibly cloned%').execute();
    expect(mails).toHaveLength(2);
    expect(mails[0]!.text_body).toContain('Blue key');
    // The genuine next counter still works.
    expect((await verifyAssertion(a, v.key.assert(o, v.credential, { counter: 42 }))).statusCode).toBe(200);
  });

  it('a key that keeps its counter at 0 is fine', async () => {
    const v = await keyUser(h, await mfaFirm(h));
    for (let i = 0; i < 2; i++) {
      const a = await loginAs(h, v.f, v.user, 'second_factor');
      expect((await verifyAssertion(a, v.key.assert(await assertionOptions(a), v.credential, { counter: 0 }))).statusCode).toBe(200);
    }
  });

  it('refuses bodies that are not an assertion with 400, uncounted', async () => {
    await resetAttempts(u.user.id);
    await agent.get(api('/mfa/challenge'));
    const r = assert();
    const before = await dbState(h);
    expectError(await verifyAssertion(agent, { ...r, response: { ...r.response, signature: 7 } }), 400, 'VALIDATION_FAILED');
    expectError(await verifyAssertion(agent, { ...r, type: 'password' }), 400, 'VALIDATION_FAILED');
    expectError(await agent.post(api('/mfa/verify'), { method: 'webauthn', code: 'x' }), 400, 'VALIDATION_FAILED');
    expect(await dbState(h)).toEqual(before);
  });
});

// --- small helpers over the soft authenticator's output ---

function patch<T extends { response: object }>(r: T, response: Partial<T['response']>): T {
  return { ...r, response: { ...r.response, ...response } };
}

async function attestationModule() {
  return import('@simplewebauthn/server/helpers');
}
const { isoCBOR } = await attestationModule();
function attestation(authData: Buffer): string {
  const m = new Map<string, string | Uint8Array | Map<string, string>>();
  m.set('fmt', 'none').set('attStmt', new Map<string, string>()).set('authData', new Uint8Array(authData));
  return Buffer.from(isoCBOR.encode(m)).toString('base64url');
}
