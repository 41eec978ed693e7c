import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MINUTE } from '../../src/clock.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { databaseAt } from '../support/database.js';
import { hashPassword } from '../../src/core/passwords.js';
import { hashToken } from '../../src/sessions/session.service.js';
import { SoftAuthenticator } from '../support/soft-authenticator.js';
import {
  Agent,
  PASSWORD,
  auditEvents,
  dbState,
  enrolledOperator,
  expectError,
  firmWithAdmin,
  startHarness,
  totpCode,
  type Harness,
  type TestOperator,
} from '../support/harness.js';
import { api } from '../support/fixtures.js';

/**
 * Security suite, issue 8.6: "operator screens need the operator's own second factor (the
 * operator enrols a key or an app like anyone else)". Route by route, from the app's own list
 * of routes: no operator route answers a session that has not passed the operator's second
 * factor; the second factor is enrolled at the first login and asked at every login; codes
 * are single-use, wrong ones lock, and the session token changes when the factor is passed.
 */

let h: Harness;
const STEP = 30_000;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

/** An operator with a password and nothing else yet: the state of every operator right after this change. */
async function newOperator(email = `op-${randomUUID().slice(0, 8)}@platform.example`): Promise<{ id: string; email: string }> {
  const id = randomUUID();
  await h.ctx.db
    .insertInto('operators')
    .values({ id, email, name: 'Otto Operator', password_hash: await hashPassword(PASSWORD), status: 'active', created_at: h.clock.now() })
    .execute();
  return { id, email };
}

async function passwordStep(email: string, agent = new Agent(h.app)) {
  const res = await agent.post(api('/operator/login'), { email, password: PASSWORD });
  expect(res.statusCode, res.body).toBe(200);
  return { agent, body: res.json() as { principal: string; next: string } };
}

/** An operator at the second-factor step (enrolled, password accepted). */
async function pendingOperator(op: { email: string }): Promise<Agent> {
  const { agent, body } = await passwordStep(op.email);
  expect(body).toEqual({ principal: 'operator', next: 'second_factor' });
  return agent;
}

const sessionCookie = (agent: Agent) => agent.cookies.get('tessera_session')!;
const sessionRow = (token: string) => h.ctx.db.selectFrom('sessions').selectAll().where('id', '=', hashToken(token)).executeTakeFirst();
const counter = (id: string) => h.ctx.db.selectFrom('operators').select(['mfa_failed_count', 'mfa_locked_until']).where('id', '=', id).executeTakeFirstOrThrow();

/** A fresh time step, so that a code of the previous test is not a replay of this one. */
const nextStep = () => h.clock.advance(STEP);

/** Every operator route, from the OpenAPI document the app builds from its own route table. */
async function operatorRoutes(): Promise<{ method: string; path: string }[]> {
  const doc = (await new Agent(h.app).get('/api/docs/json')).json() as { paths: Record<string, Record<string, unknown>> };
  const routes: { method: string; path: string }[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    if (!path.startsWith('/api/v1/operator/') || path === '/api/v1/operator/login') continue;
    for (const method of Object.keys(ops)) routes.push({ method: method.toUpperCase(), path: path.replace(/\{[^}]+\}/g, randomUUID()) });
  }
  return routes;
}

