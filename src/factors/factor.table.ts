import type { Selectable } from 'kysely';

/** The sealed secret of an authenticator-app (TOTP) authenticator. */
export interface TotpAuthenticatorTable {
  authenticator_id: string;
  /** AES-256-GCM sealed base32 secret, bound to the authenticator id (src/crypto/secret-box.ts). */
  secret_enc: string;
  /** The last accepted time step; codes of this step or older are replays. */
  last_step: number | null;
}

/** Single-use recovery codes, as keyed hashes. */
export interface BackupCodeTable {
  id: string;
  /** Like authenticators: a firm user's or a platform operator's. */
  firm_id: string | null;
  user_id: string | null;
  operator_id: string | null;
  code_hash: string;
  key_id: string;
  created_at: number;
  used_at: number | null;
}
export type BackupCode = Selectable<BackupCodeTable>;

/** "Remember this browser": the cookie's token, hashed. */
export interface RememberedBrowserTable {
  id: string;
  firm_id: string;
  user_id: string;
  created_at: number;
  expires_at: number;
  user_agent: string | null;
}
