import { randomUUID } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';
import type { AppContext } from '../../context.js';
import { resealOnUse, type SealedColumn } from '../../crypto/reseal.js';
import type { DbOrTx } from '../../db/database.js';
import { ownedBy, ownerColumns, type FactorResult, type FactorUser, type LoginFactor } from '../factor.js';
import type { AuthenticatorKind } from '../kinds.js';

/**
 * Authenticator apps (RFC 6238). The parameters every common app reads from an otpauth URI
 * (Google Authenticator, Microsoft Authenticator, Duo Mobile, 1Password): SHA-1, 6 digits,
 * 30-second steps. Anything else is silently ignored by some of them and breaks codes.
 */
export const TOTP_PARAMS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
/** At most one time step of clock drift either side (RFC 6238 5.2). */
export const TOTP_WINDOW = 1;
const SECRET_BYTES = 20; // 160 bits, the RFC 4226 recommendation

/** The sealed secrets of authenticator apps and of the Tessera Authenticator's passcodes, each bound to its authenticator. */
export const TOTP_SECRETS: SealedColumn = {
  label: 'TOTP and device passcode secrets',
  table: 'totp_authenticators',
  id: 'authenticator_id',
  value: 'secret_enc',
  aad: (authenticatorId) => authenticatorId,
};

const totpOf = (secret: Secret, issuer = 'Tessera', label = 'user') => new TOTP({ ...TOTP_PARAMS, issuer, label, secret });

/** The otpauth:// URI of a secret, as every common authenticator app reads it. */
export function otpauthUri(issuer: string, account: string, secretBase32: string): string {
  return totpOf(Secret.fromBase32(secretBase32), issuer, account).toString();
}

/** The time step a code was made for, if it is right within the drift window; null if not. */
export function matchingStep(secretBase32: string, code: string, now: number): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const delta = totpOf(Secret.fromBase32(secretBase32)).validate({ token: code, timestamp: now, window: TOTP_WINDOW });
  return delta === null ? null : Math.floor(now / 1000 / TOTP_PARAMS.period) + delta;
}

export interface TotpEnrollment {
  authenticatorId: string;
  otpauthUri: string;
  secret: string;
  qrSvg: string;
}

/**
 * Starts an authenticator-app enrollment: a pending authenticator with a fresh 160-bit
 * secret, sealed at rest (bound to the authenticator id). An older pending one is replaced.
 */
export async function beginTotpEnrollment(
  ctx: AppContext,
  db: DbOrTx,
  user: FactorUser & { email: string },
  issuer: string,
): Promise<TotpEnrollment> {
  await db.deleteFrom('authenticators').where(ownedBy('authenticators', user)).where('kind', '=', 'totp').where('status', '=', 'pending').execute();
  const id = randomUUID();
  const secret = new Secret({ size: SECRET_BYTES }).base32;
  const now = ctx.clock.now();
  await db
    .insertInto('authenticators')
    .values({ id, ...ownerColumns(user), kind: 'totp', label: 'Authenticator app', status: 'pending', created_at: now, confirmed_at: null, last_used_at: null, phone_e164: null })
    .execute();
  await db.insertInto('totp_authenticators').values({ authenticator_id: id, secret_enc: ctx.secrets.seal(secret, id), last_step: null }).execute();
  return totpEnrollmentOf(id, issuer, user.email, secret);
}

async function totpEnrollmentOf(authenticatorId: string, issuer: string, account: string, secret: string): Promise<TotpEnrollment> {
  const uri = otpauthUri(issuer, account, secret);
  const qrSvg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return { authenticatorId, otpauthUri: uri, secret, qrSvg };
}

/**
 * The same QR code and secret again for a pending authenticator app of this owner (an enrollment
 * continued after a reload, issue 16 item 1); undefined when it is not pending any more.
 */
export async function pendingTotpEnrollment(
  ctx: AppContext,
  db: DbOrTx,
  user: FactorUser & { email: string },
  issuer: string,
  authenticatorId: string,
): Promise<TotpEnrollment | undefined> {
  const row = await db
    .selectFrom('authenticators')
    .innerJoin('totp_authenticators', 'totp_authenticators.authenticator_id', 'authenticators.id')
    .select('totp_authenticators.secret_enc')
    .where('authenticators.id', '=', authenticatorId)
    .where(ownedBy('authenticators', user))
    .where('authenticators.kind', '=', 'totp')
    .where('authenticators.status', '=', 'pending')
    .executeTakeFirst();
  if (!row) return undefined;
  const secret = await openSecret(ctx, db, authenticatorId, row.secret_enc);
  return totpEnrollmentOf(authenticatorId, issuer, user.email, secret);
}

