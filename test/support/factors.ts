import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { UserView } from '../../src/directory/user.view.js';
import { TOTP_PARAMS } from '../../src/factors/totp/totp.factor.js';
import { DeviceSimulator } from './device-simulator.js';
import { api, loginAs, PHONE, person, type PersonOptions } from './fixtures.js';
import { Agent, totpCode, type Harness, type TestFirm } from './harness.js';
import { SoftAuthenticator, type RegisterOverrides, type SoftCredential } from './soft-authenticator.js';

/**
 * Second factors through the API, as the tests share them: passcodes of an authenticator app
 * at the harness's time, and users enrolled at their first login with each kind of factor.
 */

/** One TOTP time step, in ms. */
export const STEP_MS = TOTP_PARAMS.period * 1000;

/** Moves the clock to the next TOTP step (no code of it used yet) and returns its code. */
export function freshCode(h: Harness, secret: string): string {
  h.clock.advance(STEP_MS);
  return totpCode(h, secret);
}

/** Six digits that no step of the drift window gives. */
export function wrongCode(h: Harness, secret: string): string {
  const window = [-1, 0, 1].map((o) => totpCode(h, secret, o));
  let n = Number(window[1]);
  let code: string;
  do code = String(++n % 1_000_000).padStart(6, '0');
  while (window.includes(code));
  return code;
}

/** A refused passcode or backup code: 401 INVALID_CODE with the attempts left before the lockout. */
export function expectInvalidCode(res: { statusCode: number; json(): unknown; body: string }, attemptsLeft: number) {
  expect(res.statusCode, res.body).toBe(401);
  expect(res.json()).toEqual({ error: 'INVALID_CODE', message: 'That code is not right.', attemptsLeft });
}

// --- an authenticator app ---------------------------------------------------------------

export interface TotpUser {
  user: UserView;
  secret: string;
  authenticatorId: string;
  backupCodes: string[];
}

/** A user who enrolled an authenticator app at first login (the code of the current step is used up), then logged out. */
export async function totpUser(h: Harness, f: TestFirm, o: PersonOptions = {}): Promise<TotpUser> {
  const user = await person(h, f, o);
  const agent = await loginAs(h, f, user, 'enroll');
  const begun = (await agent.post(api('/mfa/enrollment/totp'), {})).json() as { authenticatorId: string; secret: string };
  const res = await agent.post(api(`/mfa/enrollment/totp/${begun.authenticatorId}/confirm`), { code: totpCode(h, begun.secret) });
  expect(res.statusCode, res.body).toBe(200);
  await agent.post(api('/logout'));
  return { user, secret: begun.secret, authenticatorId: begun.authenticatorId, backupCodes: res.json().backupCodes };
}

// --- the Tessera Authenticator (push) ---------------------------------------------------

/** Starts the enrollment of the Tessera Authenticator in the agent's session: the QR code's link. */
export async function beginMobile(agent: Agent) {
  const res = await agent.post(api('/mfa/enrollment/push'), { phone: PHONE });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { authenticatorId: string; activationUrl: string; qrSvg: string; expiresAt: number };
}

export interface PushUser {
  f: TestFirm;
  user: UserView;
  device: DeviceSimulator;
  authenticatorId: string;
}

/**
 * A user who enrolled the Tessera Authenticator at first login (QR code, activation by the
 * simulated phone, complete), from `browser` (a new one unless given), then logged out.
 */
export async function pushUser(h: Harness, f: TestFirm, o: PersonOptions & { browser?: Agent } = {}): Promise<PushUser> {
  const user = await person(h, f, o);
  const agent = await loginAs(h, f, user, 'enroll', o.browser);
  const begun = await beginMobile(agent);
  const device = await DeviceSimulator.create(h.app, h.clock);
  const activated = await device.activate(begun.activationUrl);
  expect(activated.statusCode, activated.body).toBe(200);
  const done = await agent.post(api(`/mfa/enrollment/push/${begun.authenticatorId}/complete`));
  expect(done.statusCode, done.body).toBe(200);
  await agent.post(api('/logout'));
  return { f, user, device, authenticatorId: begun.authenticatorId };
}

/** Sends a push from a pending login; asserts 201 and returns the transaction. */
export async function sendPush(agent: Agent) {
  const res = await agent.post(api('/mfa/push'));
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { transactionId: string; number: string; expiresAt: number; expiresInSeconds: number };
}

// --- security keys ----------------------------------------------------------------------

/** A software security key for the harness's origin (user verification when `uv`). */
export const softKey = (h: Harness, o: { uv?: boolean; origin?: string } = {}) => new SoftAuthenticator({ origin: o.origin ?? h.ctx.config.publicUrl.origin, uv: o.uv });

/** The registration options of a new key in the agent's session; asserts 200. */
export async function keyOptions(agent: Agent, label = 'Security key', passkey?: boolean) {
  const res = await agent.post(api('/mfa/enrollment/webauthn/options'), { label, ...(passkey === undefined ? {} : { passkey }) });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { authenticatorId: string; options: { challenge: string; rp: { id: string; name: string }; user: { id: string }; [k: string]: unknown } };
}

/** Registers a key in the agent's session (enrollment or "add another"); asserts success. */
export async function registerKey(agent: Agent, key: SoftAuthenticator, label = 'Security key', o: RegisterOverrides = {}, passkey?: boolean) {
  const { authenticatorId, options } = await keyOptions(agent, label, passkey);
  const { response, credential } = key.register(options, o);
  const res: LightMyRequestResponse = await agent.post(api(`/mfa/enrollment/webauthn/${authenticatorId}/verify`), { response });
  expect(res.statusCode, res.body).toBe(200);
  return { authenticatorId, credential, res, body: res.json() as { next: string; backupCodes: string[] | null } };
}

export interface KeyUser {
  f: TestFirm;
  user: UserView;
  key: SoftAuthenticator;
  credential: SoftCredential;
  authenticatorId: string;
}

/** A user who enrolled a security key (named `label`, 'Blue key' unless given) at first login, then logged out. */
export async function keyUser(h: Harness, f: TestFirm, o: { label?: string; overrides?: RegisterOverrides } = {}): Promise<KeyUser> {
  const user = await person(h, f);
  const agent = await loginAs(h, f, user, 'enroll');
  const key = softKey(h);
  const { credential, authenticatorId } = await registerKey(agent, key, o.label ?? 'Blue key', o.overrides);
  await agent.post(api('/logout'));
  return { f, user, key, credential, authenticatorId };
}

/** The options of a security-key second factor in a pending login; asserts 200. */
export async function assertionOptions(agent: Agent) {
  const res = await agent.post(api('/mfa/webauthn/options'));
  expect(res.statusCode, res.body).toBe(200);
  return res.json().options as { challenge: string; allowCredentials: { id: string; transports?: string[] }[]; userVerification: string; rpId: string };
}
