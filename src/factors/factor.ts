import type { Actor } from '../audit/audit.service.js';
import type { AppContext } from '../context.js';
import type { DbOrTx } from '../db/database.js';
import type { AppError } from '../core/errors.js';
import { sql, type RawBuilder } from 'kysely';

export type LoginMethod = 'push' | 'totp' | 'backup_code' | 'webauthn';

/**
 * Whom a factor checks: a user of one firm, or a platform operator (issue 8.6), who belongs
 * to no firm: `firm_id` null. Authenticators and backup codes carry either user_id and
 * firm_id, or operator_id (migration 0007), so every factor serves both with one code path.
 */
export interface FactorUser {
  id: string;
  firm_id: string | null;
}

export const isOperatorOwner = (owner: FactorUser): owner is FactorUser & { firm_id: null } => owner.firm_id === null;

/** The owner columns of a new `authenticators` or `backup_codes` row. */
export function ownerColumns(owner: FactorUser): { firm_id: string | null; user_id: string | null; operator_id: string | null } {
  return owner.firm_id === null
    ? { firm_id: null, user_id: null, operator_id: owner.id }
    : { firm_id: owner.firm_id, user_id: owner.id, operator_id: null };
}

/** `where` for the rows of this owner in `authenticators` or `backup_codes` (table-qualified, so joins may use it); a user's always within their firm. */
export function ownedBy(table: 'authenticators' | 'backup_codes', owner: FactorUser): RawBuilder<boolean> {
  const col = (name: string) => sql.ref(`${table}.${name}`);
  return owner.firm_id === null
    ? sql<boolean>`${col('operator_id')} = ${owner.id}`
    : sql<boolean>`(${col('user_id')} = ${owner.id} and ${col('firm_id')} = ${owner.firm_id})`;
}

/** Where an answer comes from: the session it belongs to (a WebAuthn challenge is bound to it) and who sends it; needed by factors with challenges. */
export interface FactorAttempt {
  sessionId: string;
  actor: Actor;
}

export type FactorResult =
  | { ok: true; authenticatorId: string | null }
  /**
   * 'replay': a code that was right once and is already used (RFC 6238 5.2); audited apart.
   * Other reasons are factor-specific (a security key's: a used challenge, an unknown key,
   * a counter that went backwards...); `detail` goes to the audit log, never to the answer.
   */
  | { ok: false; reason: string; detail?: string };

/**
 * Every second factor has this shape and is listed once in registry.ts; the login flow,
 * My security and the enrollment reset only ever go through the list. Adding a factor is
 * adding a folder and one line there.
 */
export interface LoginFactor {
  method: LoginMethod;
  /** Whether this user can answer with this factor at `now` (has an active authenticator, unused codes, pushes not paused...). */
  available(db: DbOrTx, user: FactorUser, now?: number): Promise<boolean>;
  /**
   * Checks an answer and consumes what it uses (time step, code, challenge) in one conditional
   * UPDATE. The answer is what the route validated for this factor (a code string, a WebAuthn
   * response); the factor checks its type again and treats anything else as wrong.
   */
  verify(ctx: AppContext, db: DbOrTx, user: FactorUser, answer: unknown, attempt?: FactorAttempt): Promise<FactorResult>;
  /** The answer to a failed attempt, when the factor has its own words (default: "That code is not right."). */
  refusal?(attemptsLeft: number): AppError;
  /** Removes everything of this factor that the user (or operator) has (enrollment reset, licence recycling). */
  reset(db: DbOrTx, owner: FactorUser): Promise<void>;
}
