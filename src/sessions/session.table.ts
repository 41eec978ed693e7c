import type { Generated, Insertable, Selectable } from 'kysely';

export interface SessionTable {
  /** SHA-256 of the 128-bit token in the cookie; the token itself is never stored. */
  id: string;
  principal: 'operator' | 'user';
  operator_id: string | null;
  user_id: string | null;
  firm_id: string | null;
  /** 'full' = logged in. Later stages (second factor pending) grant nothing else. */
  stage: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  /** When a second factor was passed in this session (null: password only). */
  second_factor_at: number | null;
  /** How the user signed in: RFC 8176 values as JSON text (["pwd"], ["pwd","otp","mfa"]); null for a pending session or one made before migration 0019. */
  amr: string | null;
  /** When the user signed in (epoch ms): the login's time, kept through a step-up; null as amr. */
  auth_time: number | null;
  /** 1 when the login went through on the password alone because no licence was free (migration 0024): an OpenID Connect application's sign-ins with this session count as bypasses. */
  mfa_bypassed: Generated<number>;
  ip: string | null;
  user_agent: string | null;
}
export type Session = Selectable<SessionTable>;
export type NewSession = Insertable<SessionTable>;