describe('enrolment at the first login', () => {
  it('an operator without a second factor must enrol one: an authenticator app', async () => {
    const op = await newOperator();
    const { agent, body } = await passwordStep(op.email);
    expect(body).toEqual({ principal: 'operator', next: 'enroll' });

    // The enrolment screen offers an app or a key: no Tessera Authenticator (push) and no seat for operators.
    const info = (await agent.get(api('/mfa/enrollment'))).json();
    expect(info).toEqual({
      firmName: 'Tessera operators',
      user: { name: 'Otto Operator', email: op.email, kind: 'operator' },
      methods: [
        { kind: 'totp', label: 'Authenticator app' },
        { kind: 'webauthn', label: 'Security key' },
      ],
      seatAvailable: true,
      enrolled: false,
      application: null,
    });
    expectError(await agent.post(api('/mfa/enrollment/push'), { phone: { number: '+44 7911 123456' } }), 401, 'UNAUTHENTICATED');
    expectError(await agent.post(api('/mfa/enrollment/skip')), 401, 'UNAUTHENTICATED');

    const begun = await agent.post(api('/mfa/enrollment/totp'), {});
    expect(begun.statusCode, begun.body).toBe(201);
    const { authenticatorId, secret, otpauthUri } = begun.json();
    expect(otpauthUri).toMatch(/^otpauth:\/\/totp\/Tessera%20operators:op-[0-9a-f]{8}%40platform\.example\?/);
    const pendingToken = sessionCookie(agent);
    const confirmed = await agent.post(api(`/mfa/enrollment/totp/${authenticatorId}/confirm`), { code: totpCode(h, secret) });
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    expect(confirmed.json().backupCodes).toHaveLength(10);

    // A new session token; the console opens.
    expect(sessionCookie(agent)).not.toBe(pendingToken);
    expect(await sessionRow(pendingToken)).toBeUndefined();
    expect((await agent.get(api('/me'))).json()).toMatchObject({ principal: 'operator', operator: { id: op.id } });
    expect((await agent.get(api('/operator/firms'))).statusCode).toBe(200);

    const rows = await h.ctx.db.selectFrom('authenticators').selectAll().where('operator_id', '=', op.id).execute();
    expect(rows).toEqual([expect.objectContaining({ kind: 'totp', status: 'active', operator_id: op.id, user_id: null, firm_id: null })]);
    expect(await h.ctx.db.selectFrom('seats').selectAll().execute()).toEqual([]);
    const [enrolled] = await auditEvents(h, { event: 'mfa.enrolled', subjectId: op.id });
    expect(enrolled).toMatchObject({ actor_type: 'operator', actor_id: op.id, firm_id: null, subject_type: 'operator', details: { kind: 'totp', firstEnrollment: true } });
    const [succeeded] = await auditEvents(h, { event: 'login.succeeded', subjectId: op.id });
    expect(succeeded!.details).toEqual({ realm: 'operator', factors: ['password', 'totp'], enrolled: true });
  });

  it('an operator without a second factor must enrol one: a security key', async () => {
    const op = await newOperator();
    const { agent } = await passwordStep(op.email);
    const key = new SoftAuthenticator({ origin: h.ctx.config.publicUrl.origin });
    const started = await agent.post(api('/mfa/enrollment/webauthn/options'), { label: 'Yellow key' });
    expect(started.statusCode, started.body).toBe(200);
    const { authenticatorId, options } = started.json();
    expect(options.rp.name).toBe('Tessera operators');
    const { response, credential } = key.register(options);
    const pendingToken = sessionCookie(agent);
    const done = await agent.post(api(`/mfa/enrollment/webauthn/${authenticatorId}/verify`), { response });
    expect(done.statusCode, done.body).toBe(200);
    expect(sessionCookie(agent)).not.toBe(pendingToken);
    expect((await agent.get(api('/operator/firms'))).statusCode).toBe(200);
    await agent.post(api('/logout'));

    // The next login asks for the key, and the key alone is offered (no app, no push).
    const next = await pendingOperator(op);
    const challenge = (await next.get(api('/mfa/challenge'))).json();
    expect(challenge).toMatchObject({ user: { email: op.email }, firmName: 'Tessera operators', methods: ['webauthn', 'backup_code'], defaultMethod: 'webauthn', rememberDays: 0 });
    const opts = (await next.post(api('/mfa/webauthn/options'))).json().options;
    const token = sessionCookie(next);
    const ok = await next.post(api('/mfa/webauthn/verify'), { response: key.assert(opts, credential) });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(sessionCookie(next)).not.toBe(token);
    expect((await next.get(api('/operator/outbox'))).statusCode).toBe(200);
  });

  it("a firm user's passkey sign-in never finds an operator's key", async () => {
    const op = await newOperator();
    const { agent } = await passwordStep(op.email);
    const key = new SoftAuthenticator({ origin: h.ctx.config.publicUrl.origin, uv: true });
    const { authenticatorId, options } = (await agent.post(api('/mfa/enrollment/webauthn/options'), { label: 'Key' })).json();
    const { response, credential } = key.register(options);
    expect((await agent.post(api(`/mfa/enrollment/webauthn/${authenticatorId}/verify`), { response })).statusCode).toBe(200);

    const anonymous = new Agent(h.app);
    const started = (await anonymous.post(api('/passkey/options'))).json();
    const res = await anonymous.post(api('/passkey/verify'), { challengeId: started.challengeId, response: key.assert(started.options, credential, { userHandle: Buffer.from(op.id).toString('base64url') }) });
    expectError(res, 401, 'INVALID_CREDENTIALS');
    expect(sessionCookie(anonymous)).toBeUndefined();
    const [ev] = (await auditEvents(h, { event: 'login.failed' })).slice(-1);
    expect(ev!.details).toMatchObject({ method: 'passkey', reason: 'unknown_credential' });
  });
});

