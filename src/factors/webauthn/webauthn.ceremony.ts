import { randomUUID } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { audit, type Actor } from '../../audit/audit.service.js';
import type { AppContext } from '../../context.js';
import type { DbOrTx } from '../../db/database.js';
import { templates } from '../../notify/templates.js';
import { CHALLENGE_TTL_MS, consumeChallenge, findLiveChallenge, issueChallenge, type ChallengeLookup, type ChallengeProblem } from './webauthn.challenges.js';
import type { AuthenticationResponse, RegistrationResponse } from './webauthn.schemas.js';
import type { WebAuthnChallengeRow, WebAuthnCredentialRow } from './webauthn.table.js';
import { mailSuperusers } from '../../notify/superusers.js';
import { PLATFORM_NAME, mailOperators, operatorsUrl } from '../../operators/operator-mail.js';
import { ownedBy, ownerColumns, type FactorUser } from '../factor.js';

/** The login attempt a ceremony is bound to, and the web door's session of it (recorded beside it). */
export interface AttemptBinding {
  attemptId: string;
  sessionId: string | null;
}

/** COSE algorithms accepted (issue 6.3): ES256, EdDSA, RS256, and nothing else. */
export const WEBAUTHN_ALGORITHMS: readonly number[] = [-7, -8, -257];
/** The spec's ceiling for a credential id (WebAuthn L3 7.1 step 23). */
export const MAX_CREDENTIAL_ID_BYTES = 1023;

/**
 * Per-field ceilings, tighter than the 16 KiB the body schema allows: real ceremonies are far
 * below them (clientDataJSON ~200 bytes, an assertion's authenticatorData 37, a "none"
 * attestation with an RSA key ~1.5 KiB), so anything above is refused before any decoder runs.
 */
const LIMITS = { clientDataJSON: 4096, authenticatorData: 4096, attestationObject: 12 * 1024, signature: 1024, publicKey: 4096 } as const;
const TOTAL_LIMIT = 16 * 1024;
const B64URL = /^[A-Za-z0-9_-]+={0,2}$/;
const CHALLENGE_TEXT = /^[A-Za-z0-9_-]{43}$/;

/** The relying party is Tessera's public URL, always (issue 6.3): its host is the RP ID, its origin the expected origin. */
export function relyingParty(ctx: AppContext): { id: string; origin: string } {
  return { id: ctx.config.publicUrl.hostname, origin: ctx.config.publicUrl.origin };
}

/** Why a ceremony was refused; the audit log keeps it, the answer never says. */
export type CeremonyReason =
  | 'malformed'
  | 'oversized'
  | ChallengeProblem
  | 'verification'
  | 'credential_id_mismatch'
  | 'credential_id_too_long'
  | 'credential_exists'
  | 'not_discoverable'
  | 'unknown_credential'
  | 'user_handle'
  | 'counter_regression';

export type CeremonyFailure = { ok: false; reason: CeremonyReason; detail?: string };

export const isChallengeProblem = (reason: CeremonyReason): reason is ChallengeProblem => reason.startsWith('challenge_');

/** The user handle of a user: their id's bytes (no personal data; the same for every key of theirs). */
export const userHandleOf = (userId: string) => Buffer.from(userId, 'utf8');

const detailOf = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 200);

/** Infinity for JSON nested too deep to serialize (extension outputs are an open schema): too big, not a 500. */
function serializedLength(value: unknown): number {
  try {
    return JSON.stringify(value).length;
  } catch {
    return Infinity;
  }
}

/**
 * The first checks of any response, before a decoder: sizes, the base64url alphabet, and a
 * clientDataJSON that is a JSON object with a well-formed challenge. Returns that challenge.
 */
