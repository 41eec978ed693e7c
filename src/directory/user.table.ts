import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

export const USER_KINDS = ['case_manager', 'vendor_case_manager', 'corp_user', 'foreign_national'] as const;
export type UserKind = (typeof USER_KINDS)[number];
export const STAFF_KINDS: readonly UserKind[] = ['case_manager', 'vendor_case_manager'];
export const CORPORATION_KINDS: readonly UserKind[] = ['corp_user', 'foreign_national'];
export const isStaffKind = (kind: UserKind) => STAFF_KINDS.includes(kind);

/**
 * A firm user. Staff (case managers, vendor case managers) have `status`;
 * corp users and foreign nationals belong to a corporation and have `portal_access`
 * and `record_state` instead (reference A.2.9). The columns of the other group are null.
 */
export interface UserTable {
  id: string;
  firm_id: string;
  /** Normalised: trimmed and lower-case. Unique within a firm. */
  email: string;
  name: string;
  kind: UserKind;
  /** 1 for a firm administrator; only case managers can be superusers. */
  is_superuser: number;
  corporation_id: string | null;
  status: 'active' | 'disabled' | null;
  portal_access: 'enabled' | 'disabled' | null;
  record_state: 'active' | 'inactive' | null;
  password_hash: string | null;
  /** When the "MFA is now on" mail went out (A.2.5); cleared when MFA no longer applies to the user. */
  mfa_notified_at: number | null;
  /** Consecutive failed second-factor attempts (any factor); reset on success. */
  mfa_failed_count: Generated<number>;
  /** Second factor locked until then (epoch ms) after too many failures. */
  mfa_locked_until: number | null;
  /** Pushes to this user paused until then (epoch ms) after a fraud report (issue 5.6); passcodes and keys still work. */
  push_paused_until: Generated<number | null>;
  /**
   * The address before the latest change of `email`, and when that change was (migration 0010).
   * For 7 days after a change, security notices go to this address too (src/notify/security-notice.ts).
   */
  previous_email: string | null;
  email_changed_at: number | null;
  /** The username a Duo-integrated application knows this user by (migration 0020), besides the address; unique in the firm regardless of case. */
  username_alias: Generated<string | null>;
  created_at: number;
  updated_at: number;
}
export type User = Selectable<UserTable>;
export type NewUser = Insertable<UserTable>;
export type UserUpdate = Updateable<UserTable>;

/** Can this user log in at all? (Disabled staff, or corporation users without portal access or with an inactive record, cannot.) */
export function isActiveUser(u: Pick<User, 'kind' | 'status' | 'portal_access' | 'record_state'>): boolean {
  return isStaffKind(u.kind) ? u.status === 'active' : u.portal_access === 'enabled' && u.record_state === 'active';
}
