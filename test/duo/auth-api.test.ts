import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceSimulator } from '../support/device-simulator.js';
import { nodeDuoCall, runPythonDuo, runPythonJob, type DuoTarget, type PythonClientOptions, type PythonResult } from '../support/duo-clients.js';
import { pendingPush as pendingPushOf, startDuoTlsHarness, type DuoClock, type DuoTlsHarness } from '../support/duo-tls-harness.js';
import { pushUser, totpUser, freshCode, type PushUser, type TotpUser } from '../support/factors.js';
import { api, loginAs, mfaFirm, person, PHONE, seatsUsed } from '../support/fixtures.js';
import { Agent, type Harness, type TestFirm } from '../support/harness.js';
import type { TestPki } from '../support/tls.js';
import { metrics } from '../../src/ops/metrics.js';

/**
 * Duo's Auth API v2 on the authentication core (issue 15 items 1-3), proven with Duo's OFFICIAL
 * clients, unmodified except for trusting the test CA: python duo_client 4.5 (v2 signatures,
 * HMAC-SHA1 by default, form bodies) and @duosecurity/duo_api 1.5 (v2 HMAC-SHA512, and v5 with
 * JSON bodies), over real HTTPS, against a Tessera whose integrations are Auth API applications
 * of the registry (created through the admin API). The Tessera Authenticator is the device
 * simulator the push tests use. Runs on SQLite, or on PostgreSQL with TESSERA_TEST_DATABASE_URL.
 */

let duo: DuoTlsHarness;
let pki: TestPki;
let h: Harness;
let clock: DuoClock;
let target: DuoTarget;
let f: TestFirm;
let keys: { ikey: string; skey: string; applicationId: string };
let pusher: PushUser;
let coder: TotpUser;

async function newApplication(firm: TestFirm, name: string, newUserPolicy?: 'enroll' | 'allow' | 'deny') {
  const res = await firm.admin.post(api('/admin/applications'), { type: 'duo_auth_api', name, ...(newUserPolicy ? { newUserPolicy } : {}) });
  expect(res.statusCode, res.body).toBe(201);
  const body = res.json() as { application: { id: string; clientId: string }; secret: string };
  return { ikey: body.application.clientId, skey: body.secret, applicationId: body.application.id };
}

beforeAll(async () => {
  duo = await startDuoTlsHarness();
  ({ pki, h, clock, target } = duo);
  // Superusers enrolled: a covered superuser who is not is asked to enrol before any admin request (issue 16 item 4).
  f = await mfaFirm(h, { enabled: 'staff', adminEnrolled: true });
  keys = await newApplication(f, 'VPN gateway');
  pusher = await pushUser(h, f);
  coder = await totpUser(h, f);
}, 60_000);
afterAll(async () => {
  await duo?.close();
});

const py = (over: Partial<PythonClientOptions> = {}): PythonClientOptions => ({ ikey: keys.ikey, skey: keys.skey, host: 'localhost', port: target.port, ca_certs: pki.caFile, ...over });
const ok = (r: PythonResult) => {
  if (!r.ok || !('response' in r)) throw new Error(`the python client failed: ${JSON.stringify(r)}`);
  return r.response as any;
};
/** One Auth API call through python duo_client (json_api_call: form-encoded, v2 HMAC-SHA1). */
const pyCall = (method: string, path: string, params: Record<string, string> = {}, client = py()) => runPythonJob({ kind: 'call', client, method, path, params });
const pyOk = async (method: string, path: string, params: Record<string, string> = {}, client = py()) => ok(await pyCall(method, path, params, client));
/** One call through the node client (v2 HMAC-SHA512 form, or v5 JSON). */
const nodeCall = (method: string, path: string, params: Record<string, string> = {}, sigVersion: 2 | 5 = 5, k = keys) => nodeDuoCall(target, { ikey: k.ikey, skey: k.skey, sigVersion }, method, path, params);

const auditOf = (event: string, subjectId?: string) => {
  let q = h.ctx.db.selectFrom('audit_events').selectAll().where('event', '=', event).where('application_id', '=', keys.applicationId);
  if (subjectId) q = q.where('subject_id', '=', subjectId);
  return q.orderBy('id').execute();
};

/** The pending push of a user, as the phone sees it (after the Duo call sent it). */
const pendingPush = (userId: string) => pendingPushOf(h, userId);

