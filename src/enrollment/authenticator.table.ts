import type { Insertable, Selectable } from 'kysely';
import type { AuthenticatorKind } from '../factors/kinds.js';

/**
 * One enrolled thing. 'pending' while its enrollment is being confirmed; 'active' after.
 * A user is enrolled when they have at least one active authenticator, and then holds a seat.
 * Factor-specific data (encrypted secrets, public keys) lives in the factor's own table.
 */
export interface AuthenticatorTable {
  id: string;
  /** A firm user's (firm_id and user_id) or a platform operator's (operator_id): exactly one owner (migration 0007). */
  firm_id: string | null;
  user_id: string | null;
  operator_id: string | null;
  kind: AuthenticatorKind;
  label: string;
  status: 'pending' | 'active';
  created_at: number;
  confirmed_at: number | null;
  last_used_at: number | null;
  /** E.164 phone number of the device the authenticator lives on, when the user gave it (reference 1.2). */
  phone_e164: string | null;
}
export type Authenticator = Selectable<AuthenticatorTable>;
export type NewAuthenticator = Insertable<AuthenticatorTable>;
