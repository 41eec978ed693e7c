import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { AppContext } from '../context.js';
import { clearSessionCookie, setSessionCookie } from '../http/auth.js';
import type { EnrollmentEnd } from './pending-login.js';

const BackupCodes = Type.Union([Type.Array(Type.String()), Type.Null()]);

/**
 * The answer of every enrollment confirmation (authenticator app, security key, Tessera
 * Authenticator): signed in (`home`, a new full session), or, for an enrollment an application's
 * link opened, signed in nowhere (`application`: go back to it and sign in again; the cookie is cleared).
 */
export const EnrollmentConfirmedSchema = Type.Union([
  Type.Object({ next: Type.Literal('home'), backupCodes: BackupCodes }),
  Type.Object({ next: Type.Literal('application'), application: Type.Object({ name: Type.String() }), backupCodes: BackupCodes }),
]);

/** Sets (or clears) the session cookie for how the enrollment ended, and answers it with the first enrollment's backup codes. */
export function answerEnrollment(ctx: AppContext, reply: FastifyReply, end: EnrollmentEnd, backupCodes: string[] | null) {
  if (end.next === 'home') {
    setSessionCookie(ctx, reply, end.token);
    return { next: 'home' as const, backupCodes };
  }
  clearSessionCookie(ctx, reply);
  return { next: 'application' as const, application: end.application, backupCodes };
}
