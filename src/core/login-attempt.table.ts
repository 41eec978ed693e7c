import type { Insertable, Selectable } from 'kysely';

/** Where a login came in (DESIGN.md, "One authentication core, several front doors"). */
export type Door = 'web' | 'device' | 'oidc' | 'duo';
/** What the attempt waits for: a second factor, an enrollment, or (a full session) a step-up. */
export type AttemptStage = 'second_factor' | 'enroll' | 'step_up';

/** A login in progress (migration 0016), whatever the door. */
export interface LoginAttemptTable {
  id: string;
  subject_type: 'user' | 'operator';
  user_id: string | null;
  operator_id: string | null;
  firm_id: string | null;
  stage: AttemptStage;
  door: Door;
  application_id: string | null;
  /** The web door's session; deleting the session deletes the attempt (ON DELETE CASCADE). */
  session_id: string | null;
  created_at: number;
  expires_at: number;
  /** The pending authenticator this login's enrollment began (migration 0018): what /enroll continues after a reload. */
  enrolling_authenticator_id: string | null;
}
export type LoginAttemptRow = Selectable<LoginAttemptTable>;
export type NewLoginAttempt = Insertable<LoginAttemptTable>;
