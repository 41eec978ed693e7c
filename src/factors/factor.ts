import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';

export type LoginMethod = 'totp' | 'backup_code';

/** Whom a factor checks: always one user of one firm. */
export interface FactorUser {
  id: string;
  firm_id: string;
}

export type FactorResult =
  | { ok: true; authenticatorId: string | null }
  /** 'replay': a code that was right once and is already used (RFC 6238 5.2); audited apart. */
  | { ok: false; reason: 'wrong' | 'replay' };

/**
 * Every second factor has this shape and is listed once in registry.ts; the login flow,
 * My security and the enrollment reset only ever go through the list. Adding a factor is
 * adding a folder and one line there.
 */
export interface LoginFactor {
  method: LoginMethod;
  /** Whether this user can answer with this factor now (has an active authenticator, unused codes...). */
  available(db: DbOrTx, user: FactorUser): Promise<boolean>;
  /** Checks an answer and consumes what it uses (time step, code) in one conditional UPDATE. */
  verify(ctx: AppContext, db: DbOrTx, user: FactorUser, code: string): Promise<FactorResult>;
  /** Removes everything of this factor that the user has (enrollment reset, licence recycling). */
  reset(db: DbOrTx, firmId: string, userId: string): Promise<void>;
}