/** A verified push reserved at preauth: what the application shows, and the txid it passes to /auth. */
async function verifiedPreauth(username: string) {
  const r = await pyOk('POST', '/auth/v2/preauth', { username, client_supports_verified_push: '1' });
  expect(r).toMatchObject({ result: 'auth', txid: expect.any(String), verification_code: expect.stringMatching(/^\d{6}$/), expiration: expect.any(Number) });
  return r as { txid: string; verification_code: string };
}

describe('check and logo', () => {
  it('check answers the time to both clients (v2 SHA-1, v2 SHA-512, v5) and is audited with the application', async () => {
    const [check] = await runPythonDuo([{ kind: 'check', client: py() }]);
    expect(Math.abs(ok(check!).time - Date.now() / 1000)).toBeLessThan(5);
    expect(await nodeCall('GET', '/auth/v2/check', {}, 2)).toMatchObject({ stat: 'OK', response: { time: expect.any(Number) } });
    expect(await nodeCall('GET', '/auth/v2/check', {}, 5)).toMatchObject({ stat: 'OK', response: { time: expect.any(Number) } });
    expect((await auditOf('duo.call')).filter((e) => JSON.parse(e.details).endpoint === 'check').length).toBeGreaterThanOrEqual(3);
  });

  it('logo: Duo\'s 404, as the python client reports it', async () => {
    const r = await runPythonDuo([{ kind: 'call', client: py(), method: 'GET', path: '/auth/v2/logo', params: {} }]);
    expect(r[0]).toMatchObject({ ok: false, status: 404 });
    expect(await nodeCall('GET', '/auth/v2/logo')).toEqual({ stat: 'FAIL', code: 40401, message: 'Resource not found', message_detail: 'No logo was found.' });
  });
});

