import { expect } from 'vitest';
import type { UserView } from '../../src/directory/user.view.js';
import { hashToken } from '../../src/sessions/session.service.js';
import { Agent, PASSWORD, activateSubscription, addUser, dbState, enableMfaForStaff, firmWithAdmin, type Harness, type TestFirm } from './harness.js';

/**
 * The fixtures the HTTP tests share: firms that use MFA, their people, password logins, the
 * session a browser holds, and the rows tests look at. Each takes the harness first, as the
 * helpers of harness.ts do; the factors (codes, enrolled users) are in factors.ts.
 */

/** A path of the JSON API. */
export const api = (path: string) => `/api/v1${path}`;

/** PUT /admin/mfa/configuration with nobody MFA-enabled: spread it and turn on what a test needs. */
export const MFA_OFF = { caseManagers: false, vendorCaseManagers: false, corporationScope: 'all', allCorpUsers: false, allForeignNationals: false } as const;

/** The login policy as a new firm has it (PUT /admin/mfa/policy). */
export const LOGIN_POLICY = { lockoutThreshold: 10, lockoutMinutes: 15, rememberDays: 0 } as const;

/** A phone number the enrollment of the Tessera Authenticator accepts (`{ phone: PHONE }`). */
export const PHONE = { number: '07911 123456', country: 'GB' } as const;

/** Browsers as the push request and the fraud reports describe them. */
export const CHROME_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
export const FIREFOX_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0';

/** A browser with Chrome on Windows' user agent, at 203.0.113.7 (another browser, from `userAgent` and `ip`). */
export const browserOf = (h: Harness, o: { userAgent?: string; ip?: string } = {}) => new Agent(h.app, { userAgent: o.userAgent ?? CHROME_WINDOWS, ip: o.ip ?? '203.0.113.7' });

let seq = 0;
/** An address no other user of the test file has: `who-N@example.com`. */
export const uniqueEmail = (who: string) => `${who}-${++seq}@example.com`;

// --- firms and people -------------------------------------------------------------------

export interface MfaFirmOptions {
  /** Licences of the firm's active subscription (10). */
  licences?: number;
  /**
   * Who must use MFA: 'case_managers' (the default) as the firm's superuser sets it, through
   * PUT /admin/mfa/configuration (which queues the enablement mails); 'staff', case managers
   * and vendor case managers written to the settings directly (no job, no mail, no audit).
   */
  enabled?: 'case_managers' | 'staff';
  /** Passkey sign-in allowed (PUT /admin/mfa/policy). */
  passkeys?: boolean;
  /**
   * The superuser holds a seat with an authenticator app (firmWithAdmin `enrolled`), so they go on
   * administering the firm once their own kind is covered; otherwise their next admin request
   * after the enablement answers 403 MFA_ENROLLMENT_REQUIRED while a seat is free (issue 16 item 4).
   */
  adminEnrolled?: boolean;
  /**
   * What a front door needs of the firm before its users sign in through it, done by the
   * superuser before the enablement, while they may still administer the firm (a door driver's
   * `setUpFirm`, test/support/doors.ts: the OIDC door's application).
   */
  setUp?: (f: TestFirm) => Promise<void>;
}

/** A firm with a logged-in superuser, on an active subscription, whose staff must use MFA. */
export async function mfaFirm(h: Harness, o: MfaFirmOptions = {}): Promise<TestFirm> {
  const f = await firmWithAdmin(h, undefined, { enrolled: o.adminEnrolled, licences: o.licences });
  await activateSubscription(h, f.firm.id, o.licences ?? 10);
  // Before the enablement: the superuser, a case manager, is covered from then on.
  if (o.passkeys) await setPasskeys(f, true);
  await o.setUp?.(f);
  if (o.enabled === 'staff') await enableMfaForStaff(h, f.firm.id);
  else {
    const res = await f.admin.raw('PUT', api('/admin/mfa/configuration'), { body: { ...MFA_OFF, caseManagers: true } });
    expect(res.statusCode, res.body).toBe(200);
  }
  return f;
}

/** Turns passkey sign-in on or off for the firm, through its superuser (PUT /admin/mfa/policy). */
export async function setPasskeys(f: TestFirm, on: boolean): Promise<TestFirm> {
  const res = await f.admin.raw('PUT', api('/admin/mfa/policy'), { body: { ...LOGIN_POLICY, passkeysEnabled: on } });
  expect(res.statusCode, res.body).toBe(200);
  return f;
}

