import type { Insertable, Selectable } from 'kysely';

export type OneTimeTokenPurpose = 'operator_setup' | 'set_password';

/** Setup and set-your-password links. Stored hashed; consumed by one conditional UPDATE. */
export interface OneTimeTokenTable {
  id: string;
  purpose: OneTimeTokenPurpose;
  operator_id: string | null;
  user_id: string | null;
  firm_id: string | null;
  /**
   * The address the link was mailed to (a setup link: the operator's address when issued). The
   * link works only while its account still has this address (migration 0010; null on older
   * links, which therefore match no address and no longer work).
   */
  email: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}
export type OneTimeToken = Selectable<OneTimeTokenTable>;
export type NewOneTimeToken = Insertable<OneTimeTokenTable>;