describe('a pending operator session', () => {
  let op: TestOperator;
  beforeAll(async () => {
    op = await enrolledOperator(h);
  });

  it('is refused by every operator route with 403 MFA_REQUIRED, and nothing changes', async () => {
    const routes = await operatorRoutes();
    // The list comes from the app: it holds the console's routes, whatever is added later.
    expect(routes.map((r) => `${r.method} ${r.path.replace(/[0-9a-f-]{36}/g, ':id')}`)).toEqual(
      expect.arrayContaining(['GET /api/v1/operator/firms', 'POST /api/v1/operator/firms', 'GET /api/v1/operator/outbox', 'GET /api/v1/operator/subscriptions', 'POST /api/v1/operator/operators/:id/mfa-reset', 'GET /api/v1/operator/security', 'DELETE /api/v1/operator/authenticators/:id']),
    );
    for (const stage of ['enroll', 'second_factor'] as const) {
      const agent = stage === 'second_factor' ? await pendingOperator(op) : (await passwordStep((await newOperator()).email)).agent;
      const before = await dbState(h);
      for (const r of routes) {
        for (const body of r.method === 'GET' || r.method === 'DELETE' ? [undefined] : [{}, { name: 'x', slug: 'x', superuser: { name: 'x', email: 'x@x.example' } }]) {
          const res = await agent.raw(r.method, r.path, { body });
          expect(res.statusCode, `${stage}: ${r.method} ${r.path} ${res.body}`).toBe(403);
          expect(res.json()).toEqual({ error: 'MFA_REQUIRED', message: 'Finish signing in with your second factor first.' });
        }
      }
      expectError(await agent.get(api('/me')), 403, 'MFA_REQUIRED');
      // The firm side is not the operator's either.
      expectError(await agent.get(api('/me/security')), 401, 'UNAUTHENTICATED');
      expect(await dbState(h)).toEqual(before);
    }
  });

  it('an operator session that never passed a second factor (made before this change) is refused too', async () => {
    const { createSession } = await import('../../src/sessions/session.service.js');
    const token = await createSession(h.ctx, h.ctx.db, { principal: 'operator', operatorId: op.id, stage: 'full', ip: null, userAgent: null });
    const agent = new Agent(h.app);
    agent.cookies.set('tessera_session', token);
    expectError(await agent.get(api('/operator/firms')), 403, 'MFA_REQUIRED');
    expectError(await agent.get(api('/me')), 403, 'MFA_REQUIRED');
  });

  it('the second factor is asked at every login, and the token changes when it is passed (no fixation)', async () => {
    nextStep();
    const agent = await pendingOperator(op);
    const pendingToken = sessionCookie(agent);
    const pending = await sessionRow(pendingToken);
    expect(pending).toMatchObject({ principal: 'operator', operator_id: op.id, stage: 'second_factor', second_factor_at: null });
    expect(pending!.expires_at - h.clock.now()).toBe(10 * MINUTE);

    // A session token planted before the login is worth nothing after it.
    const ok = await agent.post(api('/mfa/verify'), { method: 'totp', code: totpCode(h, op.secret) });
    expect(ok.statusCode, ok.body).toBe(200);
    const fullToken = sessionCookie(agent);
    expect(fullToken).not.toBe(pendingToken);
    expect(await sessionRow(pendingToken)).toBeUndefined();
    expect(await sessionRow(fullToken)).toMatchObject({ principal: 'operator', stage: 'full', second_factor_at: h.clock.now() });
    const planted = new Agent(h.app);
    planted.cookies.set('tessera_session', pendingToken);
    expectError(await planted.get(api('/operator/firms')), 401, 'UNAUTHENTICATED');
    expect((await agent.get(api('/operator/firms'))).statusCode).toBe(200);
    // "Remember this browser" is never offered to operators.
    expect(agent.cookies.get('tessera_remember')).toBeUndefined();
  });

  it('refuses a replayed passcode, audited as a replay', async () => {
    nextStep();
    const code = totpCode(h, op.secret);
    const first = await pendingOperator(op);
    expect((await first.post(api('/mfa/verify'), { method: 'totp', code })).statusCode).toBe(200);
    const second = await pendingOperator(op);
    const replay = await second.post(api('/mfa/verify'), { method: 'totp', code });
    expect(replay.statusCode, replay.body).toBe(401);
    expect(replay.json()).toMatchObject({ error: 'INVALID_CODE', attemptsLeft: 9 });
    expectError(await second.get(api('/operator/firms')), 403, 'MFA_REQUIRED');
    const [ev] = (await auditEvents(h, { event: 'mfa.replay_refused', subjectId: op.id })).slice(-1);
    expect(ev).toMatchObject({ subject_type: 'operator', firm_id: null, details: { method: 'totp', reason: 'replay' } });
    // A backup code works once.
    const backup = op.backupCodes[0]!;
    expect((await second.post(api('/mfa/verify'), { method: 'backup_code', code: backup })).statusCode).toBe(200);
    const third = await pendingOperator(op);
    expect((await third.post(api('/mfa/verify'), { method: 'backup_code', code: backup })).statusCode).toBe(401);
    nextStep();
    expect((await third.post(api('/mfa/verify'), { method: 'totp', code: totpCode(h, op.secret) })).statusCode).toBe(200);
  });

  it('counts wrong codes toward the lockout: the 10th locks for 15 minutes, operators are mailed', async () => {
    const locked = await enrolledOperator(h);
    const agent = await pendingOperator(locked);
    for (let i = 1; i <= 9; i++) {
      const res = await agent.post(api('/mfa/verify'), { method: 'totp', code: '000000' === totpCode(h, locked.secret) ? '111111' : '000000' });
      expect(res.json()).toMatchObject({ error: 'INVALID_CODE', attemptsLeft: 10 - i });
      expect((await counter(locked.id)).mfa_failed_count).toBe(i);
    }
    // A new login does not start the count again: it lives in the operator's row.
    const again = await pendingOperator(locked);
    const locking = await again.post(api('/mfa/verify'), { method: 'backup_code', code: 'AAAAA-AAAAA' });
    expect(locking.statusCode).toBe(423);
    expect(locking.json()).toMatchObject({ error: 'MFA_LOCKED', retryAfterSeconds: 900 });
    expect((await counter(locked.id)).mfa_locked_until).toBe(h.clock.now() + 15 * MINUTE);
    // While locked, even the right code is not checked (and so not used up).
    nextStep();
    const right = totpCode(h, locked.secret);
    expect((await again.post(api('/mfa/verify'), { method: 'totp', code: right })).statusCode).toBe(423);
    expect((await auditEvents(h, { event: 'mfa.locked', subjectId: locked.id }))[0]).toMatchObject({ subject_type: 'operator', details: { failures: 10, minutes: 15 } });
    const mails = await h.ctx.db.selectFrom('mail_outbox').select(['to_address', 'subject']).where('subject', 'like', '%Second factor locked%').execute();
    expect(mails.map((m) => m.to_address)).toEqual(expect.arrayContaining([op.email, locked.email]));
    // After the lock the right code passes, and the count starts again.
    h.clock.advance(15 * MINUTE);
    const after = await pendingOperator(locked);
    expect((await after.post(api('/mfa/verify'), { method: 'totp', code: totpCode(h, locked.secret) })).statusCode).toBe(200);
    expect(await counter(locked.id)).toEqual({ mfa_failed_count: 0, mfa_locked_until: expect.any(Number) });
  });

  it('a firm user pending session gets nothing from the operator routes, nor an operator from a firm login', async () => {
    const f = await firmWithAdmin(h);
    expectError(await f.admin.get(api('/operator/firms')), 403, 'FORBIDDEN');
    // An operator's address and password do not sign in on the firm side.
    expectError(await new Agent(h.app).post(api('/login'), { email: op.email, password: PASSWORD }), 401, 'INVALID_CREDENTIALS');
  });
});

