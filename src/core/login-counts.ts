import type { DbOrTx } from '../db/database.js';

/**
 * Logins per application (issue 15 item 6): one counter row per firm, application and UTC day,
 * incremented by ONE upsert in the transaction of the login it counts, so a login that rolls back
 * is not counted and a count never misses a login that happened; two logins at once both count
 * (the row's update is atomic on both databases).
 *
 * What counts as a login, whatever the door: a firm user let in to Tessera itself or to one of
 * the firm's applications. With a second factor (answered, or enrolled and used at first login);
 * on the no-seat bypass; or on the password alone otherwise (not covered, a remembered browser, a
 * Duo application's user Tessera does not know whom its new user policy allows). Not counted: a
 * step-up in a session already counted, an enrollment that signs in nowhere (Duo's
 * enroll_portal_url), operators' logins, refusals.
 *
 * Where: Tessera's own sign-in (`applicationId` null) when its login completes (password step,
 * passkey, second factor, enrollment); an OpenID Connect application for each authorization
 * answered with a code (a fresh login or single sign-on; src/oidc/provider.ts); a Duo Auth API application for
 * each `allow` it is given (preauth or auth). An OpenID Connect sign-in that needed a fresh login
 * therefore counts once for Tessera's sign-in page and once for the application.
 */

export type CountedLogin = 'second_factor' | 'bypass' | 'password_only';

/** Days since 1970-01-01 UTC. */
export const utcDay = (ms: number) => Math.floor(ms / 86_400_000);

export async function countLogin(db: DbOrTx, login: { firmId: string; applicationId: string | null; at: number; kind: CountedLogin }): Promise<void> {
  const twoFactor = login.kind === 'second_factor' ? 1 : 0;
  const bypass = login.kind === 'bypass' ? 1 : 0;
  await db
    .insertInto('login_counts')
    .values({ firm_id: login.firmId, day: utcDay(login.at), application_key: login.applicationId ?? '', logins: 1, second_factor: twoFactor, bypass })
    .onConflict((oc) =>
      oc.columns(['firm_id', 'day', 'application_key']).doUpdateSet((eb) => ({
        logins: eb('login_counts.logins', '+', 1),
        second_factor: eb('login_counts.second_factor', '+', twoFactor),
        bypass: eb('login_counts.bypass', '+', bypass),
      })),
    )
    .execute();
}

export interface LoginTotals {
  logins: number;
  secondFactor: number;
  bypass: number;
}

/** The firm's counts of the last `days` UTC days (today included), by application key ('' = Tessera's own sign-in). */
export async function loginTotals(db: DbOrTx, firmId: string, now: number, days: number, applicationId?: string): Promise<Map<string, LoginTotals>> {
  let q = db
    .selectFrom('login_counts')
    .select((eb) => ['application_key', eb.fn.sum<number>('logins').as('logins'), eb.fn.sum<number>('second_factor').as('second_factor'), eb.fn.sum<number>('bypass').as('bypass')])
    .where('firm_id', '=', firmId)
    .where('day', '>', utcDay(now) - days);
  if (applicationId !== undefined) q = q.where('application_key', '=', applicationId);
  const rows = await q.groupBy('application_key').execute();
  return new Map(rows.map((r) => [r.application_key, { logins: Number(r.logins), secondFactor: Number(r.second_factor), bypass: Number(r.bypass) }]));
}
