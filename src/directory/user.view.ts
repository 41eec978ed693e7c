import { isActiveUser, type User } from './user.table.js';

/** A user as the admin API shows it: never the password hash. */
export interface UserView {
  id: string;
  email: string;
  name: string;
  kind: User['kind'];
  isSuperuser: boolean;
  corporation: { id: string; name: string } | null;
  status: User['status'];
  portalAccess: User['portal_access'];
  recordState: User['record_state'];
  active: boolean;
  hasPassword: boolean;
  /** The username a Duo-integrated application knows this user by (besides the address). */
  usernameAlias: string | null;
  createdAt: number;
  mfa: UserMfaView;
}

/** The user's second factor as their administrator sees it (issue 4.5). */
export interface UserMfaView {
  /** Holds a seat: has at least one active authenticator. */
  enrolled: boolean;
  /** Until when the second factor is locked after too many failures; null when it is not (any more). */
  lockedUntil: number | null;
  /** Consecutive failed second-factor attempts. */
  failedAttempts: number;
}

/** `enrolled` comes from the same query as the row (an EXISTS on seats); `now` decides whether a lock is still on. */
export function userView(u: User, corporationName: string | null, enrolled: unknown, now: number): UserView {
  const lockedUntil = u.mfa_locked_until === null ? null : Number(u.mfa_locked_until);
  return {
    id: u.id,
    email: u.email,
    name: u.name,
    kind: u.kind,
    isSuperuser: u.is_superuser === 1,
    corporation: u.corporation_id ? { id: u.corporation_id, name: corporationName ?? '' } : null,
    status: u.status,
    portalAccess: u.portal_access,
    recordState: u.record_state,
    active: isActiveUser(u),
    hasPassword: u.password_hash !== null,
    usernameAlias: u.username_alias,
    createdAt: u.created_at,
    mfa: {
      // SQLite answers EXISTS with 1/0, PostgreSQL with true/false.
      enrolled: enrolled === true || Number(enrolled) === 1,
      lockedUntil: lockedUntil !== null && lockedUntil > now ? lockedUntil : null,
      failedAttempts: Number(u.mfa_failed_count),
    },
  };
}