describe("the operator's own security settings, and another operator's reset", () => {
  it('lists, adds and replaces factors behind a passed second factor; the last one cannot go', async () => {
    const op = await enrolledOperator(h);
    const me = (await op.agent.get(api('/operator/security'))).json();
    expect(me).toMatchObject({ mfaEnabled: true, enrolled: true, secondFactorThisSession: true, backupCodesRemaining: 10, rememberedBrowsers: 0 });
    expect(me.authenticators).toHaveLength(1);
    const appId = me.authenticators[0].id;
    expectError(await op.agent.delete(api(`/operator/authenticators/${appId}?confirm=true`)), 409, 'LAST_AUTHENTICATOR');

    // Replace the app by a key: add the key (from the full session), then remove the app.
    const key = new SoftAuthenticator({ origin: h.ctx.config.publicUrl.origin });
    const { authenticatorId, options } = (await op.agent.post(api('/mfa/enrollment/webauthn/options'), { label: 'Spare key' })).json();
    const added = await op.agent.post(api(`/mfa/enrollment/webauthn/${authenticatorId}/verify`), { response: key.register(options).response });
    expect(added.statusCode, added.body).toBe(200);
    expect(added.json().backupCodes).toBeNull();
    expect((await op.agent.delete(api(`/operator/authenticators/${appId}`))).statusCode).toBe(204);
    const after = (await op.agent.get(api('/operator/security'))).json();
    expect(after.authenticators.map((a: { kind: string; label: string }) => [a.kind, a.label])).toEqual([['webauthn', 'Spare key']]);
    expect((await op.agent.patch(api(`/operator/authenticators/${authenticatorId}`), { label: 'Main key' })).statusCode).toBe(200);
    expect((await op.agent.post(api('/operator/backup-codes'))).json().backupCodes).toHaveLength(10);
    const events = (await auditEvents(h, { subjectId: op.id })).map((e) => e.event);
    expect(events).toEqual(expect.arrayContaining(['mfa.authenticator_removed', 'mfa.authenticator_renamed', 'mfa.backup_codes_regenerated']));
    const mails = await h.ctx.db.selectFrom('mail_outbox').select('subject').where('to_address', '=', op.email).execute();
    expect(mails.filter((m) => m.subject === 'Your Tessera security settings changed')).toHaveLength(3);
    // The firm users' My security stays theirs.
    expectError(await op.agent.get(api('/me/security')), 403, 'FORBIDDEN');
  });

  it('another operator resets a lost factor: audited, mailed, sessions ended, enrolment at the next login', async () => {
    const olga = await enrolledOperator(h);
    const lost = await enrolledOperator(h);
    const list = (await olga.agent.get(api('/operator/operators'))).json().items;
    expect(list).toEqual(expect.arrayContaining([expect.objectContaining({ id: lost.id, email: lost.email, enrolled: true, authenticators: 1, lockedUntil: null })]));
    expectError(await olga.agent.post(api(`/operator/operators/${olga.id}/mfa-reset`)), 409, 'SELF_RESET');
    expectError(await olga.agent.post(api(`/operator/operators/${randomUUID()}/mfa-reset`)), 404, 'NOT_FOUND');

    const res = await olga.agent.post(api(`/operator/operators/${lost.id}/mfa-reset`));
    expect(res.statusCode, res.body).toBe(204);
    expectError(await lost.agent.get(api('/operator/firms')), 401, 'UNAUTHENTICATED');
    expect(await h.ctx.db.selectFrom('authenticators').select('id').where('operator_id', '=', lost.id).execute()).toEqual([]);
    expect(await h.ctx.db.selectFrom('backup_codes').select('id').where('operator_id', '=', lost.id).execute()).toEqual([]);
    const [ev] = await auditEvents(h, { event: 'mfa.enrollment_reset', subjectId: lost.id });
    expect(ev).toMatchObject({ actor_type: 'operator', actor_id: olga.id, subject_type: 'operator', firm_id: null, details: { reason: 'operator_reset', authenticatorsRemoved: 1 } });
    // Their enrolment was mailed to them too (issue 12, item 3), then the reset.
    const mails = await h.ctx.db.selectFrom('mail_outbox').select('subject').where('to_address', '=', lost.email).execute();
    expect(mails.map((m) => m.subject).sort()).toEqual(['A new authenticator was added to your Tessera account', 'Your MFA enrollment at Tessera operators was reset']);
    const { body } = await passwordStep(lost.email);
    expect(body.next).toBe('enroll');
  });
});

