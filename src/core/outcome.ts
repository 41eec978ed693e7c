import type { AppError } from './errors.js';

/** A transaction's outcome: a value, or an error to answer with AFTER the commit (a failed attempt must still be counted). */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: AppError };

export const answer = <T>(outcome: Outcome<T>): T => {
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
};
