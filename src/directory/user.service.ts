import { randomUUID } from 'node:crypto';
import { audit, type Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import { isForeignKeyViolation, isUniqueViolation, isUniqueViolationOf } from '../db/constraints.js';
import type { DbOrTx } from '../db/database.js';
import { AppError, notFound } from '../core/errors.js';
import type { PageOf } from '../http/schemas.js';
import { resetEnrollment, type ResetReason } from '../core/enrollment-reset.js';
import { enrolledSql } from '../core/enrolled.js';
import { issueLink, voidLinks } from '../login/one-time-token.service.js';
import { scheduleEnablementMailFor } from '../mfa-policy/enablement.js';
import { isMfaEnabled, loadMfaPolicy } from '../mfa-policy/mfa-policy.js';
import { addressChangeColumns, announceAddressChange } from '../notify/security-notice.js';
import { templates } from '../notify/templates.js';
import { deleteUserSessions } from '../sessions/session.service.js';
import { isActiveUser, isStaffKind, type User, type UserKind, type UserUpdate } from './user.table.js';
import { searchedUsers } from './user-search.js';
import { userView, type UserView } from './user.view.js';

export interface NewUserInput {
  name: string;
  email: string;
  kind: UserKind;
  isSuperuser?: boolean;
  corporationId?: string | null;
}

export interface UserPatch {
  name?: string;
  email?: string;
  isSuperuser?: boolean;
  status?: 'active' | 'disabled';
  portalAccess?: 'enabled' | 'disabled';
  recordState?: 'active' | 'inactive';
  corporationId?: string;
  /** Duo username alias; null removes it. */
  usernameAlias?: string | null;
}

const emailTaken = () => new AppError('EMAIL_TAKEN');
const fieldNotForKind = (field: string, kind: UserKind) =>
  new AppError('FIELD_NOT_FOR_KIND', `${field} does not apply to a user of kind ${kind}.`);

const corporationNotFound = () => new AppError('CORPORATION_NOT_FOUND');

async function requireCorporation(db: DbOrTx, firmId: string, corporationId: string): Promise<void> {
  const corp = await db.selectFrom('corporations').select('id').where('firm_id', '=', firmId).where('id', '=', corporationId).executeTakeFirst();
  if (!corp) throw corporationNotFound();
}

/** The constraint errors a user write can meet when another request changed things meanwhile. */
function userWriteError(err: unknown): unknown {
  if (isUniqueViolationOf(err, 'users_firm_alias_unique')) return new AppError('USERNAME_ALIAS_TAKEN');
  if (isUniqueViolation(err)) return emailTaken();
  if (isForeignKeyViolation(err)) return corporationNotFound();
  return err;
}

/**
 * A Duo username matches a user by address or alias, regardless of case (duo/duo-users.ts): an
 * alias may therefore be neither another user's alias nor another user's address. (The unique
 * index on lower(alias) also stops a race between two aliases; an address is lower case already.)
 */
async function assertAliasFree(db: DbOrTx, firmId: string, userId: string, alias: string): Promise<void> {
  const lower = alias.toLowerCase();
  const clash = await db
    .selectFrom('users')
    .select('id')
    .where('firm_id', '=', firmId)
    .where('id', '!=', userId)
    .where((eb) => eb.or([eb('email', '=', lower), eb(eb.fn('lower', ['username_alias']), '=', lower)]))
    .executeTakeFirst();
  if (clash) throw new AppError('USERNAME_ALIAS_TAKEN');
}

/**
 * One user of one firm read under its row lock for the rest of the transaction (an UPDATE that
 * changes nothing: PostgreSQL holds the row until commit, SQLite serialises writers anyway);
 * undefined when there is none. A change decided from what was read (the old address to tell, a
 * deactivation) is then not raced by another change of the same user.
 *
 * Lock order: whatever also writes a user's one-time links (an address change, a deactivation or
 * a deletion voids them; setting a password uses one) takes the user's row first, then the links,
 * so two of them wait for each other instead of deadlocking on PostgreSQL.
 */
export async function lockedUser(db: DbOrTx, firmId: string, userId: string): Promise<User | undefined> {
  return db
    .updateTable('users')
    .set((eb) => ({ updated_at: eb.ref('users.updated_at') }))
    .where('firm_id', '=', firmId)
    .where('id', '=', userId)
    .returningAll()
    .executeTakeFirst();
}

async function lockUser(db: DbOrTx, firmId: string, userId: string): Promise<User> {
  const user = await lockedUser(db, firmId, userId);
  if (!user) throw notFound('User');
  return user;
}

/** One user of one firm, or NOT_FOUND (also when it exists in another firm). */
export async function getUser(db: DbOrTx, firmId: string, userId: string): Promise<User> {
  const user = await db.selectFrom('users').selectAll().where('firm_id', '=', firmId).where('id', '=', userId).executeTakeFirst();
  if (!user) throw notFound('User');
  return user;
}

/** One user of one firm as the admin API shows it, in one query; NOT_FOUND also when it exists in another firm. */
export async function getUserView(db: DbOrTx, firmId: string, userId: string, now: number): Promise<UserView> {
  const row = await db
    .selectFrom('users')
    .leftJoin('corporations', 'corporations.id', 'users.corporation_id')
    .selectAll('users')
    .select('corporations.name as corporation_name')
    .select((eb) => enrolledSql(eb).as('mfa_enrolled'))
    .where('users.firm_id', '=', firmId)
    .where('users.id', '=', userId)
    .executeTakeFirst();
  if (!row) throw notFound('User');
  return userView(row, row.corporation_name, row.mfa_enrolled, now);
}

export async function listUsers(
  db: DbOrTx,
  firmId: string,
  query: { q?: string; kind?: UserKind; page?: number; pageSize?: number },
  now: number,
): Promise<PageOf<UserView>> {
  const page = query.page ?? 1;
  const pageSize = query.pageSize ?? 20;
  let base = (await searchedUsers(db, query.q, { firmId, firmNameForStaff: false }))
    .leftJoin('corporations', 'corporations.id', 'users.corporation_id')
    .where('users.firm_id', '=', firmId);
  if (query.kind) base = base.where('users.kind', '=', query.kind);
  const [{ total }] = (await base.select((eb) => eb.fn.countAll<number>().as('total')).execute()) as [{ total: number }];
  // A page past the end (or a search without matches) needs no second scan.
  if ((page - 1) * pageSize >= Number(total)) return { items: [], total: Number(total), page, pageSize };
  const rows = await base
    .selectAll('users')
    .select('corporations.name as corporation_name')
    .select((eb) => enrolledSql(eb).as('mfa_enrolled'))
    .orderBy('users.name')
    .orderBy('users.id')
    .limit(pageSize)
    .offset((page - 1) * pageSize)
    .execute();
  return { items: rows.map((r) => userView(r, r.corporation_name, r.mfa_enrolled, now)), total: Number(total), page, pageSize };
}

/**
 * Creates a user and mails a one-time set-password link, in one transaction.
 * Staff start active; corporation users start with portal access enabled and an active record.
 */
export async function createUser(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string, input: NewUserInput): Promise<UserView> {
  const staff = isStaffKind(input.kind);
  if (input.isSuperuser && input.kind !== 'case_manager') {
    throw new AppError('SUPERUSER_KIND');
  }
  if (staff && input.corporationId) throw fieldNotForKind('corporationId', input.kind);
  if (!staff && !input.corporationId) {
    throw new AppError('CORPORATION_REQUIRED');
  }
  if (input.corporationId) await requireCorporation(db, firmId, input.corporationId);

  const now = ctx.clock.now();
  const user: User = {
    id: randomUUID(),
    firm_id: firmId,
    email: input.email.trim().toLowerCase(),
    name: input.name.trim(),
    kind: input.kind,
    is_superuser: input.isSuperuser ? 1 : 0,
    corporation_id: staff ? null : input.corporationId!,
    status: staff ? 'active' : null,
    portal_access: staff ? null : 'enabled',
    record_state: staff ? null : 'active',
    password_hash: null,
    mfa_notified_at: null,
    username_alias: null,
    mfa_failed_count: 0,
    mfa_locked_until: null,
    push_paused_until: null,
    previous_email: null,
    email_changed_at: null,
    created_at: now,
    updated_at: now,
  };
  const existing = await db.selectFrom('users').select('id').where('firm_id', '=', firmId).where('email', '=', user.email).executeTakeFirst();
  if (existing) throw emailTaken();
  try {
    await db.insertInto('users').values(user).execute();
  } catch (err) {
    throw userWriteError(err);
  }
  // A staff user created while MFA is on for their kind learns it in this one mail (A.2.5), and
  // counts as told: no second "MFA is now on" mail whose new link would void this one's.
  const mfa = isStaffKind(user.kind) && isMfaEnabled(await loadMfaPolicy(db, firmId, now), user);
  if (mfa) await db.updateTable('users').set({ mfa_notified_at: now }).where('id', '=', user.id).execute();
  await mailPasswordLink(ctx, db, user, { mfa });
  await audit(db, now, actor, {
    event: 'user.created',
    firmId,
    subjectType: 'user',
    subjectId: user.id,
    details: { kind: user.kind, isSuperuser: input.isSuperuser === true, corporationId: user.corporation_id },
  });
  return getUserView(db, firmId, user.id, now);
}

/** Mails a fresh set-password link (older ones stop working), bound to the address it is mailed to. */
export async function mailPasswordLink(ctx: AppContext, db: DbOrTx, user: User, opts: { mfa?: boolean } = {}): Promise<void> {
  const firm = await db.selectFrom('firms').select('name').where('id', '=', user.firm_id).executeTakeFirstOrThrow();
  const url = await issueLink(ctx, db, { purpose: 'set_password', userId: user.id, firmId: user.firm_id, email: user.email });
  await ctx.mail.enqueue(db, {
    firmId: user.firm_id,
    to: user.email,
    ...templates.setPassword({ name: user.name, firmName: firm.name, url, expiresHours: ctx.config.oneTimeLinkMs / 3_600_000, mfa: opts.mfa }),
  });
}

export async function updateUser(
  ctx: AppContext,
  db: DbOrTx,
  actor: Actor,
  firmId: string,
  userId: string,
  patch: UserPatch,
): Promise<UserView> {
  const user = await lockUser(db, firmId, userId);
  const staff = isStaffKind(user.kind);
  if (patch.status !== undefined && !staff) throw fieldNotForKind('status', user.kind);
  if (patch.portalAccess !== undefined && staff) throw fieldNotForKind('portalAccess', user.kind);
  if (patch.recordState !== undefined && staff) throw fieldNotForKind('recordState', user.kind);
  if (patch.corporationId !== undefined && staff) throw fieldNotForKind('corporationId', user.kind);
  if (patch.isSuperuser === true && user.kind !== 'case_manager') throw new AppError('SUPERUSER_KIND');
  if (actor.id === user.id && (patch.status === 'disabled' || patch.isSuperuser === false)) {
    throw new AppError('CANNOT_CHANGE_SELF', 'You cannot disable yourself or remove your own superuser role; ask another superuser.');
  }
  if (patch.corporationId !== undefined) await requireCorporation(db, firmId, patch.corporationId);

  const set: UserUpdate = {};
  if (patch.name !== undefined) set.name = patch.name.trim();
  if (patch.email !== undefined) set.email = patch.email.trim().toLowerCase();
  if (patch.isSuperuser !== undefined) set.is_superuser = patch.isSuperuser ? 1 : 0;
  if (patch.status !== undefined) set.status = patch.status;
  if (patch.portalAccess !== undefined) set.portal_access = patch.portalAccess;
  if (patch.recordState !== undefined) set.record_state = patch.recordState;
  if (patch.corporationId !== undefined) set.corporation_id = patch.corporationId;
  if (patch.usernameAlias !== undefined) set.username_alias = patch.usernameAlias === null ? null : patch.usernameAlias.trim();
  if (set.username_alias) await assertAliasFree(db, firmId, userId, set.username_alias);

  if (set.email !== undefined && set.email !== user.email) {
    const clash = await db.selectFrom('users').select('id').where('firm_id', '=', firmId).where('email', '=', set.email).executeTakeFirst();
    if (clash) throw emailTaken();
  }
  const changed = Object.fromEntries(Object.entries(set).filter(([k, v]) => user[k as keyof User] !== v));
  if (Object.keys(changed).length === 0) return getUserView(db, firmId, userId, ctx.clock.now());

  const now = ctx.clock.now();
  const newEmail = changed.email as string | undefined;
  try {
    await db
      .updateTable('users')
      .set({ ...changed, ...(newEmail !== undefined ? addressChangeColumns(newEmail, now) : {}), updated_at: now })
      .where('firm_id', '=', firmId)
      .where('id', '=', userId)
      .execute();
  } catch (err) {
    throw userWriteError(err);
  }
  const after = { ...user, ...changed } as User;
  const deactivated = isActiveUser(user) && !isActiveUser(after);
  const reactivated = !isActiveUser(user) && isActiveUser(after);
  // Issue 12, item 2: a link mailed before a change of address (perhaps to a mistyped one, which
  // a stranger may hold) or to a user who can no longer log in must not set a password any more.
  if (newEmail !== undefined || deactivated) await voidLinks(db, { userId }, now);
  // Issue 12, item 3: the old address learns of the change (an insider pointing the account at their own address).
  if (newEmail !== undefined) await announceAddressChange(ctx, db, { id: userId, firm_id: firmId }, user.email);
  // A user who can no longer log in loses every session at once, not at its idle timeout,
  // and their MFA seat comes back to the firm (A.2.9).
  if (deactivated) await resetEnrollment(ctx, db, actor, { id: userId, firm_id: firmId }, recycleReason(after));
  // MFA no longer applies to them: a later re-activation invites them to enrol again (A.2.5).
  if (deactivated) await db.updateTable('users').set({ mfa_notified_at: null }).where('firm_id', '=', firmId).where('id', '=', userId).execute();
  if (reactivated) await scheduleEnablementMailFor(ctx, db, after);
  if (deactivated || changed.email !== undefined) await deleteUserSessions(db, userId);
  await audit(db, ctx.clock.now(), actor, {
    event: deactivated ? 'user.deactivated' : 'user.updated',
    firmId,
    subjectType: 'user',
    subjectId: userId,
    details: { changed: Object.keys(changed), ...(changed.status || changed.portal_access || changed.record_state ? { active: isActiveUser(after) } : {}) },
  });
  return getUserView(db, firmId, userId, ctx.clock.now());
}

/** Which A.2.9 trigger made this user inactive. */
function recycleReason(after: User): ResetReason {
  if (after.status === 'disabled') return 'user_disabled';
  if (after.portal_access === 'disabled') return 'portal_access_disabled';
  return 'record_inactivated';
}

export async function deleteUser(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string, userId: string): Promise<void> {
  const user = await lockUser(db, firmId, userId);
  if (actor.id === user.id) throw new AppError('CANNOT_CHANGE_SELF', 'You cannot delete your own account; ask another superuser.');
  await resetEnrollment(ctx, db, actor, { id: userId, firm_id: firmId }, 'user_deleted');
  await db.deleteFrom('sessions').where('user_id', '=', userId).execute();
  // Their unused links go with them (issue 12, item 2), in this transaction.
  await db.deleteFrom('one_time_tokens').where('user_id', '=', userId).execute();
  await db.deleteFrom('users').where('firm_id', '=', firmId).where('id', '=', userId).execute();
  await audit(db, ctx.clock.now(), actor, { event: 'user.deleted', firmId, subjectType: 'user', subjectId: userId, details: { kind: user.kind } });
}

/**
 * A superuser unlocks a user's second factor (issue 4.5): the failure count starts again
 * from 0. Audited when there was something to unlock; NOT_FOUND for another firm's user.
 */
export async function unlockMfa(ctx: AppContext, db: DbOrTx, actor: Actor, firmId: string, userId: string): Promise<void> {
  const user = await getUser(db, firmId, userId);
  const now = ctx.clock.now();
  const updated = await db
    .updateTable('users')
    .set({ mfa_failed_count: 0, mfa_locked_until: null })
    .where('firm_id', '=', firmId)
    .where('id', '=', userId)
    .where((eb) => eb.or([eb('mfa_failed_count', '>', 0), eb('mfa_locked_until', 'is not', null)]))
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) return;
  const lockedUntil = user.mfa_locked_until === null ? null : Number(user.mfa_locked_until);
  await audit(db, now, actor, {
    event: 'mfa.unlocked',
    firmId,
    subjectType: 'user',
    subjectId: userId,
    details: { failedAttempts: Number(user.mfa_failed_count), wasLocked: lockedUntil !== null && lockedUntil > now, lockedUntil },
  });
}