describe('migration 0007 on a database with enrolled users', () => {
  it("keeps every user's factors and their cascades, ends operator sessions, and allows exactly one owner per row", async () => {
    const { db, close } = await databaseAt('0006_push');
    try {
      await db.insertInto('firms').values({ id: 'f', slug: 'f', name: 'F', created_at: 1 }).execute();
      await db.insertInto('users').values({ id: 'u', firm_id: 'f', email: 'u@f.example', name: 'U', kind: 'case_manager', created_at: 1, updated_at: 1 }).execute();
      await db.insertInto('operators').values({ id: 'o', email: 'o@p.example', name: 'O', status: 'active', created_at: 1 }).execute();
      await db.insertInto('sessions').values({ id: 's', principal: 'operator', operator_id: 'o', stage: 'full', created_at: 1, last_seen_at: 1, expires_at: 9 }).execute();
      await db.insertInto('authenticators').values([
        { id: 'a1', firm_id: 'f', user_id: 'u', kind: 'totp', label: 'App', status: 'active', created_at: 1 },
        { id: 'a2', firm_id: 'f', user_id: 'u', kind: 'webauthn', label: 'Key', status: 'active', created_at: 2 },
      ]).execute();
      await db.insertInto('totp_authenticators').values({ authenticator_id: 'a1', secret_enc: 'sealed', last_step: 7 }).execute();
      await db.insertInto('webauthn_credentials').values({ authenticator_id: 'a2', credential_id: 'cred', public_key: 'pk', aaguid: 'g', created_at: 2 }).execute();
      await db.insertInto('backup_codes').values({ id: 'b', firm_id: 'f', user_id: 'u', code_hash: 'h', key_id: 'k', created_at: 1 }).execute();

      await migrateToLatest(db as never);

      expect(await db.selectFrom('authenticators').select(['id', 'user_id', 'firm_id', 'operator_id']).orderBy('id').execute()).toEqual([
        { id: 'a1', user_id: 'u', firm_id: 'f', operator_id: null },
        { id: 'a2', user_id: 'u', firm_id: 'f', operator_id: null },
      ]);
      expect(await db.selectFrom('totp_authenticators').selectAll().execute()).toEqual([{ authenticator_id: 'a1', secret_enc: 'sealed', last_step: 7 }]);
      expect(await db.selectFrom('backup_codes').select('id').execute()).toEqual([{ id: 'b' }]);
      expect(await db.selectFrom('sessions').select('id').execute()).toEqual([]);
      // The factor tables still hang off the (rebuilt) authenticators table.
      await db.deleteFrom('authenticators').where('id', '=', 'a2').execute();
      expect(await db.selectFrom('webauthn_credentials').select('authenticator_id').execute()).toEqual([]);
      await db.insertInto('authenticators').values({ id: 'a3', operator_id: 'o', kind: 'totp', label: 'App', status: 'active', created_at: 3 }).execute();
      for (const owner of [{}, { operator_id: 'o', user_id: 'u', firm_id: 'f' }, { user_id: 'u' }]) {
        await expect(db.insertInto('authenticators').values({ id: randomUUID(), ...owner, kind: 'totp', label: 'x', status: 'active', created_at: 4 }).execute()).rejects.toThrow();
      }
    } finally {
      await close();
    }
  });
});
