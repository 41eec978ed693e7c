/**
 * The web door's stages of a session: the login decision itself is src/core/decision.ts.
 */
/** What a session may do: 'full' is logged in; the two others are a half-finished login. */
export type SessionStage = 'full' | 'second_factor' | 'enroll';
export const PENDING_STAGES: readonly SessionStage[] = ['second_factor', 'enroll'];
/** A half-finished login expires this long after the password step (issue 4.1). */
export const PENDING_LOGIN_MS = 10 * 60_000;

export type LoginNotice = 'mfa_bypassed_no_seat';
