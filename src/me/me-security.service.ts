import { audit, type Actor, type AuditEntry } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import type { User } from '../directory/user.table.js';
import type { Authenticator } from '../enrollment/authenticator.table.js';
import type { AuthenticatorKind } from '../factors/kinds.js';
import { resetEnrollment } from '../core/enrollment-reset.js';
import { isEnrolled } from '../core/enrolled.js';
import { AppError, notFound, secondFactorRequired } from '../core/errors.js';
import { issueBackupCodes, unusedBackupCodes } from '../factors/backup-codes/backup-codes.factor.js';
import { isMfaEnabled, loadMfaPolicy } from '../mfa-policy/mfa-policy.js';
import { mailSecurityNotice, mySecurityUrl } from '../notify/security-notice.js';
import { templates } from '../notify/templates.js';
import type { Session } from '../sessions/session.table.js';
import { ownedBy } from '../factors/factor.js';
import { STEP_UP_MAX_AGE_MS, hasFreshStepUp } from '../mfa/pending-login.js';
import { describeUserAgent } from '../factors/push/user-agent.js';
import { forgetRememberedBrowsers } from '../core/remembered-browsers.js';
import { loadLoginPolicy } from '../mfa-policy/mfa-login-policy.service.js';
import type { OperatorSubject } from '../http/auth.js';

/**
 * My security (issue 4.6): a logged-in user's own authenticators and backup codes.
 * Every change
 *  - is made under a lock on the user's row, so two concurrent removals cannot both think
 *    the other authenticator is still there and leave the user with none and a seat held;
 *  - needs a second factor passed in this very session, at most STEP_UP_MAX_AGE_MS ago, when
 *    the user has one: a password (or a stolen session of a remembered browser, or a session
 *    left open since the morning) must not be enough to swap the factor;
 *  - is audited and mailed to the user, who learns of a change they did not make.
 */

export interface MyAuthenticatorView {
  id: string;
  kind: AuthenticatorKind;
  label: string;
  phone: string | null;
  createdAt: number;
  lastUsedAt: number | null;
}

/** A browser that skips the second factor ("Remember this browser"), as the user sees it. */
export interface RememberedBrowserView {
  browser: string;
  os: string;
  createdAt: number;
  expiresAt: number;
}

export interface MySecurityView {
  mfaEnabled: boolean;
  enrolled: boolean;
  secondFactorThisSession: boolean;
  /** Changes need a (new) second factor first: the user has an authenticator and no fresh step-up. */
  stepUpRequired: boolean;
  /** The firm allows passkey sign-in, so "Add a passkey" may register one (never for operators). */
  passkeysAllowed: boolean;
  authenticators: MyAuthenticatorView[];
  backupCodesRemaining: number;
  rememberedBrowsers: number;
  /** The newest of them (at most REMEMBERED_LISTED). */
  rememberedBrowserList: RememberedBrowserView[];
}

/** How many remembered browsers My security lists; the count covers them all. */
const REMEMBERED_LISTED = 20;

/**
 * Who is asking: the user (or operator: firm_id null), their session, and the actor for the
 * audit log. Operators use the same My security for their own second factor (issue 8.6).
 */
export interface Me {
  user: User | OperatorSubject;
  firmName: string;
  session: Session;
  actor: Actor;
}

const authenticatorView = (a: Authenticator): MyAuthenticatorView => ({
  id: a.id,
  kind: a.kind,
  label: a.label,
  phone: a.phone_e164,
  createdAt: Number(a.created_at),
  lastUsedAt: a.last_used_at === null ? null : Number(a.last_used_at),
});

const authenticatorNotFound = () => notFound('Authenticator');