function precheck(fields: Record<string, string | undefined>, whole: unknown): { ok: true; challenge: string } | CeremonyFailure {
  if (serializedLength(whole) > TOTAL_LIMIT) return { ok: false, reason: 'oversized' };
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const limit = LIMITS[name as keyof typeof LIMITS];
    if (limit !== undefined && value.length > limit) return { ok: false, reason: 'oversized', detail: name };
    if (!B64URL.test(value)) return { ok: false, reason: 'malformed', detail: name };
  }
  let clientData: unknown;
  try {
    clientData = JSON.parse(Buffer.from(fields.clientDataJSON!, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed', detail: 'clientDataJSON' };
  }
  const challenge = (clientData as { challenge?: unknown } | null)?.challenge;
  if (typeof clientData !== 'object' || clientData === null || typeof challenge !== 'string' || !CHALLENGE_TEXT.test(challenge)) {
    return { ok: false, reason: 'malformed', detail: 'clientDataJSON' };
  }
  return { ok: true, challenge };
}

/** base64url without padding, the form credential ids are stored in; null when it is not base64url. */
function canonicalId(id: string): string | null {
  if (!B64URL.test(id)) return null;
  return Buffer.from(id, 'base64url').toString('base64url');
}

// --- Registration -----------------------------------------------------------------------------

export interface RegistrationStart {
  authenticatorId: string;
  options: PublicKeyCredentialCreationOptionsJSON;
}

/**
 * Options for a new security key (or, with `passkey`, a passkey) of a user: a pending
 * authenticator with the label (an older pending key of the user is replaced) and a
 * 'register' challenge bound to the login attempt. The user's existing keys are excluded, so the
 * browser says "already registered" instead of making a second credential on the same key.
 */
export async function beginRegistration(
  ctx: AppContext,
  db: DbOrTx,
  input: { user: FactorUser & { email: string; name: string }; firmName: string; attempt: AttemptBinding; label: string; passkey: boolean },
): Promise<RegistrationStart> {
  const { user } = input;
  const now = ctx.clock.now();
  await db.deleteFrom('authenticators').where(ownedBy('authenticators', user)).where('kind', '=', 'webauthn').where('status', '=', 'pending').execute();
  const authenticatorId = randomUUID();
  await db
    .insertInto('authenticators')
    .values({ id: authenticatorId, ...ownerColumns(user), kind: 'webauthn', label: input.label, status: 'pending', created_at: now, confirmed_at: null, last_used_at: null, phone_e164: null })
    .execute();
  const { bytes } = await issueChallenge(ctx, db, input.passkey ? 'register_passkey' : 'register', { ...input.attempt, userId: user.firm_id === null ? null : user.id, firmId: user.firm_id });
  const existing = await userCredentials(db, user);
  const options = await generateRegistrationOptions({
    rpName: input.firmName,
    rpID: relyingParty(ctx).id,
    userID: userHandleOf(user.id),
    userName: user.email,
    userDisplayName: user.name,
    challenge: bytes,
    timeout: CHALLENGE_TTL_MS,
    attestationType: 'none',
    excludeCredentials: existing.map((c) => ({ id: c.credential_id, transports: parseTransports(c.transports) })),
    // Security keys: presence required, verification welcome but not required (issue 6.3).
    // Passkeys: stored on the authenticator and verified (PIN, biometrics), since they replace the password.
    authenticatorSelection: input.passkey
      ? { residentKey: 'required', requireResidentKey: true, userVerification: 'required' }
      : { residentKey: 'discouraged', requireResidentKey: false, userVerification: 'preferred' },
    supportedAlgorithmIDs: [...WEBAUTHN_ALGORITHMS],
  });
  return { authenticatorId, options };
}

export interface NewCredential {
  credentialId: string;
  publicKey: string;
  counter: number;
  transports: string[];
  aaguid: string;
  backedUp: boolean;
  discoverable: boolean;
  userVerified: boolean;
  passkey: boolean;
}

/**
 * Checks a registration response without writing anything: precheck, the live challenge of
 * this login attempt, then @simplewebauthn/server with our RP ID, origin and algorithms (every
 * error it throws is a refusal, never a 500), the credential id (the one in authData, at
 * most 1023 bytes, not registered by anyone yet). `consumeChallenge` and the insert follow
 * in the caller's transaction.
 */
export async function checkRegistration(
  ctx: AppContext,
  db: DbOrTx,
  attemptId: string,
  response: RegistrationResponse,
): Promise<({ ok: true; challenge: WebAuthnChallengeRow } & NewCredential) | CeremonyFailure> {
  const pre = precheck(
    { clientDataJSON: response.response.clientDataJSON, attestationObject: response.response.attestationObject, authenticatorData: response.response.authenticatorData, publicKey: response.response.publicKey },
    response,
  );
  if (!pre.ok) return pre;
  const live = await findLiveChallenge(db, ctx.clock.now(), { purposes: ['register', 'register_passkey'], attemptId, challenge: pre.challenge });
  if (!live.ok) return live;
  const passkey = live.row.purpose === 'register_passkey';
  const rp = relyingParty(ctx);
  let info;
  try {
    const verified = await verifyRegistrationResponse({
      response: response as RegistrationResponseJSON,
      expectedChallenge: live.row.challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      expectedType: 'webauthn.create',
      requireUserPresence: true,
      requireUserVerification: passkey,
      supportedAlgorithmIDs: [...WEBAUTHN_ALGORITHMS],
    });
    if (!verified.verified) return { ok: false, reason: 'verification', detail: 'attestation not verified' };
    info = verified.registrationInfo;
  } catch (err) {
    return { ok: false, reason: 'verification', detail: detailOf(err) };
  }
  const idBytes = Buffer.from(info.credential.id, 'base64url');
  const credentialId = idBytes.toString('base64url');
  if (idBytes.length > MAX_CREDENTIAL_ID_BYTES) return { ok: false, reason: 'credential_id_too_long' };
  // The id the browser names must be the one the authenticator put in authData.
  if (canonicalId(response.id) !== credentialId || canonicalId(response.rawId) !== credentialId) return { ok: false, reason: 'credential_id_mismatch' };
  // credProps (WebAuthn L2 10.4) says whether the key stored the credential; a passkey was required to.
  // It is unsigned client output: it can refuse a passkey registration (the browser says the key
  // did not store it), never make one. Whether a credential may sign in without a password is
  // the challenge's purpose, which only the server set (`passkey` below, stored as `purpose`).
  const rk = (response.clientExtensionResults as { credProps?: { rk?: unknown } }).credProps?.rk;
  const discoverable = rk === true || (passkey && rk === undefined);
  if (passkey && !discoverable) return { ok: false, reason: 'not_discoverable' };
  const taken = await db.selectFrom('webauthn_credentials').select('authenticator_id').where('credential_id', '=', credentialId).executeTakeFirst();
  if (taken) return { ok: false, reason: 'credential_exists' };
  return {
    ok: true,
    challenge: live.row,
    credentialId,
    publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
    counter: info.credential.counter,
    transports: [...new Set(response.response.transports ?? [])],
    aaguid: info.aaguid,
    backedUp: info.credentialBackedUp,
    discoverable,
    userVerified: info.userVerified,
    passkey,
  };
}

/** Stores a checked credential for a pending authenticator; false when its id got registered meanwhile (unique index). */
export async function storeCredential(ctx: AppContext, db: DbOrTx, authenticatorId: string, c: NewCredential): Promise<boolean> {
  const inserted = await db
    .insertInto('webauthn_credentials')
    .values({
      authenticator_id: authenticatorId,
      credential_id: c.credentialId,
      public_key: c.publicKey,
      counter: c.counter,
      transports: JSON.stringify(c.transports),
      aaguid: c.aaguid,
      backed_up: c.backedUp ? 1 : 0,
      discoverable: c.discoverable ? 1 : 0,
      // The server's own record of what this registration was for (see checkRegistration).
      purpose: c.passkey ? 'passkey' : 'second_factor',
      created_at: ctx.clock.now(),
    })
    .onConflict((oc) => oc.column('credential_id').doNothing())
    .executeTakeFirst();
  return Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1;
}

// --- Authentication ---------------------------------------------------------------------------

/** A credential with its owner: a firm user's (user_id, firm_id) or an operator's (operator_id). */
export interface StoredCredential extends WebAuthnCredentialRow {
  user_id: string | null;
  firm_id: string | null;
  operator_id: string | null;
  label: string;
}

/** The one id a credential's owner has (the user handle is made of it). */
const ownerIdOf = (c: StoredCredential) => (c.user_id ?? c.operator_id)!;

function parseTransports(json: string): string[] {
  try {
    const list: unknown = JSON.parse(json);
    return Array.isArray(list) ? list.filter((t): t is string => typeof t === 'string') : [];
  } catch {
    return [];
  }
}

/** The credentials of a user's (or operator's) active (and, for exclusion, pending) security keys. */
async function userCredentials(db: DbOrTx, owner: FactorUser, activeOnly = false): Promise<StoredCredential[]> {
  let q = db
    .selectFrom('webauthn_credentials')
    .innerJoin('authenticators', 'authenticators.id', 'webauthn_credentials.authenticator_id')
    .selectAll('webauthn_credentials')
    .select(['authenticators.user_id', 'authenticators.firm_id', 'authenticators.operator_id', 'authenticators.label'])
    .where(ownedBy('authenticators', owner))
    .where('authenticators.kind', '=', 'webauthn');
  if (activeOnly) q = q.where('authenticators.status', '=', 'active');
  return q.orderBy('webauthn_credentials.created_at').execute();
}

/**
 * Options for an assertion. With a user (the second factor): their active keys with
 * transports, user verification preferred, an 'authenticate' challenge bound to the login attempt.
 * Without (a passkey sign-in): no list, so the authenticator offers its discoverable
 * credentials, user verification required, a 'passkey' challenge with no session.
 */
export async function beginAuthentication(
  ctx: AppContext,
  db: DbOrTx,
  who: { owner: FactorUser; attempt: AttemptBinding } | null,
): Promise<{ challengeId: string; options: PublicKeyCredentialRequestOptionsJSON; keys: number }> {
  const keys = who ? await userCredentials(db, who.owner, true) : [];
  const { id, bytes } = who
    ? await issueChallenge(ctx, db, 'authenticate', { ...who.attempt, userId: who.owner.firm_id === null ? null : who.owner.id, firmId: who.owner.firm_id })
    : await issueChallenge(ctx, db, 'passkey', { attemptId: null, sessionId: null, userId: null, firmId: null });
  const options = await generateAuthenticationOptions({
    rpID: relyingParty(ctx).id,
    challenge: bytes,
    timeout: CHALLENGE_TTL_MS,
    userVerification: who ? 'preferred' : 'required',
    ...(who ? { allowCredentials: keys.map((k) => ({ id: k.credential_id, transports: parseTransports(k.transports) })) } : {}),
  });
  return { challengeId: id, options, keys: keys.length };
}

export interface CheckedAssertion {
  ok: true;
  challenge: WebAuthnChallengeRow;
  credential: StoredCredential;
  newCounter: number;
  userVerified: boolean;
  backedUp: boolean;
}

export type AssertionFailure = CeremonyFailure & { credential?: StoredCredential; newCounter?: number };

/**
 * Checks an assertion without writing anything, as a declared list of steps:
 *   1. precheck     - sizes, base64url, a readable clientDataJSON;
 *   2. challenge    - live, of this login attempt (or the passkey challenge named by id);
 *   3. credential   - registered, active, and (second factor) the user's own in the user's firm:
 *                     a key of another user or firm is "not accepted" like a forged one;
 *   4. signature    - @simplewebauthn/server with our RP ID and origin, user presence always,
 *                     user verification when asked; a throw is a refusal;
 *   5. user handle  - when present it must be the credential's user (required for passkeys);
 *   6. counter      - after a valid signature only: a counter that did not go up while either
 *                     is non-zero means two copies of the key exist (WebAuthn L3 6.1.1).
 * The library gets the stored counter as 0 so that step 6 is ours and runs only on a genuine signature.
 */
export async function checkAssertion(
  ctx: AppContext,
  db: DbOrTx,
  input: {
    response: AuthenticationResponse;
    challenge: { attemptId: string } | { id: string };
    /** The user or operator answering a second factor; null for a passkey sign-in (firm users' keys only). */
    owner: FactorUser | null;
    requireUserVerification: boolean;
  },
): Promise<CheckedAssertion | AssertionFailure> {
  const { response } = input;
  const r = response.response;
  const pre = precheck({ clientDataJSON: r.clientDataJSON, authenticatorData: r.authenticatorData, signature: r.signature }, response);
  if (!pre.ok) return pre;
  const lookup: ChallengeLookup =
    'id' in input.challenge
      ? { purposes: ['passkey'], id: input.challenge.id, challenge: pre.challenge }
      : { purposes: ['authenticate'], attemptId: input.challenge.attemptId, challenge: pre.challenge };
  const live = await findLiveChallenge(db, ctx.clock.now(), lookup);
  if (!live.ok) return live;

  const credentialId = canonicalId(response.id);
  if (credentialId === null || canonicalId(response.rawId) !== credentialId) return { ok: false, reason: 'malformed', detail: 'id' };
  let q = db
    .selectFrom('webauthn_credentials')
    .innerJoin('authenticators', 'authenticators.id', 'webauthn_credentials.authenticator_id')
    .selectAll('webauthn_credentials')
    .select(['authenticators.user_id', 'authenticators.firm_id', 'authenticators.operator_id', 'authenticators.label'])
    .where('webauthn_credentials.credential_id', '=', credentialId)
    .where('authenticators.kind', '=', 'webauthn')
    .where('authenticators.status', '=', 'active');
  // A passkey signs in a firm user; an operator's key is never one.
  q = input.owner ? q.where(ownedBy('authenticators', input.owner)) : q.where('authenticators.user_id', 'is not', null);
  const credential = await q.executeTakeFirst();
  if (!credential) return { ok: false, reason: 'unknown_credential' };

  const rp = relyingParty(ctx);
  let verified;
  try {
    verified = await verifyAuthenticationResponse({
      response: response as AuthenticationResponseJSON,
      expectedChallenge: live.row.challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      expectedType: 'webauthn.get',
      credential: { id: credential.credential_id, publicKey: new Uint8Array(Buffer.from(credential.public_key, 'base64url')), counter: 0 },
      requireUserVerification: input.requireUserVerification,
    });
  } catch (err) {
    return { ok: false, reason: 'verification', detail: detailOf(err), credential };
  }
  if (!verified.verified) return { ok: false, reason: 'verification', detail: 'signature', credential };
  const info = verified.authenticationInfo;

  // A passkey names its user (the user handle); it must be the credential's owner. A security
  // key at the second factor may leave it out (U2F keys and non-discoverable credentials do).
  const mismatch = r.userHandle ? canonicalId(r.userHandle) !== userHandleOf(ownerIdOf(credential)).toString('base64url') : input.owner === null;
  if (mismatch) return { ok: false, reason: 'user_handle', credential };
  const stored = Number(credential.counter);
  if ((info.newCounter > 0 || stored > 0) && info.newCounter <= stored) {
    return { ok: false, reason: 'counter_regression', credential, newCounter: info.newCounter };
  }
  return { ok: true, challenge: live.row, credential, newCounter: info.newCounter, userVerified: info.userVerified, backedUp: info.credentialBackedUp };
}

/**
 * Records a checked assertion in the transaction of the success: the challenge is used up
 * (one conditional UPDATE), the counter moves forward only (one conditional UPDATE: a
 * concurrent assertion with the same or a higher counter wins, this one is a regression),
 * the key's last use is noted.
 */
export async function recordAssertion(ctx: AppContext, db: DbOrTx, a: CheckedAssertion): Promise<'ok' | 'challenge_used' | 'counter_regression'> {
  const now = ctx.clock.now();
  if (!(await consumeChallenge(db, now, a.challenge))) return 'challenge_used';
  const moved = await db
    .updateTable('webauthn_credentials')
    .set({ counter: a.newCounter, backed_up: a.backedUp ? 1 : 0 })
    .where('authenticator_id', '=', a.credential.authenticator_id)
    // A key without a counter reports 0 every time (allowed while both stay 0); else strictly up.
    .where('counter', a.newCounter === 0 ? '=' : '<', a.newCounter)
    .executeTakeFirst();
  if (Number(moved.numUpdatedRows) === 0) return 'counter_regression';
  await db.updateTable('authenticators').set({ last_used_at: now }).where('id', '=', a.credential.authenticator_id).execute();
  return 'ok';
}

/**
 * A counter that went backwards (issue 6.3): flagged in the audit log and mailed to every
 * active superuser of the firm (an operator's key: to every active operator) as a possibly
 * cloned key. Written in the transaction that records the refusal.
 */
export async function reportCounterRegression(
  ctx: AppContext,
  db: DbOrTx,
  actor: Actor,
  credential: StoredCredential,
  newCounter: number | undefined,
): Promise<void> {
  const now = ctx.clock.now();
  await audit(db, now, actor, {
    event: 'mfa.webauthn_counter_regression',
    firmId: credential.firm_id,
    subjectType: credential.operator_id ? 'operator' : 'user',
    subjectId: ownerIdOf(credential),
    details: { authenticatorId: credential.authenticator_id, label: credential.label, storedCounter: Number(credential.counter), receivedCounter: newCounter ?? null },
  });
  const url = new URL('/admin/users', ctx.config.publicUrl).toString();
  if (credential.user_id === null || credential.firm_id === null) {
    const op = await db.selectFrom('operators').select(['name', 'email']).where('id', '=', ownerIdOf(credential)).executeTakeFirstOrThrow();
    const content = templates.securityKeyCloned({ firmName: PLATFORM_NAME, userName: op.name, userEmail: op.email, keyName: credential.label, at: now, ip: actor.ip, url: operatorsUrl(ctx) });
    return mailOperators(ctx, db, content);
  }
  const user = await db
    .selectFrom('users')
    .innerJoin('firms', 'firms.id', 'users.firm_id')
    .select(['users.name', 'users.email', 'firms.name as firmName'])
    .where('users.id', '=', credential.user_id)
    .executeTakeFirstOrThrow();
  const content = templates.securityKeyCloned({
    firmName: user.firmName,
    userName: user.name,
    userEmail: user.email,
    keyName: credential.label,
    at: now,
    ip: actor.ip,
    url,
  });
  await mailSuperusers(ctx, db, credential.firm_id, content);
}