/**
 * Checks a code against one TOTP authenticator and, when right, records its time step in
 * the same statement that refuses an older or equal one: a code is accepted once
 * (RFC 6238 5.2), even by two requests racing with it.
 */
export async function checkTotpCode(ctx: AppContext, db: DbOrTx, authenticatorId: string, code: string): Promise<FactorResult> {
  const row = await db.selectFrom('totp_authenticators').select('secret_enc').where('authenticator_id', '=', authenticatorId).executeTakeFirst();
  if (!row) return { ok: false, reason: 'wrong' };
  return checkSecret(ctx, db, authenticatorId, await openSecret(ctx, db, authenticatorId, row.secret_enc), code);
}

/**
 * The base32 secret of a sealed row, re-sealed under the current master key when it was
 * sealed under a retired one (key rotation, on use). Throws SecretUnavailable (503) when no
 * configured key opens it.
 */
async function openSecret(ctx: AppContext, db: DbOrTx, authenticatorId: string, sealed: string): Promise<string> {
  const secret = ctx.secrets.open(sealed, authenticatorId);
  await resealOnUse(ctx, db, TOTP_SECRETS, authenticatorId, sealed, secret);
  return secret.toString();
}

async function checkSecret(ctx: AppContext, db: DbOrTx, authenticatorId: string, secret: string, code: string): Promise<FactorResult> {
  const step = matchingStep(secret, code, ctx.clock.now());
  if (step === null) return { ok: false, reason: 'wrong' };
  const taken = await db
    .updateTable('totp_authenticators')
    .set({ last_step: step })
    .where('authenticator_id', '=', authenticatorId)
    .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
    .executeTakeFirst();
  if (Number(taken.numUpdatedRows) === 0) return { ok: false, reason: 'replay' };
  await db.updateTable('authenticators').set({ last_used_at: ctx.clock.now() }).where('id', '=', authenticatorId).execute();
  return { ok: true, authenticatorId };
}

/**
 * Passcodes: of an authenticator app, and the offline passcodes of the Tessera Authenticator
 * (reference 1.4.2), whose secret is a totp_authenticators row of the push authenticator;
 * one code path and one replay rule for both.
 */
export const PASSCODE_KINDS = ['totp', 'push'] as const satisfies readonly AuthenticatorKind[];

export const totpFactor: LoginFactor<'totp'> = {
  method: 'totp',
  async available(db, user) {
    const row = await db
      .selectFrom('authenticators')
      .innerJoin('totp_authenticators', 'totp_authenticators.authenticator_id', 'authenticators.id')
      .select('authenticators.id')
      .where(ownedBy('authenticators', user))
      .where('authenticators.kind', 'in', PASSCODE_KINDS)
      .where('authenticators.status', '=', 'active')
      .executeTakeFirst();
    return row !== undefined;
  },
  async verify(ctx, db, user, code) {
    if (typeof code !== 'string') return { ok: false, reason: 'wrong' };
    const mine = await db
      .selectFrom('authenticators')
      .innerJoin('totp_authenticators', 'totp_authenticators.authenticator_id', 'authenticators.id')
      .select(['authenticators.id', 'totp_authenticators.secret_enc'])
      .where(ownedBy('authenticators', user))
      .where('authenticators.kind', 'in', PASSCODE_KINDS)
      .where('authenticators.status', '=', 'active')
      // One order for every request: two sign-ins re-sealing the same rows lock them alike (no deadlock).
      .orderBy('authenticators.id')
      .execute();
    // Every secret is opened before any code is compared: one that no configured key opens stops
    // the step (503) rather than count as a wrong code, and tells nothing about the others.
    const secrets: { id: string; secret: string }[] = [];
    for (const a of mine) secrets.push({ id: a.id, secret: await openSecret(ctx, db, a.id, a.secret_enc) });
    let replay = false;
    for (const a of secrets) {
      const r = await checkSecret(ctx, db, a.id, a.secret, code);
      if (r.ok) return r;
      replay ||= r.reason === 'replay';
    }
    return { ok: false, reason: replay ? 'replay' : 'wrong' };
  },
  // totp_authenticators rows go with their authenticators (ON DELETE CASCADE).
  async reset() {},
};