async function activeAuthenticators(db: DbOrTx, me: Pick<Me, 'user'>): Promise<Authenticator[]> {
  return db
    .selectFrom('authenticators')
    .selectAll()
    .where(ownedBy('authenticators', me.user))
    .where('status', '=', 'active')
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

export async function getMySecurity(ctx: AppContext, db: DbOrTx, me: Pick<Me, 'user' | 'session'>): Promise<MySecurityView> {
  const now = ctx.clock.now();
  const { user } = me;
  if (user.firm_id === null) {
    // An operator: always MFA, no seat, never a remembered browser.
    const [authenticators, backupCodesRemaining] = await Promise.all([activeAuthenticators(db, me), unusedBackupCodes(db, user)]);
    return {
      mfaEnabled: true,
      enrolled: authenticators.length > 0,
      secondFactorThisSession: me.session.second_factor_at !== null,
      stepUpRequired: authenticators.length > 0 && !hasFreshStepUp(me.session, now),
      passkeysAllowed: false,
      authenticators: authenticators.map(authenticatorView),
      backupCodesRemaining,
      rememberedBrowsers: 0,
      rememberedBrowserList: [],
    };
  }
  const live = db.selectFrom('remembered_browsers').where('firm_id', '=', user.firm_id).where('user_id', '=', user.id).where('expires_at', '>', now);
  const [policy, loginPolicy, authenticators, enrolled, backupCodesRemaining, remembered, listed] = await Promise.all([
    loadMfaPolicy(db, user.firm_id, now),
    loadLoginPolicy(db, user.firm_id),
    activeAuthenticators(db, me),
    isEnrolled(db, user),
    unusedBackupCodes(db, user),
    live.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow(),
    live.select(['user_agent', 'created_at', 'expires_at']).orderBy('created_at', 'desc').limit(REMEMBERED_LISTED).execute(),
  ]);
  return {
    mfaEnabled: isMfaEnabled(policy, user),
    enrolled,
    secondFactorThisSession: me.session.second_factor_at !== null,
    stepUpRequired: authenticators.length > 0 && !hasFreshStepUp(me.session, now),
    passkeysAllowed: loginPolicy.passkeysEnabled,
    authenticators: authenticators.map(authenticatorView),
    backupCodesRemaining,
    rememberedBrowsers: Number(remembered.n),
    rememberedBrowserList: listed.map((r) => ({ ...describeUserAgent(r.user_agent), createdAt: Number(r.created_at), expiresAt: Number(r.expires_at) })),
  };
}

/**
 * The start of every change: takes the user's row lock for the transaction (an UPDATE that
 * changes nothing: PostgreSQL holds the row until commit, SQLite the database), then refuses
 * a session without a fresh second factor (step-up) when the user has an authenticator.
 */
async function beginChange(ctx: AppContext, db: DbOrTx, me: Me): Promise<Authenticator[]> {
  const { user } = me;
  if (user.firm_id === null) {
    await db.updateTable('operators').set((eb) => ({ status: eb.ref('operators.status') })).where('id', '=', user.id).execute();
  } else {
    await db
      .updateTable('users')
      .set((eb) => ({ updated_at: eb.ref('users.updated_at') }))
      .where('firm_id', '=', user.firm_id)
      .where('id', '=', user.id)
      .execute();
  }
  const active = await activeAuthenticators(db, me);
  if (active.length > 0 && !hasFreshStepUp(me.session, ctx.clock.now())) throw secondFactorRequired(STEP_UP_MAX_AGE_MS);
  return active;
}

/** Audits a change and mails the user about it (and a recent previous address: issue 12, item 3), in the transaction of the change. */
async function recordChange(ctx: AppContext, db: DbOrTx, me: Me, event: AuditEntry['event'], change: string, details: Record<string, unknown>): Promise<void> {
  const now = ctx.clock.now();
  const operator = me.user.firm_id === null;
  await audit(db, now, me.actor, { event, firmId: me.user.firm_id, subjectType: operator ? 'operator' : 'user', subjectId: me.user.id, details });
  await mailSecurityNotice(ctx, db, me.user, {
    event,
    mail: (h) => templates.securityChanged({ name: h.name, firmName: h.firmName, change, at: now, ip: me.actor.ip, url: mySecurityUrl(ctx, me.user) }),
  });
}

export async function renameAuthenticator(ctx: AppContext, db: DbOrTx, me: Me, authenticatorId: string, label: string): Promise<MyAuthenticatorView> {
  const active = await beginChange(ctx, db, me);
  const target = active.find((a) => a.id === authenticatorId);
  if (!target) throw authenticatorNotFound();
  const next = label.trim();
  if (next === target.label) return authenticatorView(target);
  await db
    .updateTable('authenticators')
    .set({ label: next })
    .where(ownedBy('authenticators', me.user))
    .where('id', '=', target.id)
    .execute();
  await recordChange(ctx, db, me, 'mfa.authenticator_renamed', `the authenticator "${target.label}" was renamed to "${next}"`, {
    authenticatorId: target.id,
    kind: target.kind,
    from: target.label,
    to: next,
  });
  return authenticatorView({ ...target, label: next });
}

/**
 * Removes one of the user's authenticators. Removing the last one un-enrols the user: it
 * goes through the enrollment reset (backup codes and remembered browsers go too, the seat
 * is freed, the user's other sessions end), so the next login asks to enrol again. While
 * MFA is enforced for the user that needs `confirm`. With `forgetBrowsers` the user's
 * remembered browsers go too: a lost or stolen phone may be one of them, and a browser that
 * passed the second factor with the removed authenticator should not keep skipping it.
 */
export async function removeAuthenticator(
  ctx: AppContext,
  db: DbOrTx,
  me: Me,
  authenticatorId: string,
  o: { confirm: boolean; forgetBrowsers: boolean },
): Promise<void> {
  const active = await beginChange(ctx, db, me);
  const target = active.find((a) => a.id === authenticatorId);
  if (!target) throw authenticatorNotFound();
  const last = active.length === 1;
  const details = { authenticatorId: target.id, kind: target.kind, label: target.label, last };
  if (!last) {
    // Its factor data (the sealed TOTP secret) goes with it: ON DELETE CASCADE.
    await db.deleteFrom('authenticators').where(ownedBy('authenticators', me.user)).where('id', '=', target.id).execute();
    // Operators are never remembered (firm_id null): nothing to forget.
    const forgotten = o.forgetBrowsers && me.user.firm_id !== null ? await forgetRememberedBrowsers(db, me.user.id) : 0;
    const also = forgotten > 0 ? `, and your remembered browsers (${forgotten}) were forgotten` : '';
    await recordChange(ctx, db, me, 'mfa.authenticator_removed', `the authenticator "${target.label}" was removed${also}`, {
      ...details,
      ...(o.forgetBrowsers ? { rememberedBrowsersForgotten: forgotten } : {}),
    });
    return;
  }
  const { user } = me;
  if (user.firm_id === null) {
    // An operator always keeps a second factor: replacing one is adding the new one, then removing the old.
    throw new AppError('LAST_AUTHENTICATOR');
  }
  const enforced = isMfaEnabled(await loadMfaPolicy(db, user.firm_id, ctx.clock.now()), user);
  if (enforced && !o.confirm) {
    throw new AppError('CONFIRM_REQUIRED');
  }
  await recordChange(
    ctx,
    db,
    me,
    'mfa.authenticator_removed',
    `the authenticator "${target.label}" was removed; it was your last one${enforced ? ', so you will be asked to set up MFA again at your next login' : ''}`,
    { ...details, mfaEnabled: enforced },
  );
  await resetEnrollment(ctx, db, me.actor, user, 'self_removed', { keepSessionId: me.session.id });
}

/** A new set of backup codes; the old set stops working. Only for a user who has an authenticator. */
export async function regenerateBackupCodes(ctx: AppContext, db: DbOrTx, me: Me): Promise<string[]> {
  const active = await beginChange(ctx, db, me);
  // Backup codes stand in for an authenticator; without one there is nothing to recover.
  if (active.length === 0) throw new AppError('NOT_ENROLLED');
  const codes = await issueBackupCodes(ctx, db, me.user);
  await recordChange(ctx, db, me, 'mfa.backup_codes_regenerated', 'a new set of backup codes was made; the earlier codes no longer work', {
    count: codes.length,
  });
  return codes;
}

/**
 * "Forget remembered browsers" (issue 12): every browser of the user that skips the second
 * factor asks for it again at its next sign-in. It only ever takes access away, so it needs no
 * second factor in this session (a user on a remembered browser who fears another one was
 * taken can act at once); audited and mailed like every change. Returns how many were forgotten.
 */
export async function forgetMyRememberedBrowsers(ctx: AppContext, db: DbOrTx, me: Me): Promise<number> {
  // Operators are never remembered.
  if (me.user.firm_id === null) return 0;
  const forgotten = await forgetRememberedBrowsers(db, me.user.id);
  if (forgotten > 0) {
    await recordChange(ctx, db, me, 'mfa.remembered_browsers_forgotten', `your remembered browsers (${forgotten}) were forgotten: each asks for a second factor at its next sign-in`, {
      count: forgotten,
    });
  }
  return forgotten;
}