let people = 0;
export interface PersonOptions {
  kind?: 'case_manager' | 'vendor_case_manager';
  /** `Pat N` unless given. */
  name?: string;
  superuser?: boolean;
  /** The harness PASSWORD unless given; null: no password yet. */
  password?: string | null;
}

/** A new user of the firm (a case manager unless told), with an address of its own. */
export function person(h: Harness, f: TestFirm, o: PersonOptions = {}): Promise<UserView> {
  const n = ++people;
  const name = o.name ?? `Pat ${n}`;
  const email = `${name.split(' ')[0]!.toLowerCase()}-${n}-${f.firm.slug}@example.com`;
  return addUser(h, f.firm.id, { name, email, kind: o.kind ?? 'case_manager', isSuperuser: o.superuser }, o.password === undefined ? PASSWORD : o.password);
}

// --- logins and sessions ----------------------------------------------------------------

export type LoginAnswer = { principal: string; next: string; notice?: string };

/** The password step from this browser (a new one unless given); asserts 200. */
export async function passwordLogin(h: Harness, f: TestFirm, user: { email: string }, agent = new Agent(h.app)): Promise<{ agent: Agent; body: LoginAnswer }> {
  const res = await agent.post(api('/login'), { email: user.email, password: PASSWORD, firm: f.firm.slug });
  expect(res.statusCode, res.body).toBe(200);
  return { agent, body: res.json() as LoginAnswer };
}

/** The password step; asserts 200 and the next step, and answers the browser. */
export async function loginAs(h: Harness, f: TestFirm, user: { email: string }, next: 'home' | 'second_factor' | 'enroll', agent = new Agent(h.app)): Promise<Agent> {
  const { body } = await passwordLogin(h, f, user, agent);
  expect(body.next).toBe(next);
  return agent;
}

/** The session token the browser holds. */
export const sessionCookie = (agent: Agent) => agent.cookies.get('tessera_session')!;

/** A browser that holds this session token (planted, or copied by a thief). */
export function withSessionCookie(h: Harness, token: string): Agent {
  const agent = new Agent(h.app);
  agent.cookies.set('tessera_session', token);
  return agent;
}

export const sessionRow = (h: Harness, token: string) => h.ctx.db.selectFrom('sessions').selectAll().where('id', '=', hashToken(token)).executeTakeFirst();

// --- rows -------------------------------------------------------------------------------

/** The user's row; undefined once the user is deleted. */
export const userRow = (h: Harness, id: string) => h.ctx.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();

/** The second-factor attempt counter of a user and the lockout it led to. */
export const mfaAttempts = (h: Harness, userId: string) =>
  h.ctx.db.selectFrom('users').select(['mfa_failed_count', 'mfa_locked_until']).where('id', '=', userId).executeTakeFirstOrThrow();

/** The mails to this address, oldest first. */
export const mailsTo = (h: Harness, to: string) =>
  h.ctx.db.selectFrom('mail_outbox').selectAll().where('to_address', '=', to).orderBy('created_at').orderBy('id').execute();

export const seatOf = (h: Harness, userId: string) => h.ctx.db.selectFrom('seats').selectAll().where('user_id', '=', userId).executeTakeFirst();

export const seatsUsed = async (h: Harness, firmId: string) =>
  (await h.ctx.db.selectFrom('subscriptions').select('seats_used').where('firm_id', '=', firmId).executeTakeFirstOrThrow()).seats_used;

export const mfaSettingsRow = (h: Harness, firmId: string) => h.ctx.db.selectFrom('mfa_settings').selectAll().where('firm_id', '=', firmId).executeTakeFirst();

// --- what a refused request may change --------------------------------------------------

/** Everything besides the audit log (a refused request is audited and changes nothing else). */
export async function stateBesidesAudit(h: Harness) {
  const { audit_events: _audit, ...rest } = await dbState(h);
  return rest;
}

/** Everything besides the audit log and the users' attempt counters (a refused second factor counts). */
export async function stateBesidesAttempts(h: Harness) {
  const { users, ...rest } = await stateBesidesAudit(h);
  return { ...rest, users: (users as Record<string, unknown>[]).map(({ mfa_failed_count: _n, ...u }) => u) as unknown[] };
}
