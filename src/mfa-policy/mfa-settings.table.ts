import type { Generated, Selectable } from 'kysely';

/** A firm's MFA configuration (reference A.2.1 to A.2.3). No row = everything off. */
export interface MfaSettingsTable {
  firm_id: string;
  case_managers: number;
  vendor_case_managers: number;
  /** 'all': the two switches below apply to every corporation; 'specific': per corporation in mfa_corporations. */
  corporation_scope: 'all' | 'specific';
  all_corp_users: number;
  all_foreign_nationals: number;
  /** Consecutive failed second-factor attempts that lock it, and for how long. */
  lockout_threshold: Generated<number>;
  lockout_minutes: Generated<number>;
  /** "Remember this browser" lifetime in days; 0 = not offered. */
  remember_days: Generated<number>;
  /** 1: enrolled users may sign in with a passkey instead of the password (issue 6); off by default. */
  passkeys_enabled: Generated<number>;
  /** Push approvals (issue 5): digits of the number typed into the app (3 or 6), and the push-bombing limit. */
  push_number_digits: Generated<number>;
  push_max_per_window: Generated<number>;
  push_window_minutes: Generated<number>;
  updated_at: number;
}
export type MfaSettings = Selectable<MfaSettingsTable>;

/** A corporation added to the "specific corporations" list, with its two switches (A.2.3.2). */
export interface MfaCorporationTable {
  corporation_id: string;
  firm_id: string;
  corp_users: number;
  foreign_nationals: number;
  added_at: number;
}
export type MfaCorporation = Selectable<MfaCorporationTable>;