describe('preauth: the core decides', () => {
  it('enrolled: auth, with the devices and their capabilities from the authenticators', async () => {
    const phone = await pyOk('POST', '/auth/v2/preauth', { username: pusher.user.email });
    expect(phone).toMatchObject({ result: 'auth', status_msg: 'Verify with your second factor.' });
    expect(phone.devices).toEqual([
      { device: pusher.authenticatorId, type: 'phone', name: 'Tessera Authenticator', display_name: expect.stringMatching(/^Tessera Authenticator \(XXX-XXX-\d{4}\)$/), number: expect.stringMatching(/^XXX-XXX-\d{4}$/), capabilities: ['auto', 'push', 'mobile_otp'] },
    ]);
    const app = await nodeCall('POST', '/auth/v2/preauth', { username: coder.user.email.toUpperCase() });
    expect(app).toMatchObject({ stat: 'OK', response: { result: 'auth', devices: [{ device: coder.authenticatorId, type: 'token', capabilities: ['mobile_otp'] }] } });
  });

  it('not covered by the firm: allow; disabled: deny', async () => {
    const other = await mfaFirm(h, { adminEnrolled: true }); // case managers only
    const k = await newApplication(other, 'Portal');
    const vendor = await person(h, other, { kind: 'vendor_case_manager' });
    expect((await nodeCall('POST', '/auth/v2/preauth', { username: vendor.email }, 5, k)).response).toEqual({ result: 'allow', status_msg: 'Your organization does not require two-factor authentication for you.' });
    expect((await other.admin.patch(api(`/admin/users/${vendor.id}`), { status: 'disabled' })).statusCode).toBe(200);
    expect((await nodeCall('POST', '/auth/v2/preauth', { username: vendor.email }, 5, k)).response).toEqual({ result: 'deny', status_msg: 'Your account is disabled.' });
  });

  it('not enrolled, a seat free: enroll with a one-time enroll_portal_url; no seat free: allow (the bypass, counted)', async () => {
    const small = await mfaFirm(h, { licences: 3, enabled: 'staff', adminEnrolled: true }); // the superuser holds one seat; two enrolled users fill the rest
    const k = await newApplication(small, 'Console');
    const newcomer = await person(h, small);
    const r = (await nodeCall('POST', '/auth/v2/preauth', { username: newcomer.email }, 5, k)).response as any;
    expect(r).toMatchObject({ result: 'enroll', status_msg: 'Enroll in two-factor authentication to continue.', enroll_portal_url: expect.stringMatching(/\/enroll\/duo#[A-Za-z0-9_-]{43}$/) });
    // The link opens this user's enrollment in a browser, once: a pending login at the enrollment step.
    const browser = new Agent(h.app);
    const token = new URL(r.enroll_portal_url).hash.slice(1);
    const opened = await browser.post(api('/login/enrollment-link'), { token });
    expect(opened.statusCode, opened.body).toBe(200);
    expect(opened.json()).toEqual({ principal: 'user', next: 'enroll' });
    const info = await browser.get(api('/mfa/enrollment'));
    expect(info.statusCode, info.body).toBe(200);
    expect(info.json()).toMatchObject({ user: { email: newcomer.email } });
    expect((await browser.get(api('/me'))).statusCode).toBe(401); // not signed in: enrolment only
    expect((await new Agent(h.app).post(api('/login/enrollment-link'), { token })).statusCode).toBe(410);
    expect((await h.ctx.db.selectFrom('audit_events').select('application_id').where('event', '=', 'login.enroll_link_used').where('subject_id', '=', newcomer.id).executeTakeFirstOrThrow()).application_id).toBe(k.applicationId);
    await totpUser(h, small);
    await totpUser(h, small);
    expect(await seatsUsed(h, small.firm.id)).toBe(3);
    expect((await nodeCall('POST', '/auth/v2/preauth', { username: newcomer.email }, 5, k)).response).toEqual({ result: 'allow', status_msg: 'Two-factor authentication was skipped: no licence is free.' });
    const sub = await h.ctx.db.selectFrom('subscriptions').select('bypass_logins').where('firm_id', '=', small.firm.id).executeTakeFirstOrThrow();
    expect(Number(sub.bypass_logins)).toBe(1);
    expect(await h.ctx.db.selectFrom('audit_events').select('id').where('event', '=', 'login.mfa_bypassed_no_seat').where('subject_id', '=', newcomer.id).execute()).toHaveLength(1);
  });

  it("unknown usernames follow the application's new user policy; another firm's user is unknown here", async () => {
    const stranger = await mfaFirm(h);
    const theirs = await person(h, stranger);
    expect((await nodeCall('POST', '/auth/v2/preauth', { username: theirs.email })).response).toMatchObject({ result: 'deny', status_msg: expect.stringContaining('Unknown user') });
    for (const [policy, result] of [['allow', 'allow'], ['deny', 'deny'], ['enroll', 'deny']] as const) {
      expect((await f.admin.patch(api(`/admin/applications/${keys.applicationId}`), { newUserPolicy: policy })).statusCode).toBe(200);
      expect((await pyOk('POST', '/auth/v2/preauth', { username: 'nobody@nowhere.example' })).result).toBe(result);
    }
    const audited = await auditOf('duo.preauth');
    expect(audited.map((e) => JSON.parse(e.details).reason)).toEqual(expect.arrayContaining(['unknown_user_allow', 'unknown_user_deny', 'unknown_user_enroll']));
  });

  it('a username alias set by the superuser names the user too (either case); a taken alias is 409', async () => {
    const res = await f.admin.patch(api(`/admin/users/${coder.user.id}`), { usernameAlias: 'JDoe' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().usernameAlias).toBe('JDoe');
    expect((await pyOk('POST', '/auth/v2/preauth', { username: 'jdoe' })).devices[0].device).toBe(coder.authenticatorId);
    expect((await f.admin.patch(api(`/admin/users/${pusher.user.id}`), { usernameAlias: 'jdoe' })).json()).toMatchObject({ error: 'USERNAME_ALIAS_TAKEN' });
    // No @ in an alias: it can never be taken for an address.
    expect((await f.admin.patch(api(`/admin/users/${pusher.user.id}`), { usernameAlias: coder.user.email })).statusCode).toBe(400);
    expect((await f.admin.patch(api(`/admin/users/${pusher.user.id}`), { usernameAlias: 'has space' })).statusCode).toBe(400);
  });

  it('user_id names a user by id; both or neither of username and user_id is 40002', async () => {
    expect((await pyOk('POST', '/auth/v2/preauth', { user_id: coder.user.id })).result).toBe('auth');
    expect(await nodeCall('POST', '/auth/v2/preauth', {})).toMatchObject({ stat: 'FAIL', code: 40002, message_detail: 'username or user_id: exactly one of them' });
    expect(await nodeCall('POST', '/auth/v2/preauth', { username: 'a', user_id: 'b' })).toMatchObject({ stat: 'FAIL', code: 40002 });
    expect(await nodeCall('POST', '/auth/v2/preauth', { username: 'a', colour: 'blue' })).toMatchObject({ stat: 'FAIL', code: 40002 });
  });
});

describe('auth with a passcode (TOTP and backup codes, single use)', () => {
  it('right -> allow, replayed -> deny, wrong -> deny; each through a LoginAttempt of the duo door, audited with the application', async () => {
    const code = freshCode(h, coder.secret);
    const right = await pyOk('POST', '/auth/v2/auth', { username: coder.user.email, factor: 'passcode', passcode: code, async: '0' });
    expect(right).toEqual({ result: 'allow', status: 'allow', status_msg: 'Success. Logging you in...' });
    const replay = await pyOk('POST', '/auth/v2/auth', { username: coder.user.email, factor: 'passcode', passcode: code });
    expect(replay).toEqual({ result: 'deny', status: 'deny', status_msg: 'Incorrect passcode. Please try again.' });
    const wrong = (await nodeCall('POST', '/auth/v2/auth', { username: coder.user.email, factor: 'passcode', passcode: '000000' === code ? '111111' : '000000' })).response;
    expect(wrong).toMatchObject({ result: 'deny', status: 'deny' });
    const login = await h.ctx.db.selectFrom('audit_events').selectAll().where('event', '=', 'login.succeeded').where('subject_id', '=', coder.user.id).where('application_id', '=', keys.applicationId).execute();
    expect(login).toHaveLength(1);
    expect((await auditOf('duo.auth_denied', coder.user.id)).length).toBeGreaterThanOrEqual(2);
    // No attempt is left behind.
    expect(await h.ctx.db.selectFrom('login_attempts').select('id').where('user_id', '=', coder.user.id).execute()).toEqual([]);
  });

  it('a backup code works once; async=1 answers a txid whose auth_status holds the result', async () => {
    const backup = coder.backupCodes[0]!;
    const first = await nodeCall('POST', '/auth/v2/auth', { username: coder.user.email, factor: 'passcode', passcode: backup, async: '1' });
    const txid = (first.response as { txid: string }).txid;
    expect(txid).toMatch(/^[0-9a-f-]{36}$/);
    expect((await pyOk('GET', '/auth/v2/auth_status', { txid }))).toEqual({ result: 'allow', status: 'allow', status_msg: 'Success. Logging you in...' });
    expect((await nodeCall('POST', '/auth/v2/auth', { username: coder.user.email, factor: 'passcode', passcode: backup })).response).toMatchObject({ result: 'deny' });
  });

  it('a locked second factor: preauth and auth deny (locked_out)', async () => {
    const locked = await totpUser(h, f);
    await h.ctx.db.updateTable('users').set({ mfa_locked_until: clock.now() + 600_000 }).where('id', '=', locked.user.id).execute();
    expect((await pyOk('POST', '/auth/v2/preauth', { username: locked.user.email })).result).toBe('deny');
    expect(await pyOk('POST', '/auth/v2/auth', { username: locked.user.email, factor: 'passcode', passcode: freshCode(h, locked.secret) })).toMatchObject({ result: 'deny', status: 'locked_out' });
  });
});

describe('auth with a push to the Tessera Authenticator (verified push)', () => {
  it('approved: the synchronous auth answers allow; the phone saw the application, pushinfo and the number the application showed', async () => {
    const pre = await verifiedPreauth(pusher.user.email);
    const call = pyCall('POST', '/auth/v2/auth', { username: pusher.user.email, factor: 'push', device: 'auto', txid: pre.txid, pushinfo: 'from=login%20portal&domain=example.com', type: 'Login', display_username: 'pat' });
    const push = await pendingPush(pusher.user.id);
    expect(push.number).toBe(pre.verification_code);
    const seen = (await pusher.device.transactions()).json() as { items: Record<string, unknown>[] };
    expect(seen.items[0]).toMatchObject({ app: 'VPN gateway', requestType: 'Login', displayUsername: 'pat', details: [{ label: 'from', value: 'login portal' }, { label: 'domain', value: 'example.com' }] });
    expect((await pusher.device.approve(push.id, pre.verification_code)).statusCode).toBe(200);
    expect(ok(await call)).toEqual({ result: 'allow', status: 'allow', status_msg: 'Success. Logging you in...' });
    // The txid of the preauth works once.
    expect(await nodeCall('POST', '/auth/v2/auth', { username: pusher.user.email, factor: 'push', device: 'auto', txid: pre.txid })).toMatchObject({ stat: 'FAIL', code: 40002 });
  });

  it("what the application sent reaches the phone as sent: pushinfo's pairs in order (repeats, Unicode, markup as text), type and display_username trimmed; none of them: nulls and no pairs", async () => {
    const pushinfo = new URLSearchParams([
      ['Amount', '€ 1 250,00'],
      ['To', '<b>ACME</b> & Sons'],
      ['Ref', 'A-1'],
      ['Ref', 'A-2'],
      ['', 'a value without a key is dropped'],
    ]).toString();
    const pre = await verifiedPreauth(pusher.user.email);
    const call = nodeCall('POST', '/auth/v2/auth', { username: pusher.user.email, factor: 'push', device: 'auto', txid: pre.txid, pushinfo, type: '  Wire transfer ', display_username: 'pat.doe@corp.example' });
    const push = await pendingPush(pusher.user.id);
    const seen = (await pusher.device.transactions()).json() as { items: Record<string, unknown>[] };
    expect(seen.items[0]).toMatchObject({
      id: push.id,
      app: 'VPN gateway',
      requestType: 'Wire transfer',
      displayUsername: 'pat.doe@corp.example',
      details: [
        { label: 'Amount', value: '€ 1 250,00' },
        { label: 'To', value: '<b>ACME</b> & Sons' },
        { label: 'Ref', value: 'A-1' },
        { label: 'Ref', value: 'A-2' },
      ],
    });
    await pusher.device.answer(push.id, 'deny', { reason: 'mistake' });
    expect((await call).response).toMatchObject({ result: 'deny' });

    const plain = await verifiedPreauth(pusher.user.email);
    const second = nodeCall('POST', '/auth/v2/auth', { username: pusher.user.email, factor: 'push', device: 'auto', txid: plain.txid });
    const push2 = await pendingPush(pusher.user.id);
    expect(((await pusher.device.transactions()).json() as { items: Record<string, unknown>[] }).items[0]).toMatchObject({ id: push2.id, app: 'VPN gateway', requestType: null, displayUsername: null, details: [] });
    await pusher.device.answer(push2.id, 'deny', { reason: 'mistake' });
    expect((await second).response).toMatchObject({ result: 'deny' });
  });

  it('oversized lines are 400 40002 naming the parameter and its limit (pushinfo under 20,000 bytes as Duo says); nothing is pushed, no attempt is left', async () => {
    const base = { username: pusher.user.email, factor: 'push', device: 'auto' };
    const pushes = async () => (await h.ctx.db.selectFrom('push_transactions').select('id').where('user_id', '=', pusher.user.id).execute()).length;
    const before = await pushes();
    const refused = async (params: Record<string, string>, detail: string) => {
      const res = await nodeDuoCall(target, { ikey: keys.ikey, skey: keys.skey, sigVersion: 5 }, 'POST', '/auth/v2/auth', { ...base, ...params });
      expect(res).toEqual({ stat: 'FAIL', code: 40002, message: 'Invalid request parameters', message_detail: detail });
    };
    // 20,000 bytes URL-encoded: one byte too many (Duo: "must be less than 20,000 bytes").
    await refused({ pushinfo: `note=${'x'.repeat(20_000 - 5)}` }, "pushinfo: at most 19,999 bytes URL-encoded (Duo's limit), got 20,000");
    await refused({ pushinfo: `${'k'.repeat(101)}=v` }, 'pushinfo key: at most 100 characters, got 101');
    await refused({ type: 't'.repeat(101) }, 'type: at most 100 characters, got 101');
    await refused({ display_username: 'u'.repeat(255) }, 'display_username: at most 254 characters, got 255');
    // The python client (v2 form body) is refused alike.
    const py20k = await pyCall('POST', '/auth/v2/auth', { ...base, pushinfo: `note=${'x'.repeat(20_000)}` });
    expect(py20k).toMatchObject({ ok: false });
    expect(JSON.stringify(py20k)).toContain('40002');
    // At the limits the lines pass (the push is then refused for its missing verified-push txid, not for them).
    expect(
      await nodeCall('POST', '/auth/v2/auth', { ...base, pushinfo: `note=${'x'.repeat(19_999 - 5)}`, type: 't'.repeat(100), display_username: 'u'.repeat(254) }),
    ).toMatchObject({ stat: 'FAIL', code: 40002, message_detail: expect.stringContaining('Verified Duo Push') });
    expect(await pushes()).toBe(before);
    expect(await h.ctx.db.selectFrom('login_attempts').select('id').where('user_id', '=', pusher.user.id).execute()).toEqual([]);
  });

  it('denied: deny', async () => {
    const pre = await verifiedPreauth(pusher.user.email);
    const call = pyCall('POST', '/auth/v2/auth', { username: pusher.user.email, factor: 'auto', txid: pre.txid });
    const push = await pendingPush(pusher.user.id);
    await pusher.device.answer(push.id, 'deny', { reason: 'mistake' });
    expect(ok(await call)).toEqual({ result: 'deny', status: 'deny', status_msg: 'Login request denied.' });
  });

  it('async + auth_status polling: waiting, then allow after the approval', async () => {
    const pre = await verifiedPreauth(pusher.user.email);
    const { txid } = (await nodeCall('POST', '/auth/v2/auth', { username: pusher.user.email, factor: 'push', device: pusher.authenticatorId, async: '1', txid: pre.txid })).response as { txid: string };
    const push = await pendingPush(pusher.user.id);
    // The python client's own auth_status() reads `waiting`; the long poll returns once the phone answers.
    const polled = runPythonJob({ kind: 'call', client: py(), method: 'GET', path: '/auth/v2/auth_status', params: { txid } });
    await new Promise((r) => setTimeout(r, 300));
    await pusher.device.approve(push.id, pre.verification_code);
    expect(ok(await polled)).toEqual({ result: 'allow', status: 'allow', status_msg: 'Success. Logging you in...' });
    expect(ok(await pyCall('GET', '/auth/v2/auth_status', { txid }))).toMatchObject({ result: 'allow' });
    expect(await nodeCall('GET', '/auth/v2/auth_status', { txid: 'not-a-txid' })).toMatchObject({ stat: 'FAIL', code: 40002, message_detail: 'txid' });
    // Past its five minutes the txid is gone, whether or not housekeeping has removed the row yet.
    await h.ctx.db.updateTable('duo_transactions').set({ expires_at: clock.now() - 1 }).where('id', '=', txid).execute();
    expect(await nodeCall('GET', '/auth/v2/auth_status', { txid })).toMatchObject({ stat: 'FAIL', code: 40002, message_detail: 'txid' });
  });

  it('timed out: deny with status timeout (the clock moved past the minute)', async () => {
    const pre = await verifiedPreauth(pusher.user.email);
    const { txid } = (await nodeCall('POST', '/auth/v2/auth', { username: pusher.user.email, factor: 'push', device: 'auto', async: '1', txid: pre.txid })).response as { txid: string };
    await pendingPush(pusher.user.id);
    clock.offsetMs += 61_000;
    try {
      expect(ok(await pyCall('GET', '/auth/v2/auth_status', { txid }))).toEqual({ result: 'deny', status: 'timeout', status_msg: 'Login timed out.' });
    } finally {
      clock.offsetMs -= 61_000;
    }
  });

  it('a push without a verified-push txid is 40002; reported as fraud: deny (fraud), pushes pause, preauth offers no push', async () => {
    expect(await nodeCall('POST', '/auth/v2/auth', { username: pusher.user.email, factor: 'push', device: 'auto' })).toMatchObject({ stat: 'FAIL', code: 40002, message_detail: expect.stringContaining('Verified Duo Push') });
    const pre = await verifiedPreauth(pusher.user.email);
    const call = pyCall('POST', '/auth/v2/auth', { username: pusher.user.email, factor: 'push', device: 'auto', txid: pre.txid });
    const push = await pendingPush(pusher.user.id);
    await pusher.device.answer(push.id, 'deny', { reason: 'fraud' });
    expect(ok(await call)).toMatchObject({ result: 'deny', status: 'fraud' });
    const after = await pyOk('POST', '/auth/v2/preauth', { username: pusher.user.email, client_supports_verified_push: '1' });
    expect(after).toMatchObject({ result: 'auth', status_msg: expect.stringContaining('paused') });
    expect(after.devices[0].capabilities).toEqual(['mobile_otp']);
    expect(after.txid).toBeUndefined();
    // The device's own passcodes still work.
    expect(await pyOk('POST', '/auth/v2/auth', { username: pusher.user.email, factor: 'passcode', passcode: pusher.device.passcode() })).toMatchObject({ result: 'allow' });
    expect((await auditOf('duo.auth_denied', pusher.user.id)).some((e) => JSON.parse(e.details).status === 'fraud')).toBe(true);
  });
});

describe('enroll and enroll_status', () => {
  it('a user of the firm not enrolled yet: an activation for the Tessera Authenticator; waiting, then success once the phone activates', async () => {
    const newcomer = await person(h, f);
    const e = await pyOk('POST', '/auth/v2/enroll', { username: newcomer.email, valid_secs: '600' });
    expect(e).toMatchObject({ user_id: newcomer.id, username: newcomer.email, activation_code: expect.any(String), activation_url: expect.stringContaining('/authenticator#activate='), activation_barcode: expect.stringMatching(/^data:image\/png;base64,/) });
    expect(Math.abs(e.expiration - (clock.now() / 1000 + 600))).toBeLessThan(5);
    expect(await pyOk('POST', '/auth/v2/enroll_status', { user_id: newcomer.id, activation_code: e.activation_code })).toBe('waiting');
    expect(await pyOk('POST', '/auth/v2/enroll_status', { user_id: coder.user.id, activation_code: e.activation_code })).toBe('invalid');
    const device = await DeviceSimulator.create(h.app, h.clock);
    expect((await device.activate(e.activation_url)).statusCode).toBe(200);
    expect((await nodeCall('POST', '/auth/v2/enroll_status', { user_id: newcomer.id, activation_code: e.activation_code })).response).toBe('success');
    // Asked again after the enrollment's attempt ended: still this application's enrollment, still success.
    expect(await pyOk('POST', '/auth/v2/enroll_status', { user_id: newcomer.id, activation_code: e.activation_code })).toBe('success');
    expect((await pyOk('POST', '/auth/v2/preauth', { username: newcomer.email })).result).toBe('auth');
    // Enrolled now: a second enroll is refused.
    expect(await nodeCall('POST', '/auth/v2/enroll', { username: newcomer.email })).toMatchObject({ stat: 'FAIL', code: 40002, message_detail: 'username: already enrolled' });
    expect(await nodeCall('POST', '/auth/v2/enroll', {})).toMatchObject({ stat: 'FAIL', code: 40002 });
  });

  it("enroll_status answers only the application that began the enrollment: another application of the same firm reads invalid, before and after", async () => {
    const other = await newApplication(f, 'Another gateway');
    const newcomer = await person(h, f);
    const e = await pyOk('POST', '/auth/v2/enroll', { username: newcomer.email });
    const status = async (k: typeof keys) => (await nodeCall('POST', '/auth/v2/enroll_status', { user_id: newcomer.id, activation_code: e.activation_code }, 5, k)).response;
    expect([await status(keys), await status(other)]).toEqual(['waiting', 'invalid']);
    const device = await DeviceSimulator.create(h.app, h.clock);
    expect((await device.activate(e.activation_url)).statusCode).toBe(200);
    expect([await status(other), await status(keys)]).toEqual(['invalid', 'success']);
    const audited = (await h.ctx.db.selectFrom('audit_events').select('details').where('event', '=', 'duo.call').where('application_id', '=', other.applicationId).execute()).map((r) => JSON.parse(r.details));
    expect(audited.filter((d) => d.endpoint === 'enroll_status').map((d) => d.status)).toEqual(['invalid', 'invalid']);
  });

  it('an activation begun in Tessera\'s own screens is no application\'s enrollment: enroll_status reads invalid', async () => {
    const user = await person(h, f);
    const agent = await loginAs(h, f, user, 'enroll');
    const begun = await agent.post(api('/mfa/enrollment/push'), { phone: PHONE });
    expect(begun.statusCode).toBe(201);
    const code = DeviceSimulator.codeOf((begun.json() as { activationUrl: string }).activationUrl);
    expect(await pyOk('POST', '/auth/v2/enroll_status', { user_id: user.id, activation_code: code })).toBe('invalid');
  });
});

describe('signatures and keys', () => {
  it('refused signatures of a known key are audited with the application and the reason (wrong, stale, missing), one row per key and reason a minute, the rest counted', async () => {
    const k = await newApplication(f, 'Audited gateway');
    const refused = async () =>
      (await h.ctx.db.selectFrom('audit_events').select(['details', 'firm_id']).where('event', '=', 'duo.signature_refused').where('application_id', '=', k.applicationId).orderBy('id').execute()).map((r) => ({ firm: r.firm_id, ...JSON.parse(r.details) }));
    const wrong = { ...k, skey: 'x'.repeat(40) };
    expect(await nodeCall('GET', '/auth/v2/check', {}, 5, wrong)).toMatchObject({ code: 40103 });
    expect(await pyCall('POST', '/auth/v2/preauth', { username: coder.user.email }, py(wrong))).toMatchObject({ ok: false, status: 401 });
    expect(await nodeCall('GET', '/auth/v2/check', {}, 2, wrong)).toMatchObject({ code: 40103 });
    expect(await refused()).toEqual([{ firm: f.firm.id, application: 'Audited gateway', reason: 'wrong', failure: 'INVALID_SIGNATURE' }]);
    // A stale date: its own reason, so its own row.
    const offset = clock.offsetMs;
    clock.offsetMs += 10 * 60_000;
    try {
      for (let i = 0; i < 3; i++) expect(await nodeCall('GET', '/auth/v2/check', {}, 5, k)).toMatchObject({ code: 40105 });
    } finally {
      clock.offsetMs = offset;
    }
    // Missing: no date, or an Authorization without a signature.
    const basic = (sig: string) => `Basic ${Buffer.from(`${k.ikey}:${sig}`).toString('base64')}`;
    const noDate = await h.app.inject({ method: 'GET', url: '/auth/v2/check', headers: { authorization: basic('0'.repeat(40)) } });
    expect(noDate.json()).toMatchObject({ code: 40104 });
    const noSignature = await h.app.inject({ method: 'GET', url: '/auth/v2/check', headers: { authorization: basic('not-a-signature'), date: new Date(clock.now()).toUTCString() } });
    expect(noSignature.json()).toMatchObject({ code: 40103 });
    expect((await refused()).map((r) => r.reason)).toEqual(['wrong', 'stale', 'missing']);
    // An unknown key is nobody's application: nothing audited.
    expect(await nodeCall('GET', '/auth/v2/check', {}, 5, { ...k, ikey: 'DIXXXXXXXXXXXXXXXXX1' })).toMatchObject({ code: 40102 });
    expect(await refused()).toHaveLength(3);
    const text = await metrics(h.ctx).scrape();
    expect(text).toContain('tessera_duo_signature_refusals_total{reason="wrong",outcome="throttled"} 2');
    expect(text).toContain('tessera_duo_signature_refusals_total{reason="stale",outcome="throttled"} 2');
    expect(text).toContain('tessera_duo_signature_refusals_total{reason="missing",outcome="throttled"} 1');
    // A minute later the next one is written, saying how many went unwritten since.
    clock.advance(61_000);
    try {
      expect(await nodeCall('GET', '/auth/v2/check', {}, 5, wrong)).toMatchObject({ code: 40103 });
    } finally {
      clock.offsetMs -= 61_000;
    }
    expect((await refused()).at(-1)).toEqual({ firm: f.firm.id, application: 'Audited gateway', reason: 'wrong', failure: 'INVALID_SIGNATURE', suppressed: 2 });
    // The firm's audit log lists it as a failure of this application.
    const page = await f.admin.get(api(`/admin/audit-events?event=duo.signature_refused`));
    expect(page.statusCode, page.body).toBe(200);
    const listed = (page.json() as { items: { label: string; result: string; details: Record<string, unknown> }[] }).items.filter((e) => e.details.application === 'Audited gateway');
    expect(listed).toHaveLength(4);
    expect(listed[0]).toMatchObject({ label: 'Duo API: request signature refused', result: 'failure' });
  });

  it('a wrong secret key (40103), an unknown integration key (40102), a stale date (40105), a Web SDK key on the Auth API (40301)', async () => {
    const bad = await pyCall('POST', '/auth/v2/preauth', { username: coder.user.email }, py({ skey: 'x'.repeat(40) }));
    expect(bad).toMatchObject({ ok: false, status: 401 });
    expect(JSON.stringify(bad)).toContain('40103');
    expect(await nodeCall('POST', '/auth/v2/preauth', { username: coder.user.email }, 5, { ...keys, ikey: 'DIXXXXXXXXXXXXXXXXXX' })).toMatchObject({ code: 40102 });
    const offset = clock.offsetMs;
    clock.offsetMs += 10 * 60_000;
    try {
      expect(await nodeCall('POST', '/auth/v2/preauth', { username: coder.user.email }, 2)).toMatchObject({ code: 40105 });
    } finally {
      clock.offsetMs = offset;
    }
    const sdk = await f.admin.post(api('/admin/applications'), { type: 'duo_web_sdk', name: 'Web SDK app', redirectUris: ['https://app.example/cb'] });
    const s = sdk.json() as { application: { clientId: string }; secret: string };
    expect(await nodeCall('POST', '/auth/v2/preauth', { username: coder.user.email }, 5, { ikey: s.application.clientId, skey: s.secret, applicationId: '' })).toMatchObject({ code: 40301 });
    // A disabled application's key is unknown.
    const off = await newApplication(f, 'Disabled one');
    expect((await f.admin.post(api(`/admin/applications/${off.applicationId}/disable`))).statusCode).toBe(200);
    expect(await nodeCall('GET', '/auth/v2/check', {}, 5, off)).toMatchObject({ code: 40102 });
  });
});
