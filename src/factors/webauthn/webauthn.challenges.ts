import { randomBytes, randomUUID } from 'node:crypto';
import type { AppContext } from '../../context.js';
import type { DbOrTx } from '../../db/database.js';
import type { WebAuthnChallengePurpose, WebAuthnChallengeRow } from './webauthn.table.js';

/** A ceremony must finish within this long of its options (issue 6.3). */
export const CHALLENGE_TTL_MS = 5 * 60_000;
/** 32 random bytes (issue 6.3; the spec asks for at least 16). */
const CHALLENGE_BYTES = 32;

export interface ChallengeBinding {
  /** The login attempt the ceremony belongs to; null only for a passkey sign-in, which has none yet. */
  attemptId: string | null;
  /** The web door's session of that attempt, recorded beside it. */
  sessionId: string | null;
  userId: string | null;
  firmId: string | null;
}

/**
 * Stores a new challenge server-side and returns it (the browser echoes it in clientDataJSON).
 * Challenges past their expiry are deleted on the way: nobody can answer them any more.
 */
export async function issueChallenge(
  ctx: AppContext,
  db: DbOrTx,
  purpose: WebAuthnChallengePurpose,
  binding: ChallengeBinding,
): Promise<{ id: string; challenge: string; bytes: Uint8Array<ArrayBuffer> }> {
  const now = ctx.clock.now();
  await db.deleteFrom('webauthn_challenges').where('expires_at', '<=', now).execute();
  const bytes = randomBytes(CHALLENGE_BYTES);
  const id = randomUUID();
  const challenge = bytes.toString('base64url');
  await db
    .insertInto('webauthn_challenges')
    .values({
      id,
      purpose,
      session_id: binding.sessionId,
      attempt_id: binding.attemptId,
      user_id: binding.userId,
      firm_id: binding.firmId,
      challenge,
      created_at: now,
      expires_at: now + CHALLENGE_TTL_MS,
      used_at: null,
    })
    .execute();
  return { id, challenge, bytes: new Uint8Array(bytes) };
}

/** Which challenge an answer claims: the one of this login attempt with this value, or (passkey) the one with this id. */
export type ChallengeLookup =
  | { purposes: readonly WebAuthnChallengePurpose[]; attemptId: string; challenge: string }
  | { purposes: readonly WebAuthnChallengePurpose[]; id: string; challenge: string };

/** Why a challenge is not live, for the audit log (the answer never says). */
export type ChallengeProblem = 'challenge_unknown' | 'challenge_other_session' | 'challenge_used' | 'challenge_expired';

/**
 * The live challenge an answer claims, or why there is none. Read only: the challenge is
 * consumed by `consumeChallenge`, in the transaction of the success, so a refused answer
 * changes nothing.
 */
export async function findLiveChallenge(
  db: DbOrTx,
  now: number,
  lookup: ChallengeLookup,
): Promise<{ ok: true; row: WebAuthnChallengeRow } | { ok: false; reason: ChallengeProblem }> {
  let q = db.selectFrom('webauthn_challenges').selectAll().where('purpose', 'in', [...lookup.purposes]);
  q = 'id' in lookup ? q.where('id', '=', lookup.id).where('attempt_id', 'is', null) : q.where('challenge', '=', lookup.challenge);
  const rows = await q.execute();
  const row = rows.find((r) => r.challenge === lookup.challenge && ('id' in lookup || r.attempt_id === lookup.attemptId));
  if (!row) {
    // Another attempt's: say "used" when it was (a replay, possibly from the login it finished).
    if (rows.some((r) => r.used_at !== null)) return { ok: false, reason: 'challenge_used' };
    return { ok: false, reason: rows.length > 0 && !('id' in lookup) ? 'challenge_other_session' : 'challenge_unknown' };
  }
  if (row.used_at !== null) return { ok: false, reason: 'challenge_used' };
  if (Number(row.expires_at) <= now) return { ok: false, reason: 'challenge_expired' };
  return { ok: true, row };
}

/**
 * Uses a challenge up, once: ONE conditional UPDATE (unused, unexpired, same attempt)
 * ... RETURNING. Of two requests answering the same challenge at once, one wins.
 */
export async function consumeChallenge(db: DbOrTx, now: number, row: WebAuthnChallengeRow): Promise<boolean> {
  let q = db
    .updateTable('webauthn_challenges')
    .set({ used_at: now })
    .where('id', '=', row.id)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now);
  q = row.attempt_id === null ? q.where('attempt_id', 'is', null) : q.where('attempt_id', '=', row.attempt_id);
  const taken = await q.returning('id').executeTakeFirst();
  return taken !== undefined;
}
