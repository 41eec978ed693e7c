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
  createdAt: number;
}

export function userView(u: User, corporationName: string | null): UserView {
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
    createdAt: u.created_at,
  };
}
